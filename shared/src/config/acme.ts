import type { DomainCertificate } from '../validation/domain-mapping.ts';
import type { SnapshotRoute } from '../wire/routing.ts';
import { type Backoff, backoffDelay } from './backoff.ts';
import type { HttpProtocol } from './network.ts';

const day = 86_400_000;

/** How Skiff keeps ACME certificates (RFC 8555), one place for its numbers. */
export const acmeDefaults = {
  /** Renew this long before expiry (Let's Encrypt's advice for its 90-day certificates). */
  renewBeforeMs: 30 * day,
  /**
   * After a failed order: 5–10 s, doubling to 3–6 h. Let's Encrypt allows 5 failed validations
   * per hostname an hour; past that it answers `rateLimited` with a Retry-After, which wins.
   */
  backoff: { initialMs: 10_000, maxMs: 6 * 3_600_000 } satisfies Backoff,
  /**
   * A certificate no DomainMapping or service host wants is deleted (with its key) after this
   * long: a mapping deleted and made again soon, or hosts not yet known at a start, find it still.
   */
  forgetUnwantedMs: 3_600_000,
};

/** What the control plane knows of one domain's ACME certificate. */
export interface AcmeDomainState {
  /** The certificate held (stored, readable, for this domain): its validity, ms since the epoch. */
  held?: { notBefore: number; notAfter: number; serial: string };
  /** Failed orders in a row (0 after a success). */
  failures: number;
  /** No new order before this time (backoff, or the server's Retry-After). */
  retryAt?: number;
  /** Why the last order failed (until one succeeds). */
  lastError?: { reason: string; message: string };
  /** Why a stored certificate was not used (unreadable, not this domain's, expired). */
  discarded?: string;
}

/** An ACME server's problem document (RFC 8555 §6.7), or a failure before one arrived. */
export interface AcmeProblem {
  /** `urn:ietf:params:acme:error:<type>`, when the server sent one. */
  type?: string;
  detail: string;
  /** What the client was doing: `account`, `order`, `challenge`, `finalize`, `download`. */
  step: string;
  /** From the answer's Retry-After. */
  retryAfterMs?: number;
}

/**
 * When to renew: `renewBeforeMs` before expiry; a certificate shorter-lived than that (Let's
 * Encrypt's 6-day ones) at two thirds of its life.
 */
export function acmeRenewAt(held: { notBefore: number; notAfter: number }, renewBeforeMs: number): number {
  const at = held.notAfter - renewBeforeMs;
  return at > held.notBefore ? at : held.notBefore + ((held.notAfter - held.notBefore) * 2) / 3;
}

/** Whether to order a certificate now, or when to look again. */
export function acmeNextAction(
  state: AcmeDomainState,
  now: number,
  renewBeforeMs = acmeDefaults.renewBeforeMs,
): { order: true } | { order: false; at: number } {
  const due = state.held ? acmeRenewAt(state.held, renewBeforeMs) : now;
  const at = Math.max(due, state.retryAt ?? 0);
  return at <= now ? { order: true } : { order: false, at };
}

/** The state after a successful order. */
export function acmeIssued(held: NonNullable<AcmeDomainState['held']>): AcmeDomainState {
  return { held, failures: 0 };
}

/**
 * The state after a failed order: the next attempt after the project's backoff, or later when
 * the server asked for it (Retry-After, as a rate limit sends).
 */
export function acmeFailed(
  state: AcmeDomainState,
  problem: AcmeProblem,
  now: number,
  random: () => number,
  backoff: Backoff = acmeDefaults.backoff,
): AcmeDomainState {
  const failures = state.failures + 1;
  const retryAt = now + Math.max(backoffDelay(failures - 1, backoff, random), problem.retryAfterMs ?? 0);
  const { discarded: _, ...rest } = state;
  return {
    ...rest,
    failures,
    retryAt,
    lastError: { reason: 'CertificateProvisionFailed', message: acmeProblemMessage(problem) },
  };
}

const steps: Record<string, string> = {
  account: 'registering the ACME account',
  order: 'placing the order',
  challenge: 'the HTTP-01 challenge',
  finalize: 'finalizing the order',
  download: 'downloading the certificate',
};

/** What a user reads about a failed order: the server's words, and which step failed. */
export function acmeProblemMessage(problem: AcmeProblem): string {
  const type = problem.type?.replace('urn:ietf:params:acme:error:', '');
  const what =
    type === 'rateLimited'
      ? 'rate limited by the ACME server'
      : `${steps[problem.step] ?? problem.step} failed${type ? ` (${type})` : ''}`;
  return `${what}: ${problem.detail}`;
}

/**
 * `CertificateProvisioned` for a domain whose certificate comes from ACME: True while a valid one
 * is held (a failing renewal keeps serving it), else False with the last failure and when the
 * next attempt is, else Unknown while the first order runs (Knative's `CertificateNotReady`).
 */
export function acmeCertificateCondition(state: AcmeDomainState | undefined, now: number): DomainCertificate {
  if (state?.held && state.held.notAfter > now && state.held.notBefore <= now) return { kind: 'acme', ok: true };
  if (state?.lastError) {
    const next = state.retryAt === undefined ? '' : `; next attempt at ${new Date(state.retryAt).toISOString()}`;
    return {
      kind: 'acme',
      ok: false,
      pending: false,
      reason: state.lastError.reason,
      message: `${state.lastError.message}${next}`,
    };
  }
  return {
    kind: 'acme',
    ok: false,
    pending: true,
    reason: 'CertificateNotReady',
    message: `the certificate is being ordered from the ACME server${state?.discarded ? ` (the stored one was not used: ${state.discarded})` : ''}`,
  };
}

/** An ACME directory URL as configured (`--acme-directory`, `SKIFF_ACME_DIRECTORY`): https only (RFC 8555 §6.1). */
export function parseAcmeDirectory(
  value: string,
  where: string,
): { ok: true; value: string } | { ok: false; message: string } {
  const refused = {
    ok: false as const,
    message: `${where} must be an https:// URL (RFC 8555), got ${JSON.stringify(value)}`,
  };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return refused; // not a URL at all: the same answer
  }
  return url.protocol === 'https:' ? { ok: true, value } : refused;
}

/**
 * How long an unwanted certificate is kept, from `SKIFF_ACME_FORGET_AFTER_SECONDS` (`where` names
 * it): whole seconds, 0 or more; the default when unset or empty.
 */
export function parseAcmeForgetAfter(
  value: string | undefined,
  where: string,
): { ok: true; ms: number } | { ok: false; message: string } {
  if (value === undefined || value === '') return { ok: true, ms: acmeDefaults.forgetUnwantedMs };
  if (!/^\d{1,9}$/.test(value)) {
    return {
      ok: false,
      message: `${where} must be a whole number of seconds (0 or more), got ${JSON.stringify(value)}`,
    };
  }
  return { ok: true, ms: Number(value) * 1000 };
}

/**
 * The hosts a platform configured for ACME on service hosts orders certificates for: each public
 * route's hosts and its tags' hosts under the platform's domain (not cluster-local names, not
 * mapped domains, which their DomainMappings order).
 */
export function acmeServiceHosts(routes: readonly SnapshotRoute[], domain: string): string[] {
  const suffix = `.${domain.toLowerCase()}`;
  const out = new Set<string>();
  for (const route of routes) {
    if (route.visibility !== 'public') continue;
    for (const host of [...route.hosts, ...route.traffic.flatMap((t) => t.hosts ?? [])]) {
      if (host.endsWith(suffix)) out.add(host);
    }
  }
  return [...out].sort();
}

/** A decided condition (before its transition time is stamped). */
export interface RouteCertificateCondition {
  type: 'CertificateProvisioned';
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
}

/**
 * A Route's `CertificateProvisioned` when its public hosts get ACME certificates, as Knative's
 * route reconciler sets it (`externalDomainTLS`): True once every host's certificate is held; for
 * a host whose certificate is not, `HTTPDowngrade` (True) where the platform serves plain HTTP
 * (`http-protocol: enabled`, the platform's setting, not a Service's annotation, as Knative),
 * else `CertificateProvisionFailed` (False) after a failed order or `CertificateNotReady`
 * (Unknown) while one runs; `TLSNotEnabled` (True) for a route without a public host. The first
 * False, then the first Unknown, then the first downgrade speaks for the route.
 */
export function routeCertificateCondition(
  hosts: readonly { host: string; certificate: DomainCertificate }[],
  platformHttpProtocol: HttpProtocol,
): RouteCertificateCondition {
  const type = 'CertificateProvisioned' as const;
  if (hosts.length === 0)
    return { type, status: 'True', reason: 'TLSNotEnabled', message: 'TLS is not enabled for cluster-local' };
  const decided = hosts.map(({ host, certificate: c }): RouteCertificateCondition => {
    if (c.kind !== 'acme' || c.ok) return { type, status: 'True' };
    if (platformHttpProtocol === 'enabled') {
      return {
        type,
        status: 'True',
        reason: 'HTTPDowngrade',
        message: `Certificate for ${host} is not ready, so plain HTTP serves it: ${c.message}`,
      };
    }
    return c.pending
      ? {
          type,
          status: 'Unknown',
          reason: 'CertificateNotReady',
          message: `Certificate for ${host} is not ready: ${c.message}`,
        }
      : {
          type,
          status: 'False',
          reason: 'CertificateProvisionFailed',
          message: `Certificate for ${host} fails to be provisioned: ${c.message}`,
        };
  });
  return (
    decided.find((d) => d.status === 'False') ??
    decided.find((d) => d.status === 'Unknown') ??
    decided.find((d) => d.reason === 'HTTPDowngrade') ?? { type, status: 'True' }
  );
}
