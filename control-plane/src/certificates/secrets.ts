import { certificateDnsNames, checkCertificate } from '@skiff/http/tls/certificates';
import type { DomainCertificate, SnapshotCertificate } from '@skiff/shared';

// Kubernetes TLS Secrets as a certificate source, decided purely: which certificate a
// DomainMapping gets from the Secret it names (`spec.tls.secretName`, as Knative) or from the
// platform's default wildcard Secret, and why not when it cannot be served. The Secrets themselves
// are read by the Kubernetes side (`backends/kubernetes/tls-secrets.ts`).

/** A Kubernetes Secret's `tls.crt` and `tls.key`, decoded (either may be missing). */
export interface TlsSecretData {
  cert?: string | undefined;
  key?: string | undefined;
}

/** A Secret looked up: where it was looked for, and its data when there is one of type kubernetes.io/tls. */
export interface FoundSecret {
  namespace: string;
  name: string;
  data: TlsSecretData | undefined;
}

/** Where the control plane reads TLS Secrets (the Kubernetes backend). */
export interface TlsSecretSource {
  /** The Secret `name` a DomainMapping in Skiff namespace `namespace` names. */
  secret(namespace: string, name: string): FoundSecret;
  /** The platform's default (wildcard) Secret, when one is configured. */
  defaultSecret(): FoundSecret | undefined;
  /** Calls `listener` whenever a TLS Secret is added, changed or deleted. */
  onChange(listener: () => void): void;
}

const show = (s: FoundSecret) => `Secret ${JSON.stringify(s.name)} in namespace ${JSON.stringify(s.namespace)}`;

type Usable = { ok: true; cert: string; key: string } | { ok: false; reason: string; message: string };

function usable(s: FoundSecret): Usable {
  if (s.data === undefined) {
    return {
      ok: false,
      reason: 'SecretNotFound',
      message: `${show(s)} not found (it must exist and be of type kubernetes.io/tls)`,
    };
  }
  const missing = (['cert', 'key'] as const)
    .filter((k) => !s.data?.[k])
    .map((k) => (k === 'cert' ? 'tls.crt' : 'tls.key'));
  if (missing.length > 0) {
    return { ok: false, reason: 'SecretMalformed', message: `${show(s)} has no ${missing.join(' and no ')}` };
  }
  return { ok: true, cert: s.data.cert as string, key: s.data.key as string };
}

/**
 * A DomainMapping's certificate from the Secret its `spec.tls.secretName` names: served for the
 * domain when the Secret holds a valid certificate for it with its key; otherwise
 * `CertificateProvisioned` is False with the reason (`SecretNotFound`, `SecretMalformed`,
 * `CertificateMalformed`, `KeyMismatch`, `CertificateExpired`, `CertificateNotYetValid`,
 * `HostMismatch`) and nothing is served.
 */
export function mappingCertificate(
  domain: string,
  secret: FoundSecret,
  now: Date,
): { certificate: DomainCertificate; served?: SnapshotCertificate } {
  const u = usable(secret);
  if (!u.ok) return { certificate: { kind: 'secret', ok: false, reason: u.reason, message: u.message } };
  const problem = checkCertificate(u.cert, u.key, domain, now);
  if (problem !== undefined) {
    return {
      certificate: {
        kind: 'secret',
        ok: false,
        reason: problem.reason,
        message: `${show(secret)}: ${problem.message}`,
      },
    };
  }
  return {
    certificate: { kind: 'secret', ok: true },
    served: { hosts: [domain.toLowerCase()], cert: u.cert, key: u.key },
  };
}

/**
 * The platform's default wildcard Secret: served for every DNS name its certificate carries (e.g.
 * `*.default.example.com`, so every Service of that namespace), unless it cannot be served at all
 * (then `problem` says why, for the log). `covers(domain)` tells whether it serves a mapped domain.
 */
export function defaultCertificate(
  secret: FoundSecret,
  now: Date,
): { served?: SnapshotCertificate; problem?: string; covers(domain: string): boolean } {
  const none = { covers: () => false };
  const u = usable(secret);
  if (!u.ok) return { ...none, problem: `default TLS ${u.message}` };
  let hosts: string[];
  try {
    hosts = certificateDnsNames(u.cert);
  } catch (e) {
    return {
      ...none,
      problem: `default TLS ${show(secret)}: the certificate is not a PEM X.509 certificate (${(e as Error).message})`,
    };
  }
  const problems = hosts.map((h) => checkCertificate(u.cert, u.key, h, now)).filter((p) => p !== undefined);
  if (hosts.length === 0 || problems.length > 0) {
    const why = problems[0]?.message ?? 'the certificate names no DNS host (subjectAltName)';
    return { ...none, problem: `default TLS ${show(secret)}: ${why}` };
  }
  return {
    served: { hosts, cert: u.cert, key: u.key },
    covers: (domain) => checkCertificate(u.cert, u.key, domain, now) === undefined,
  };
}
