/**
 * Whether a presented bearer token equals the expected one, in time that depends only on the
 * expected token's length (no early exit), so a caller cannot guess it byte by byte. Plain
 * JavaScript: it runs in every runtime the shared package does.
 */
export function tokensEqual(presented: string, expected: string): boolean {
  let diff = presented.length ^ expected.length;
  // charCodeAt past the end is NaN, and NaN | 0 is 0: a shorter token still walks every byte.
  for (let i = 0; i < expected.length; i++) diff |= (presented.charCodeAt(i) | 0) ^ expected.charCodeAt(i);
  return diff === 0;
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  return /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
}
