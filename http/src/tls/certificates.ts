import {
  createPrivateKey,
  generateKeyPair,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  X509Certificate,
} from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';

/**
 * A local certificate authority and the serving certificates it signs. Node can parse X.509 but not
 * write it, so node-forge builds the certificates; keys come from Node's native RSA generator
 * (forge's own is pure JS and takes seconds).
 */

export interface KeyPair {
  /** PEM certificate. */
  cert: string;
  /** PEM private key (PKCS#1). */
  key: string;
}

const day = 86_400_000;

const rsaOptions = {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
} as const;

function rsaKeys(privateKey = generateKeyPairSync('rsa', rsaOptions).privateKey): {
  publicKey: forge.pki.rsa.PublicKey;
  privateKey: forge.pki.rsa.PrivateKey;
  keyPem: string;
} {
  const key = forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
  const publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  return { publicKey, privateKey: key, keyPem: privateKey };
}

function newCertificate(publicKey: forge.pki.PublicKey, now: Date, days: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // Positive 128-bit serial (a leading 0x00..0x7f byte keeps the DER integer positive).
  cert.serialNumber = `0${randomBytes(16).toString('hex')}`.slice(0, 32);
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + days * day);
  return cert;
}

// @types/node-forge types `valueTagClass` as a tag class; node-forge reads it as the value's ASN.1 type.
const utf8String = forge.asn1.Type.UTF8 as unknown as forge.asn1.Class;

/** A self-signed CA certificate (10 years by default) for signing this installation's servers. */
export function createCa(commonName: string, now = new Date(), days = 3650): KeyPair {
  const { publicKey, privateKey, keyPem } = rsaKeys();
  const cert = newCertificate(publicKey, now, days);
  // UTF8String: node-forge writes PrintableString by default, which cannot hold the '@' of
  // `skiff-ca@<time>`; Chromium (BoringSSL) then rejects the chain as malformed DER.
  const subject = [{ name: 'commonName', value: commonName, valueTagClass: utf8String }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keyPem };
}

/**
 * A serving certificate signed by `ca` for `names` (DNS names and IP addresses, the first also the
 * common name), one year by default.
 */
export function issueServingCertificate(ca: KeyPair, names: string[], now = new Date(), days = 365): KeyPair {
  return signServing(ca, names, now, days, rsaKeys());
}

/**
 * `issueServingCertificate` with the key made off the event loop (a server issuing on demand, such
 * as the router for a new host, must not stall its other connections for the RSA key generation).
 */
export async function issueServingCertificateAsync(
  ca: KeyPair,
  names: string[],
  now = new Date(),
  days = 365,
): Promise<KeyPair> {
  const pem = await new Promise<string>((resolve, reject) =>
    generateKeyPair('rsa', rsaOptions, (error, _pub, privateKey) => (error ? reject(error) : resolve(privateKey))),
  );
  return signServing(ca, names, now, days, rsaKeys(pem));
}

function signServing(
  ca: KeyPair,
  names: string[],
  now: Date,
  days: number,
  { publicKey, keyPem }: ReturnType<typeof rsaKeys>,
): KeyPair {
  if (names.length === 0) throw new Error('a serving certificate needs at least one name');
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);
  const cert = newCertificate(publicKey, now, days);
  cert.setSubject([{ name: 'commonName', value: names[0] as string, valueTagClass: utf8String }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: names.map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n })),
    },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keyPem };
}

/**
 * Whether `certPem` was signed by `caPem`, names every one of `names`, and stays valid for at least
 * `marginDays` more.
 */
export function certificateServes(certPem: string, caPem: string, names: string[], now = new Date(), marginDays = 30) {
  const cert = new X509Certificate(certPem);
  const ca = new X509Certificate(caPem);
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return false;
  if (new Date(cert.validTo).getTime() < now.getTime() + marginDays * day) return false;
  return names.every((n) => (isIP(n) ? cert.checkIP(n) !== undefined : cert.checkHost(n) !== undefined));
}

/** Why a certificate cannot serve a host: a condition's reason, and a message a user can act on. */
export interface CertificateProblem {
  reason: 'CertificateMalformed' | 'KeyMismatch' | 'CertificateNotYetValid' | 'CertificateExpired' | 'HostMismatch';
  message: string;
}

/**
 * Why a certificate and key (PEM, as in a TLS Secret's `tls.crt`/`tls.key`) cannot serve `host`
 * at `now`, or undefined when they can: malformed, key not the certificate's, not yet or no longer
 * valid, or not naming the host (wildcards as RFC 6125). What a user reads on a condition.
 */
export function checkCertificate(
  certPem: string,
  keyPem: string,
  host: string,
  now = new Date(),
): CertificateProblem | undefined {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (e) {
    return {
      reason: 'CertificateMalformed',
      message: `the certificate is not a PEM X.509 certificate (${(e as Error).message})`,
    };
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (e) {
    return {
      reason: 'CertificateMalformed',
      message: `the private key is not a PEM private key (${(e as Error).message})`,
    };
  }
  if (!cert.checkPrivateKey(key))
    return { reason: 'KeyMismatch', message: 'the private key does not belong to the certificate' };
  if (new Date(cert.validFrom).getTime() > now.getTime())
    return { reason: 'CertificateNotYetValid', message: `the certificate is not valid before ${cert.validFrom}` };
  if (new Date(cert.validTo).getTime() <= now.getTime())
    return { reason: 'CertificateExpired', message: `the certificate expired on ${cert.validTo}` };
  // A wildcard entry (`*.example.com`) needs a certificate for some name it covers.
  const probe = host.startsWith('*.') ? `wildcard-check${host.slice(1)}` : host;
  if (cert.checkHost(probe, { wildcards: true }) === undefined) {
    return {
      reason: 'HostMismatch',
      message: `the certificate does not name ${host} (it names ${cert.subjectAltName ?? cert.subject})`,
    };
  }
  return undefined;
}

/** `checkCertificate`'s message alone. */
export function certificateProblem(
  certPem: string,
  keyPem: string,
  host: string,
  now = new Date(),
): string | undefined {
  return checkCertificate(certPem, keyPem, host, now)?.message;
}

/** The DNS names a certificate serves (its subjectAltName DNS entries, wildcards included), lower case. */
export function certificateDnsNames(certPem: string): string[] {
  const san = new X509Certificate(certPem).subjectAltName ?? '';
  return san
    .split(', ')
    .filter((n) => n.startsWith('DNS:'))
    .map((n) => n.slice(4).toLowerCase());
}
