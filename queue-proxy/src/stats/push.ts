import type { ClientRequest, Agent as HttpAgent, request as httpRequest } from 'node:http';
import { type Stat, statsPushPath } from '@skiff/shared';

export interface StatsPushTarget {
  /** The control plane's base URL (`https://127.0.0.1:8090`). */
  url: string;
  /** The router token (internal endpoints take it). */
  token: string;
  /** PEM of the CA to trust for an HTTPS control plane with its own CA. */
  ca?: string;
}

/**
 * Pushes this replica's stat each second to the autoscaler (`statsPushPath`) over one kept-alive
 * connection: a stats stream of newline-delimited JSON, ended and reopened on the same connection
 * each minute (Node's HTTP server cuts a request still arriving after its 5-minute requestTimeout).
 * A second is dropped rather than queued while the connection is down or not drained: the
 * autoscaler wants the newest load, and a lost second is what scraping lost on a failed scrape.
 */
export class StatsPusher {
  readonly #url: URL;
  readonly #token: string;
  readonly #agent: HttpAgent;
  readonly #request: typeof httpRequest;
  readonly #log: { info(m: string): void; error(m: string): void };
  #req: ClientRequest | undefined;
  #writes = 0;
  #failing = false;
  /** Seconds not sent (connection down or backed up). */
  dropped = 0;

  constructor(target: StatsPushTarget, log: { info(m: string): void; error(m: string): void }) {
    this.#url = new URL(statsPushPath, target.url);
    this.#token = target.token;
    this.#log = log;
    // `node:https` (and with it `node:tls`) is loaded only for an HTTPS control plane.
    if (this.#url.protocol === 'https:') {
      const https = process.getBuiltinModule('node:https');
      this.#agent = new https.Agent({ keepAlive: true, maxSockets: 1, ...(target.ca ? { ca: target.ca } : {}) });
      this.#request = https.request;
    } else {
      const http = process.getBuiltinModule('node:http');
      this.#agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      this.#request = http.request;
    }
  }

  push(stat: Stat): void {
    if (this.#req === undefined || this.#writes >= secondsPerStream) this.#open();
    const req = this.#req as ClientRequest;
    if (req.writableNeedDrain) {
      this.dropped++;
      return;
    }
    this.#writes++;
    req.write(`${JSON.stringify(stat)}\n`);
  }

  close(): void {
    this.#req?.end();
    this.#req = undefined;
    this.#agent.destroy();
  }

  #open(): void {
    this.#req?.end();
    this.#writes = 0;
    const req = this.#request(this.#url, {
      method: 'POST',
      agent: this.#agent,
      headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/x-ndjson' },
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (body.length < 4096) body += d;
      });
      res.on('end', () => {
        if (res.statusCode === 204) {
          if (this.#failing) this.#log.info(`pushing stats to ${this.#url.origin} again`);
          this.#failing = false;
          return;
        }
        this.#fail(req, `HTTP ${res.statusCode}: ${messageOf(body)}`);
      });
    });
    req.on('error', (e) => this.#fail(req, e.message));
    this.#req = req;
  }

  /** A stream failed: the next second opens another (once a second is the retry's pace). */
  #fail(req: ClientRequest, why: string): void {
    if (this.#req === req) this.#req = undefined;
    if (!this.#failing) this.#log.error(`pushing stats to ${this.#url.origin} failed (${why}); retrying each second`);
    this.#failing = true;
  }
}

/** Seconds carried by one request before the next is opened on the same connection. */
const secondsPerStream = 60;

function messageOf(body: string): string {
  try {
    const status = JSON.parse(body) as { message?: unknown };
    if (typeof status.message === 'string') return status.message;
  } catch {
    // Not a Status: show the text as it came.
  }
  return body.trim().slice(0, 200);
}
