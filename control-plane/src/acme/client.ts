import { AsyncLocalStorage } from 'node:async_hooks';
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { AcmeProblem } from '@skiff/shared';
import acme from 'acme-client';

/**
 * The ACME protocol (RFC 8555) through `acme-client` (publishlab, MIT, kept since 2017): JWS,
 * nonces and their badNonce retries, account, order, authorizations and finalize are its; Skiff
 * adds the HTTP-01 answer through its own router, the step that failed and the server's problem
 * document (acme-client folds those into an Error's message; a response interceptor keeps them,
 * per order, through AsyncLocalStorage).
 */

/** Where to order: the directory, a CA to trust for its HTTPS (pebble's), a contact address. */
export interface AcmeServer {
  directoryUrl: string;
  /** PEM CA certificates trusted for the directory's HTTPS besides Node's roots. */
  ca?: string;
  email?: string;
}

/** The account key and URL, kept by the caller (sealed in the store). */
export interface AcmeAccountStore {
  load(): { url: string; key: string } | undefined;
  save(account: { url: string; key: string }): void;
}

/** HTTP-01 answers the router serves while an order runs. */
export interface ChallengeBoard {
  /** Serve `keyAuthorization` at `/.well-known/acme-challenge/<token>`; resolves once served. */
  add(domain: string, token: string, keyAuthorization: string): Promise<void>;
  remove(token: string): void;
}

export class AcmeError extends Error {
  readonly problem: AcmeProblem;
  constructor(problem: AcmeProblem) {
    super(`${problem.step}: ${problem.detail}`);
    this.problem = problem;
  }
}

interface Seen {
  problem?: Omit<AcmeProblem, 'step'>;
}
const seen = new AsyncLocalStorage<Seen>();

function retryAfterMs(header: unknown): number | undefined {
  if (typeof header !== 'string' || header === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Keeps the last problem an order met: a problem+json answer, or an invalid challenge's `error`. */
function remember(resp: { headers?: Record<string, unknown>; data?: unknown } | undefined): void {
  const record = seen.getStore();
  if (!record || !resp || typeof resp.data !== 'object' || resp.data === null) return;
  const data = resp.data as {
    type?: unknown;
    detail?: unknown;
    status?: unknown;
    error?: { type?: unknown; detail?: unknown };
  };
  const contentType = String(resp.headers?.['content-type'] ?? '');
  const doc = contentType.includes('problem+json') ? data : data.status === 'invalid' ? data.error : undefined;
  if (!doc || typeof doc.detail !== 'string') return;
  const after = retryAfterMs(resp.headers?.['retry-after']);
  record.problem = {
    detail: doc.detail,
    ...(typeof doc.type === 'string' ? { type: doc.type } : {}),
    ...(after !== undefined ? { retryAfterMs: after } : {}),
  };
}

/**
 * Keeps why a connection to the ACME server failed (refused, TLS, DNS) for the order that opened
 * it: acme-client's retry interceptor, with no retries left, turns such an error into a TypeError
 * about `config` (it validates a response that is not there), so the user would read that instead.
 */
class RecordingAgent extends Agent {
  override createConnection(...args: Parameters<Agent['createConnection']>): ReturnType<Agent['createConnection']> {
    const record = seen.getStore();
    const socket = super.createConnection(...args);
    if (record && socket) {
      const failed = (e: Error) => {
        record.problem ??= { detail: `cannot reach the ACME server: ${e.message}` };
      };
      socket.once('error', failed);
      socket.once('secureConnect', () => socket.off('error', failed));
    }
    return socket;
  }
}

let configured = false;
function configure(server: AcmeServer): void {
  // One control plane talks to one ACME server: acme-client's axios instance is module-wide.
  acme.axios.defaults.httpsAgent = new RecordingAgent({
    ca: server.ca ? [...rootCertificates, server.ca] : [...rootCertificates],
    keepAlive: true,
  });
  // Retries (429 with Retry-After, 5xx) are the caller's, with the project's backoff and the
  // failure shown on the DomainMapping meanwhile, not minutes of waiting inside one call.
  (acme.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number } }).acmeSettings.retryMaxAttempts = 0;
  if (configured) return;
  configured = true;
  acme.axios.interceptors.response.use(
    (resp) => {
      remember(resp);
      return resp;
    },
    (error: { response?: { headers?: Record<string, unknown>; data?: unknown } }) => {
      remember(error.response);
      return Promise.reject(error);
    },
  );
}

export class AcmeClient {
  #server: AcmeServer;
  #accounts: AcmeAccountStore;
  #client: acme.Client | undefined;

  constructor(server: AcmeServer, accounts: AcmeAccountStore) {
    this.#server = server;
    this.#accounts = accounts;
    configure(server);
  }

  /** Orders a certificate for `domain` over HTTP-01; the chain (leaf first) and its new key, PEM. */
  async order(domain: string, board: ChallengeBoard): Promise<{ cert: string; key: string }> {
    const record: Seen = {};
    let step = 'account';
    try {
      return await seen.run(record, async () => {
        const client = await this.#account();
        step = 'order';
        const order = await client.createOrder({ identifiers: [{ type: 'dns', value: domain }] });
        for (const authz of await client.getAuthorizations(order)) {
          if (authz.status === 'valid') continue;
          const challenge = authz.challenges.find((c) => c.type === 'http-01');
          if (!challenge) {
            throw new Error(
              `the server offers no http-01 challenge for ${authz.identifier.value} (only ${authz.challenges.map((c) => c.type).join(', ')})`,
            );
          }
          step = 'challenge';
          const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
          await board.add(domain, challenge.token, keyAuthorization);
          try {
            await client.completeChallenge(challenge);
            await client.waitForValidStatus(challenge);
          } finally {
            board.remove(challenge.token);
          }
        }
        step = 'finalize';
        const [key, csr] = await acme.crypto.createCsr(
          { altNames: [domain] },
          await acme.crypto.createPrivateEcdsaKey(),
        );
        const finalized = await client.finalizeOrder(order, csr);
        step = 'download';
        const cert = await client.getCertificate(finalized);
        return { cert, key: key.toString() };
      });
    } catch (e) {
      if (e instanceof AcmeError) throw e;
      const detail = record.problem?.detail ?? (e instanceof Error ? e.message : String(e));
      throw new AcmeError({ step, ...record.problem, detail });
    }
  }

  async #account(): Promise<acme.Client> {
    if (this.#client) return this.#client;
    const options = {
      directoryUrl: this.#server.directoryUrl,
      backoffMin: 200,
      backoffMax: 5_000,
      backoffAttempts: 12,
    };
    const stored = this.#accounts.load();
    if (stored) {
      this.#client = new acme.Client({ ...options, accountKey: stored.key, accountUrl: stored.url });
      return this.#client;
    }
    const key = (await acme.crypto.createPrivateEcdsaKey()).toString();
    const client = new acme.Client({ ...options, accountKey: key });
    await client.createAccount({
      termsOfServiceAgreed: true,
      ...(this.#server.email ? { contact: [`mailto:${this.#server.email}`] } : {}),
    });
    this.#accounts.save({ url: client.getAccountUrl(), key });
    this.#client = client;
    return client;
  }
}
