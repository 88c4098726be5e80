import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';

/**
 * Sealing for secrets at rest in the store (ACME account and certificate keys): AES-256-GCM with
 * a 32-byte key kept outside the database, in the data dir (0600) or, on Kubernetes, a mounted
 * Secret. A sealed value is `v1.<base64 iv|tag|ciphertext>`; the row's identity (domain,
 * directory) is the additional data, so a sealed value copied onto another row does not open.
 */
const version = 'v1.';

/** The store key from `file`: made (32 random bytes, base64, 0600) when missing and `create` allows. */
export function loadStoreKey(file: string, create: boolean): Buffer {
  if (!existsSync(file)) {
    if (!create) throw new Error(`ACME store key ${file}: not found`);
    writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  }
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new Error(`ACME store key ${file}: want 32 bytes in base64, found ${key.length}`);
  if (create) chmodSync(file, 0o600);
  return key;
}

export function seal(key: Buffer, plaintext: string, aad: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return version + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
}

/** The plaintext, or an Error saying why not (another key, altered, not sealed at all). */
export function unseal(key: Buffer, sealed: string, aad: string): string {
  if (!sealed.startsWith(version)) throw new Error('not a sealed value (no v1. prefix)');
  const raw = Buffer.from(sealed.slice(version.length), 'base64');
  if (raw.length < 28) throw new Error('sealed value too short');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(raw.subarray(12, 28));
  try {
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    throw new Error('sealed value does not open with the store key (another key, or altered)');
  }
}
