import { describe, expect, it } from 'vitest';
import {
  type AcmeDomainState,
  acmeCertificateCondition,
  acmeDefaults,
  acmeFailed,
  acmeIssued,
  acmeNextAction,
  acmeProblemMessage,
  acmeRenewAt,
  acmeServiceHosts,
  parseAcmeDirectory,
  parseAcmeForgetAfter,
  routeCertificateCondition,
} from './acme.ts';

const day = 86_400_000;
const t0 = Date.parse('2026-12-01T00:00:00Z');
const held = (lifeDays: number) => ({ notBefore: t0, notAfter: t0 + lifeDays * day, serial: '01' });

describe('when to order an ACME certificate', () => {
  it.each([
    ['none held: now', { failures: 0 }, t0, { order: true }],
    ['a 90-day certificate: 30 days before expiry', acmeIssued(held(90)), t0, { order: false, at: t0 + 60 * day }],
    ['a 90-day certificate at day 60: now', acmeIssued(held(90)), t0 + 60 * day, { order: true }],
    ['a 6-day certificate: at two thirds of its life', acmeIssued(held(6)), t0, { order: false, at: t0 + 4 * day }],
    ['after a failure: not before retryAt', { failures: 1, retryAt: t0 + 7_000 }, t0, { order: false, at: t0 + 7_000 }],
    ['after a failure, past retryAt: now', { failures: 1, retryAt: t0 + 7_000 }, t0 + 7_000, { order: true }],
    [
      'a failing renewal waits for the backoff, not the renewal date',
      { ...acmeIssued(held(90)), failures: 2, retryAt: t0 + 61 * day },
      t0 + 60 * day,
      { order: false, at: t0 + 61 * day },
    ],
  ] as [string, AcmeDomainState, number, unknown][])('%s', (_name, state, now, want) => {
    expect(acmeNextAction(state, now)).toEqual(want);
  });

  it('renews 30 days before expiry by default', () => {
    expect(acmeDefaults.renewBeforeMs).toBe(30 * day);
    expect(acmeRenewAt(held(90), acmeDefaults.renewBeforeMs)).toBe(t0 + 60 * day);
    // 30 days and 20 s long: due 20 s after issue.
    expect(acmeRenewAt({ notBefore: t0, notAfter: t0 + 30 * day + 20_000 }, acmeDefaults.renewBeforeMs)).toBe(
      t0 + 20_000,
    );
  });
});

describe('after a failed order', () => {
  const challenge = {
    step: 'challenge',
    type: 'urn:ietf:params:acme:error:connection',
    detail: '127.0.0.2: Connection refused',
  };

  it('backs off with the project’s backoff: 5–10 s, then 10–20 s, … up to 3–6 h', () => {
    const low = () => 0;
    const high = () => 0.999999;
    let s: AcmeDomainState = { failures: 0 };
    const delays: [number, number][] = [];
    for (let i = 0; i < 13; i++) {
      const a = acmeFailed(s, challenge, t0, low);
      const b = acmeFailed(s, challenge, t0, high);
      delays.push([(a.retryAt as number) - t0, Math.round(((b.retryAt as number) - t0) / 1000) * 1000]);
      s = a;
    }
    expect(delays.slice(0, 3)).toEqual([
      [5_000, 10_000],
      [10_000, 20_000],
      [20_000, 40_000],
    ]);
    expect(delays[12]).toEqual([3 * 3_600_000, 6 * 3_600_000]);
    expect(s.failures).toBe(13);
  });

  it('waits at least as long as the server’s Retry-After (a rate limit)', () => {
    const limited = acmeFailed(
      { failures: 0 },
      {
        step: 'order',
        type: 'urn:ietf:params:acme:error:rateLimited',
        detail: 'too many certificates',
        retryAfterMs: 3_600_000,
      },
      t0,
      () => 0.5,
    );
    expect(limited.retryAt).toBe(t0 + 3_600_000);
    expect(acmeCertificateCondition(limited, t0)).toEqual({
      kind: 'acme',
      ok: false,
      pending: false,
      reason: 'CertificateProvisionFailed',
      message: 'rate limited by the ACME server: too many certificates; next attempt at 2026-12-01T01:00:00.000Z',
    });
  });

  it('says which step failed and the server’s words', () => {
    expect(acmeProblemMessage(challenge)).toBe(
      'the HTTP-01 challenge failed (connection): 127.0.0.2: Connection refused',
    );
    expect(acmeProblemMessage({ step: 'order', detail: 'getaddrinfo ENOTFOUND acme.example' })).toBe(
      'placing the order failed: getaddrinfo ENOTFOUND acme.example',
    );
  });

  it('keeps serving a held certificate while its renewal fails (True), and clears the failure on success', () => {
    const renewing = acmeFailed(acmeIssued(held(90)), challenge, t0 + 60 * day, () => 0);
    expect(acmeCertificateCondition(renewing, t0 + 60 * day)).toEqual({ kind: 'acme', ok: true });
    expect(acmeCertificateCondition(renewing, t0 + 91 * day)).toMatchObject({
      ok: false,
      reason: 'CertificateProvisionFailed',
    });
    expect(acmeIssued(held(90))).toEqual({ held: held(90), failures: 0 });
  });
});

describe('CertificateProvisioned for an ACME domain', () => {
  it('is Unknown (CertificateNotReady) while the first order runs, saying why a stored one was not used', () => {
    expect(acmeCertificateCondition(undefined, t0)).toMatchObject({
      ok: false,
      pending: true,
      reason: 'CertificateNotReady',
    });
    expect(acmeCertificateCondition({ failures: 0, discarded: 'not a PEM certificate' }, t0)).toMatchObject({
      pending: true,
      message:
        'the certificate is being ordered from the ACME server (the stored one was not used: not a PEM certificate)',
    });
  });

  it('is not True for a certificate not yet valid or expired', () => {
    expect(acmeCertificateCondition(acmeIssued(held(90)), t0 - 1)).toMatchObject({ ok: false });
    expect(acmeCertificateCondition(acmeIssued(held(90)), t0 + 90 * day)).toMatchObject({ ok: false });
  });
});

describe('the ACME directory setting', () => {
  it.each([
    ['https://acme-v02.api.letsencrypt.org/directory', true],
    ['https://127.0.0.1:14000/dir', true],
    ['http://acme.example/dir', false],
    ['acme.example/dir', false],
    ['', false],
  ])('%j: %s', (value, ok) => {
    const parsed = parseAcmeDirectory(value, 'SKIFF_ACME_DIRECTORY');
    expect(parsed.ok).toBe(ok);
    if (!parsed.ok)
      expect(parsed.message).toBe(
        `SKIFF_ACME_DIRECTORY must be an https:// URL (RFC 8555), got ${JSON.stringify(value)}`,
      );
  });
});

describe('service hosts ordered under --acme-service-hosts', () => {
  it('takes public routes’ hosts and tag hosts under the domain, nothing cluster-local or mapped', () => {
    const route = (name: string, visibility: 'public' | 'cluster-local', hosts: string[], tagHosts?: string[]) => ({
      namespace: 'default',
      name,
      visibility,
      hosts,
      traffic: [{ revisionName: `${name}-00001`, percent: 100, ...(tagHosts ? { tag: 'blue', hosts: tagHosts } : {}) }],
    });
    expect(
      acmeServiceHosts(
        [
          route(
            'hello',
            'public',
            ['hello.default.example.com', 'hello.default.svc.cluster.local', 'shop.example.org'],
            ['blue-hello.default.example.com', 'blue-hello.default.svc.cluster.local'],
          ),
          route('inside', 'cluster-local', ['inside.default.svc.cluster.local']),
        ],
        'example.com',
      ),
    ).toEqual(['blue-hello.default.example.com', 'hello.default.example.com']);
  });
});

describe("a Route's CertificateProvisioned for its ACME hosts (Knative's route reconciler)", () => {
  const held = { kind: 'acme', ok: true } as const;
  const ordering = {
    kind: 'acme',
    ok: false,
    pending: true,
    reason: 'CertificateNotReady',
    message: 'ordering',
  } as const;
  const failed = {
    kind: 'acme',
    ok: false,
    pending: false,
    reason: 'CertificateProvisionFailed',
    message: 'rate limited by the ACME server: too many certificates',
  } as const;
  const h = (host: string, certificate: typeof held | typeof ordering | typeof failed) => ({ host, certificate });
  it.each([
    [
      'no public host (cluster-local)',
      [],
      'redirected',
      { status: 'True', reason: 'TLSNotEnabled', message: 'TLS is not enabled for cluster-local' },
    ],
    [
      'every certificate held',
      [h('a.example.com', held), h('t-a.example.com', held)],
      'redirected',
      { status: 'True' },
    ],
    [
      'one still ordered, plain HTTP redirected',
      [h('a.example.com', held), h('t-a.example.com', ordering)],
      'redirected',
      {
        status: 'Unknown',
        reason: 'CertificateNotReady',
        message: 'Certificate for t-a.example.com is not ready: ordering',
      },
    ],
    [
      'a failed order wins over one being ordered',
      [h('a.example.com', ordering), h('t-a.example.com', failed)],
      'disabled',
      {
        status: 'False',
        reason: 'CertificateProvisionFailed',
        message:
          'Certificate for t-a.example.com fails to be provisioned: rate limited by the ACME server: too many certificates',
      },
    ],
    [
      'not ready while plain HTTP is enabled: downgraded',
      [h('a.example.com', held), h('t-a.example.com', failed)],
      'enabled',
      {
        status: 'True',
        reason: 'HTTPDowngrade',
        message:
          'Certificate for t-a.example.com is not ready, so plain HTTP serves it: rate limited by the ACME server: too many certificates',
      },
    ],
  ] as const)('%s', (_name, hosts, http, want) => {
    expect(routeCertificateCondition(hosts, http)).toEqual({ type: 'CertificateProvisioned', ...want });
  });
});

describe('how long a certificate nothing wants is kept (SKIFF_ACME_FORGET_AFTER_SECONDS)', () => {
  it.each([
    [undefined, { ok: true, ms: 3_600_000 }],
    ['', { ok: true, ms: 3_600_000 }],
    ['0', { ok: true, ms: 0 }],
    ['90', { ok: true, ms: 90_000 }],
    ['-1', { ok: false, message: 'X must be a whole number of seconds (0 or more), got "-1"' }],
    ['1h', { ok: false, message: 'X must be a whole number of seconds (0 or more), got "1h"' }],
  ] as const)('%j', (value, want) => {
    expect(parseAcmeForgetAfter(value, 'X')).toEqual(want);
  });
});
