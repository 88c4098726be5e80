import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadStoreKey, seal, unseal } from './seal.ts';

describe('sealing ACME keys at rest', () => {
  const key = randomBytes(32);

  it('opens what it sealed, for the same row only', () => {
    const sealed = seal(key, '-----BEGIN PRIVATE KEY-----', 'acme-certificate\nshop.example.test');
    expect(sealed).toMatch(/^v1\./);
    expect(sealed).not.toContain('PRIVATE');
    expect(unseal(key, sealed, 'acme-certificate\nshop.example.test')).toBe('-----BEGIN PRIVATE KEY-----');
    // The same plaintext seals differently every time (a fresh IV).
    expect(seal(key, 'x', 'a')).not.toBe(seal(key, 'x', 'a'));
    expect(() => unseal(key, sealed, 'acme-certificate\nother.example.test')).toThrow(
      /does not open with the store key/,
    );
  });

  it('refuses another key, an altered value and a value never sealed', () => {
    const sealed = seal(key, 'secret', 'row');
    expect(() => unseal(randomBytes(32), sealed, 'row')).toThrow(/does not open/);
    const raw = Buffer.from(sealed.slice(3), 'base64');
    raw.writeUInt8(raw.readUInt8(raw.length - 1) ^ 1, raw.length - 1);
    expect(() => unseal(key, `v1.${raw.toString('base64')}`, 'row')).toThrow(/does not open/);
    expect(() => unseal(key, 'secret', 'row')).toThrow('not a sealed value (no v1. prefix)');
    expect(() => unseal(key, 'v1.AAAA', 'row')).toThrow('sealed value too short');
  });

  it('makes the store key once, 0600, and reads it back; a bad or missing given key is an error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-seal-'));
    const file = join(dir, 'acme-store.key');
    const made = loadStoreKey(file, true);
    expect(made.length).toBe(32);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(loadStoreKey(file, true).equals(made)).toBe(true);
    expect(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64').equals(made)).toBe(true);
    expect(() => loadStoreKey(join(dir, 'secret/key'), false)).toThrow(
      `ACME store key ${join(dir, 'secret/key')}: not found`,
    );
    writeFileSync(join(dir, 'short'), 'c2hvcnQ=');
    expect(() => loadStoreKey(join(dir, 'short'), false)).toThrow('want 32 bytes in base64, found 5');
  });
});
