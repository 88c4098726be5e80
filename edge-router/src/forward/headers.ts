/**
 * The headers this hop adds, as pure functions shared by the web-standard app and the Node
 * server: where the request came from (`X-Forwarded-For`, RFC 7239 `Forwarded`), which host and
 * scheme the client used, and the marker the queue-proxy reads to tell held requests apart.
 */

export { clientAddress, forwarded, isHopByHop, xForwardedFor } from '@skiff/shared';

/** Tokens of a `Connection` header, lower case. */
export function connectionTokens(value: string | null | undefined): string[] {
  if (!value) return [];
  const tokens: string[] = [];
  for (const t of value.split(',')) {
    const token = t.trim().toLowerCase();
    if (token) tokens.push(token);
  }
  return tokens;
}

/** Set on requests the router held, so the queue-proxy counts them as proxied (Knative's activator marker). */
export const proxyRequestHeader = 'k-proxy-request';
export const proxyRequestValue = 'activator';
/** Response header naming the revision that answered. */
export const revisionHeader = 'skiff-revision';
/** Request header that picks a tag's revision on the main host, when enabled. */
export const tagHeader = 'skiff-tag';
