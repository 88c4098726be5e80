import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * A token from the environment, else the one kept in `file`, else a new one written there with
 * mode 0600 so only the owner can read it.
 */
export function loadToken(fromEnv: string | undefined, file: string): string {
  if (fromEnv) return fromEnv;
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    if (token) return token;
  }
  const token = randomBytes(24).toString('base64url');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return token;
}

/** Digests of the expected tokens (a control plane has two), made once rather than per request. */
const expectedDigests = new Map<string, Buffer>();

/** Compares a presented token in constant time (digests first, so lengths leak nothing either). */
export function tokenMatches(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  const a = createHash('sha256').update(presented).digest();
  let b = expectedDigests.get(expected);
  if (!b) {
    b = createHash('sha256').update(expected).digest();
    if (expectedDigests.size > 16) expectedDigests.clear();
    expectedDigests.set(expected, b);
  }
  return timingSafeEqual(a, b);
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}
