import { createHash, X509Certificate } from 'node:crypto';

/** How the stapler fetches (globalThis.fetch; a test passes its own). */
type Fetch = (
  url: string,
  init: { method: string; headers: Record<string, string>; body: Uint8Array; signal: AbortSignal },
) => Promise<Response>;

interface Held {
  /** The DER response to staple, while `now < validUntil`. */
  response?: Buffer;
  validUntil: number;
  /** When to fetch again (before `nextUpdate`; after a failure, a backoff). */
  refreshAt: number;
  fetching?: Promise<void>;
}

const fetchTimeoutMs = 10_000;
const retryMs = 30_000;

/**
 * OCSP stapling for the TLS listener (`OCSPRequest`, sent when a client asks for the status): for
 * a certificate that names an OCSP responder, the router (the process with network access) fetches
 * the response, keeps it, staples it while it is valid and fetches a fresh one before its
 * `nextUpdate`; a failed fetch keeps the last good one and is retried after 30 s. A certificate
 * naming no responder (the local CA's) is served without a staple, at no cost. A handshake waits
 * for the first fetch at most `handshakeWaitMs` (2 s; the fetch goes on, up to 10 s, for later ones).
 */
export class OcspStapler {
  readonly #held = new Map<string, Held | null>();
  readonly #fetch: Fetch;
  readonly #now: () => number;
  readonly #log: (message: string) => void;
  readonly #handshakeWaitMs: number;
  /** Fetches made (for tests and logs). */
  fetches = 0;

  constructor(
    o: { fetch?: Fetch; now?: () => number; log?: (message: string) => void; handshakeWaitMs?: number } = {},
  ) {
    this.#fetch = o.fetch ?? (globalThis.fetch as unknown as Fetch);
    this.#now = o.now ?? Date.now;
    this.#log = o.log ?? (() => {});
    this.#handshakeWaitMs = o.handshakeWaitMs ?? 2000;
  }

  /** The response to staple for `cert` (DER) issued by `issuer` (DER), if there is one. */
  async staple(cert: Buffer, issuer: Buffer | null | undefined): Promise<Buffer | undefined> {
    const key = createHash('sha256').update(cert).digest('hex');
    let held = this.#held.get(key);
    if (held === null) return undefined;
    if (held === undefined) {
      const url = /^OCSP - URI:(\S+)$/m.exec(new X509Certificate(cert).infoAccess ?? '')?.[1];
      if (url === undefined || !issuer) {
        this.#held.set(key, null);
        return undefined;
      }
      held = { validUntil: 0, refreshAt: 0 };
      this.#held.set(key, held);
      await this.#bounded(this.#refresh(held, url, cert, issuer));
    } else if (held.refreshAt <= this.#now() && held.fetching === undefined) {
      const url = /^OCSP - URI:(\S+)$/m.exec(new X509Certificate(cert).infoAccess ?? '')?.[1] as string;
      // In the background: this handshake gets the response held now, if still valid.
      void this.#refresh(held, url, cert, issuer as Buffer);
    } else if (held.fetching !== undefined && held.response === undefined) {
      await this.#bounded(held.fetching);
    }
    return held.response !== undefined && this.#now() < held.validUntil ? held.response : undefined;
  }

  /** `work`, or the handshake's wait running out first. */
  async #bounded(work: Promise<void>): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#handshakeWaitMs)))]);
    clearTimeout(timer);
  }

  #refresh(held: Held, url: string, cert: Buffer, issuer: Buffer): Promise<void> {
    held.fetching = this.#fetchOnce(held, url, cert, issuer).finally(() => {
      held.fetching = undefined;
    });
    return held.fetching;
  }

  async #fetchOnce(held: Held, url: string, cert: Buffer, issuer: Buffer): Promise<void> {
    // The ASN.1 code loads only for a certificate that names a responder.
    const { ocspRefreshAt, ocspRequest, readOcspResponse } = await import('@skiff/http/tls/ocsp');
    this.fetches++;
    try {
      const r = await this.#fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/ocsp-request', accept: 'application/ocsp-response' },
        body: ocspRequest(cert, issuer),
        signal: AbortSignal.timeout(fetchTimeoutMs),
      });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const der = Buffer.from(await r.arrayBuffer());
      const answer = readOcspResponse(der, cert);
      if ('problem' in answer) throw new Error(answer.problem);
      const now = this.#now();
      if (answer.nextUpdate !== undefined && answer.nextUpdate.getTime() <= now)
        throw new Error('the response is stale');
      held.response = der;
      held.validUntil = answer.nextUpdate?.getTime() ?? answer.thisUpdate.getTime() + 3_600_000;
      held.refreshAt = Math.max(now + 1000, ocspRefreshAt(answer));
      if (answer.status !== 'good') this.#log(`OCSP: ${url} says the certificate is ${answer.status}`);
    } catch (e) {
      held.refreshAt = this.#now() + retryMs;
      this.#log(`OCSP: no response from ${url} (${(e as Error).message}); retrying in ${retryMs / 1000} s`);
    }
  }
}
