import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, issueServingCertificate } from '@skiff/http/tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../store/store.ts';
import { AcmeCertificates } from './certificates.ts';

// The ACME certificate manager over a real store (SQLite in a file): what it keeps for domains no
// DomainMapping or service host wants any more. Orders are answered by a local CA (real
// certificates; the ACME protocol itself is tested against pebble in test/platform/acme.test.ts).
describe('ACME certificates nothing wants any more', () => {
  const ca = createCa('acme-test-ca');
  const storeKey = randomBytes(32);
  let dir: string;
  let store: Store;
  let ordered: string[];
  let logs: string[];
  const manager = (forgetAfterMs: number) =>
    new AcmeCertificates({
      store,
      directoryUrl: 'https://acme.test/dir',
      storeKey,
      order: async (domain) => {
        ordered.push(domain);
        return issueServingCertificate(ca, [domain]);
      },
      changed: () => {},
      forgetAfterMs,
      log: (m) => logs.push(m),
    });
  const rows = () => store.listAcmeCertificates().map((r) => r.domain);
  const until = async (what: string, check: () => boolean) => {
    const deadline = Date.now() + 10_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'skiff-acme-certs-'));
    store = new Store(join(dir, 'skiff.db'));
    ordered = [];
    logs = [];
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('deletes the certificate and key of a domain no longer wanted once the grace period passes, and keeps the rest', async () => {
    const m = manager(300);
    m.want(['shop.example.test', 'gone.example.test']);
    await until('both issued', () => rows().length === 2);
    expect((m.tls().certificates ?? []).map((c) => c.hosts.join())).toEqual(['gone.example.test', 'shop.example.test']);

    m.want(['shop.example.test']);
    // Not served from the moment it is unwanted; kept in the store for the grace period.
    expect((m.tls().certificates ?? []).map((c) => c.hosts.join())).toEqual(['shop.example.test']);
    expect(rows()).toEqual(['gone.example.test', 'shop.example.test']);
    await until('the unwanted one deleted', () => rows().length === 1);
    expect(rows()).toEqual(['shop.example.test']);
    expect(logs.join('\n')).toMatch(/acme: deleted the certificate for gone\.example\.test/);
    // Nothing of it left in memory either: wanted again, it is ordered again.
    expect(m.certificate('gone.example.test')).toMatchObject({ ok: false, pending: true });
    m.want(['shop.example.test', 'gone.example.test']);
    await until('ordered again', () => rows().length === 2);
    expect(ordered).toEqual(['gone.example.test', 'shop.example.test', 'gone.example.test']);
    m.stop();
  });

  it('keeps a certificate wanted again within the grace period (a mapping deleted and made again) without ordering it again', async () => {
    const m = manager(60_000);
    m.want(['shop.example.test']);
    await until('issued', () => rows().length === 1);
    m.want([]);
    m.want(['shop.example.test']);
    await new Promise((r) => setTimeout(r, 100));
    expect(ordered).toEqual(['shop.example.test']);
    expect(m.certificate('shop.example.test')).toEqual({ kind: 'acme', ok: true });
    m.stop();
  });

  it('deletes stored certificates a restart finds unwanted, after the grace period (hosts may be told late)', async () => {
    const first = manager(60_000);
    first.want(['shop.example.test', 'gone.example.test']);
    await until('both issued', () => rows().length === 2);
    first.stop();

    const restarted = manager(300);
    restarted.want(['shop.example.test']);
    await until('the unwanted one deleted', () => rows().length === 1);
    expect(rows()).toEqual(['shop.example.test']);
    expect(ordered).toHaveLength(2);
    restarted.stop();
  });
});
