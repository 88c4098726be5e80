import { createPrivateKey, X509Certificate } from 'node:crypto';
import {
  type AcmeDomainState,
  acmeCertificateCondition,
  acmeDefaults,
  acmeFailed,
  acmeIssued,
  acmeNextAction,
  type Backoff,
  type DomainCertificate,
  type RoutingTls,
  type SnapshotCertificate,
} from '@skiff/shared';
import type { Store } from '../store/store.ts';
import { AcmeError, type ChallengeBoard } from './client.ts';
import { seal, unseal } from './seal.ts';

export interface AcmeCertificatesOptions {
  store: Store;
  /** Orders one certificate (the ACME client; its HTTP-01 answers go on the board). */
  order(domain: string, board: ChallengeBoard): Promise<{ cert: string; key: string }>;
  directoryUrl: string;
  /** The store key (`seal.ts`). */
  storeKey: Buffer;
  /** Certificates or challenges changed: republish the routing snapshot and the mappings' status. */
  changed(): void;
  /** Resolves once the router answers the challenge (so the server never asks before it does). */
  challengeServed?(domain: string, token: string, keyAuthorization: string): Promise<void>;
  renewBeforeMs?: number;
  /** How long a certificate no domain wants is kept before it is deleted (`acmeDefaults.forgetUnwantedMs`). */
  forgetAfterMs?: number;
  backoff?: Backoff;
  now?: () => number;
  random?: () => number;
  log(message: string): void;
}

interface Held {
  cert: string;
  key: string;
}

/** Why `cert`/`key` cannot be served for `domain` at `now`, or undefined when they can. */
function certificateProblem(domain: string, held: Held, now: number): string | undefined {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(held.cert);
  } catch (e) {
    return `not a PEM certificate (${e instanceof Error ? e.message : String(e)})`;
  }
  if (x509.checkHost(domain) === undefined) return `the certificate does not name ${domain} (${x509.subjectAltName})`;
  try {
    if (!x509.checkPrivateKey(createPrivateKey(held.key))) return 'the key is not the certificate’s';
  } catch (e) {
    return `not a PEM private key (${e instanceof Error ? e.message : String(e)})`;
  }
  if (Date.parse(x509.validTo) <= now) return `expired at ${new Date(x509.validTo).toISOString()}`;
  return undefined;
}

function validity(cert: string): { notBefore: number; notAfter: number; serial: string } {
  const x509 = new X509Certificate(cert);
  return { notBefore: Date.parse(x509.validFrom), notAfter: Date.parse(x509.validTo), serial: x509.serialNumber };
}

/**
 * ACME certificates for the domains that want one: loaded (unsealed, checked) from the store at
 * start, ordered when missing or due for renewal (`acmeNextAction`), one order at a time, retried
 * with backoff; their HTTP-01 answers and the certificates held go to the router in the routing
 * snapshot (`tls()`), their state to DomainMappings' `CertificateProvisioned` (`certificate()`).
 */
export class AcmeCertificates {
  #o: AcmeCertificatesOptions;
  #states = new Map<string, AcmeDomainState>();
  #held = new Map<string, Held>();
  #challenges = new Map<string, string>();
  #wanted = new Set<string>();
  /** Domains with a certificate or an order's state that no domain wants now, and since when. */
  #unwanted = new Map<string, number>();
  #running = false;
  #again = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #now: () => number;

  constructor(o: AcmeCertificatesOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#load();
  }

  #aad(domain: string): string {
    return `acme-certificate\n${domain}\n${this.#o.directoryUrl}`;
  }

  #load(): void {
    for (const row of this.#o.store.listAcmeCertificates()) {
      let problem: string | undefined;
      let held: Held | undefined;
      if (row.directory !== this.#o.directoryUrl) problem = `issued by another ACME directory (${row.directory})`;
      else {
        try {
          held = JSON.parse(unseal(this.#o.storeKey, row.sealed, this.#aad(row.domain))) as Held;
          problem = certificateProblem(row.domain, held, this.#now());
        } catch (e) {
          problem = e instanceof Error ? e.message : String(e);
        }
      }
      if (problem !== undefined || held === undefined) {
        this.#o.log(`acme: the stored certificate for ${row.domain} is not used: ${problem}; ordering a new one`);
        this.#states.set(row.domain, { failures: 0, discarded: problem ?? 'unreadable' });
        continue;
      }
      this.#held.set(row.domain, held);
      this.#states.set(row.domain, acmeIssued(validity(held.cert)));
    }
    // Unwanted until the reconciler says otherwise (it does within the start's first rebuild).
    for (const domain of this.#states.keys()) this.#unwanted.set(domain, this.#now());
  }

  /** The domains that want a certificate now (DomainMappings that hold their domain; service hosts if asked). */
  want(domains: Iterable<string>): void {
    const next = new Set(domains);
    const same = next.size === this.#wanted.size && [...next].every((d) => this.#wanted.has(d));
    if (same) return;
    this.#wanted = next;
    const now = this.#now();
    for (const domain of this.#states.keys()) {
      if (next.has(domain)) this.#unwanted.delete(domain);
      else if (!this.#unwanted.has(domain)) this.#unwanted.set(domain, now);
    }
    this.#kick();
  }

  /** What `CertificateProvisioned` says for `domain`. */
  certificate(domain: string): DomainCertificate {
    return acmeCertificateCondition(this.#states.get(domain), this.#now());
  }

  /** The serial of the certificate held for `domain` (hex), if any. */
  serial(domain: string): string | undefined {
    return this.#states.get(domain)?.held?.serial;
  }

  /** What the router serves: the certificates held for wanted domains, and open challenges. */
  tls(): RoutingTls {
    const certificates: SnapshotCertificate[] = [];
    for (const domain of [...this.#wanted].sort()) {
      const held = this.#held.get(domain);
      if (held) certificates.push({ hosts: [domain], cert: held.cert, key: held.key });
    }
    const challenges = [...this.#challenges].map(([token, keyAuthorization]) => ({ token, keyAuthorization }));
    return { certificates, challenges };
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  #kick(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#run(), 0);
    this.#timer.unref();
  }

  async #run(): Promise<void> {
    this.#running = true;
    this.#timer = undefined;
    let next = Number.POSITIVE_INFINITY;
    try {
      for (const domain of [...this.#wanted].sort()) {
        if (this.#stopped) return;
        const state = this.#states.get(domain) ?? { failures: 0 };
        const action = acmeNextAction(state, this.#now(), this.#o.renewBeforeMs ?? acmeDefaults.renewBeforeMs);
        if (action.order) await this.#order(domain, state);
        const after = acmeNextAction(this.#states.get(domain) ?? state, this.#now(), this.#o.renewBeforeMs);
        if (!after.order) next = Math.min(next, after.at);
        else next = this.#now();
      }
      next = Math.min(next, this.#forget());
    } finally {
      this.#running = false;
      if (this.#again) {
        this.#again = false;
        this.#kick();
      } else if (!this.#stopped && Number.isFinite(next)) {
        // Timers past 2³¹ ms fire at once; look again at least daily.
        const wait = Math.min(Math.max(0, next - this.#now()), 86_400_000);
        this.#timer = setTimeout(() => void this.#run(), wait);
        this.#timer.unref();
      }
    }
  }

  /**
   * Deletes what is kept for domains no DomainMapping or service host has wanted for
   * `forgetAfterMs` (the certificate, its sealed key, the order state); returns when to look again.
   * The wait spares a mapping deleted and made again, or a restart, an order (and a rate limit).
   */
  #forget(): number {
    const after = this.#o.forgetAfterMs ?? acmeDefaults.forgetUnwantedMs;
    const now = this.#now();
    let next = Number.POSITIVE_INFINITY;
    for (const [domain, since] of this.#unwanted) {
      if (this.#wanted.has(domain)) {
        this.#unwanted.delete(domain);
        continue;
      }
      if (now - since < after) {
        next = Math.min(next, since + after);
        continue;
      }
      this.#unwanted.delete(domain);
      this.#states.delete(domain);
      const held = this.#held.delete(domain);
      const stored = this.#o.store.deleteAcmeCertificate(domain);
      if (held || stored) {
        this.#o.log(
          `acme: deleted the certificate for ${domain} (no DomainMapping or service host wanted it for ${Math.round(after / 1000)} s)`,
        );
      }
    }
    return next;
  }

  async #order(domain: string, state: AcmeDomainState): Promise<void> {
    const o = this.#o;
    const board: ChallengeBoard = {
      add: async (d, token, keyAuthorization) => {
        this.#challenges.set(token, keyAuthorization);
        o.changed();
        await o.challengeServed?.(d, token, keyAuthorization);
      },
      remove: (token) => {
        this.#challenges.delete(token);
        o.changed();
      },
    };
    try {
      const issued = await o.order(domain, board);
      const problem = certificateProblem(domain, issued, this.#now());
      if (problem !== undefined) {
        throw new AcmeError({ step: 'download', detail: `the server's certificate cannot be served: ${problem}` });
      }
      const v = validity(issued.cert);
      o.store.putAcmeCertificate({
        domain,
        directory: o.directoryUrl,
        sealed: seal(o.storeKey, JSON.stringify(issued), this.#aad(domain)),
        serial: v.serial,
        notBefore: new Date(v.notBefore).toISOString(),
        notAfter: new Date(v.notAfter).toISOString(),
        issuedAt: new Date(this.#now()).toISOString(),
      });
      this.#held.set(domain, issued);
      this.#states.set(domain, acmeIssued(v));
      o.log(
        `acme: ${state.held ? 'renewed' : 'issued'} the certificate for ${domain} (serial ${v.serial}, valid until ${new Date(v.notAfter).toISOString()})`,
      );
    } catch (e) {
      const problem =
        e instanceof AcmeError ? e.problem : { step: 'order', detail: e instanceof Error ? e.message : String(e) };
      const failed = acmeFailed(state, problem, this.#now(), this.#o.random ?? Math.random, this.#o.backoff);
      this.#states.set(domain, failed);
      o.log(
        `acme: ordering a certificate for ${domain} failed (${failed.failures} in a row; next attempt at ${new Date(failed.retryAt ?? 0).toISOString()}): ${failed.lastError?.message}`,
      );
    }
    // No longer wanted while it was ordered: kept for the grace period, as any other.
    if (!this.#wanted.has(domain) && !this.#unwanted.has(domain)) this.#unwanted.set(domain, this.#now());
    o.changed();
  }
}
