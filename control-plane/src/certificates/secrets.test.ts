import { createCa, issueServingCertificate } from '@skiff/http/tls';
import { describe, expect, it } from 'vitest';
import { defaultCertificate, type FoundSecret, mappingCertificate } from './secrets.ts';

const day = 86_400_000;
const now = new Date();
const ca = createCa('skiff-test-secrets');
const shop = issueServingCertificate(ca, ['shop.example.com']);
const other = issueServingCertificate(ca, ['other.example.com']);
const wildcard = issueServingCertificate(ca, ['*.default.example.com', '*.apps.example.com']);
const found = (data: FoundSecret['data']): FoundSecret => ({ namespace: 'skiff', name: 'shop-tls', data });

describe('mappingCertificate: a DomainMapping’s TLS Secret', () => {
  it('serves a valid certificate for the domain, with its key, for that domain only', () => {
    expect(mappingCertificate('shop.example.com', found(shop), now)).toEqual({
      certificate: { kind: 'secret', ok: true },
      served: { hosts: ['shop.example.com'], cert: shop.cert, key: shop.key },
    });
  });

  it.each([
    [
      'no Secret',
      undefined,
      'SecretNotFound',
      'Secret "shop-tls" in namespace "skiff" not found (it must exist and be of type kubernetes.io/tls)',
    ],
    ['no tls.key', { cert: shop.cert }, 'SecretMalformed', 'Secret "shop-tls" in namespace "skiff" has no tls.key'],
    ['neither key', {}, 'SecretMalformed', 'Secret "shop-tls" in namespace "skiff" has no tls.crt and no tls.key'],
    [
      'garbage',
      { cert: 'garbage', key: shop.key },
      'CertificateMalformed',
      'the certificate is not a PEM X.509 certificate',
    ],
    [
      'a bad key',
      { cert: shop.cert, key: 'garbage' },
      'CertificateMalformed',
      'the private key is not a PEM private key',
    ],
    [
      'another’s key',
      { cert: shop.cert, key: other.key },
      'KeyMismatch',
      'the private key does not belong to the certificate',
    ],
    ['another host', other, 'HostMismatch', 'does not name shop.example.com (it names DNS:other.example.com)'],
    [
      'an expired one',
      issueServingCertificate(ca, ['shop.example.com'], new Date(now.getTime() - 10 * day), 2),
      'CertificateExpired',
      'the certificate expired on',
    ],
    [
      'one not yet valid',
      issueServingCertificate(ca, ['shop.example.com'], new Date(now.getTime() + 2 * day)),
      'CertificateNotYetValid',
      'the certificate is not valid before',
    ],
  ])('refuses %s: CertificateProvisioned False, %s, nothing served', (_, data, reason, message) => {
    const out = mappingCertificate('shop.example.com', found(data), now);
    expect(out.served).toBeUndefined();
    expect(out.certificate).toMatchObject({ kind: 'secret', ok: false, reason });
    expect((out.certificate as { message: string }).message).toContain(message);
  });
});

describe('defaultCertificate: the platform’s default wildcard Secret', () => {
  it('serves every DNS name it carries and covers the domains they match (one label deep)', () => {
    const d = defaultCertificate(found(wildcard), now);
    expect(d.problem).toBeUndefined();
    expect(d.served?.hosts).toEqual(['*.default.example.com', '*.apps.example.com']);
    expect(d.covers('hello.default.example.com')).toBe(true);
    expect(d.covers('www.apps.example.com')).toBe(true);
    expect(d.covers('a.b.apps.example.com')).toBe(false);
    expect(d.covers('shop.example.org')).toBe(false);
  });

  it.each([
    ['missing', undefined, 'not found'],
    [
      'expired',
      issueServingCertificate(ca, ['*.default.example.com'], new Date(now.getTime() - 10 * day), 2),
      'expired',
    ],
    ['malformed', { cert: 'x', key: 'y' }, 'not a PEM X.509 certificate'],
  ])('serves nothing when %s, and says why', (_, data, why) => {
    const d = defaultCertificate(found(data), now);
    expect(d.served).toBeUndefined();
    expect(d.covers('hello.default.example.com')).toBe(false);
    expect(d.problem).toContain(why);
  });
});
