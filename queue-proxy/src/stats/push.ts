import type { Socket } from 'node:net';
import { createConnection, isIP } from 'node:net';
import type { SecureContext, TLSSocket } from 'node:tls';
import { isHeadError, parseResponseHead } from '@skiff/http';
import { type Stat, statsPushPath } from '@skiff/shared';

export interface StatsPushTarget {
  /**
   * The control plane's base URL (`https://127.0.0.1:8090`), or `unix:<path>` for its stats socket
   * on this machine (the local backend: a socket in the control plane's 0700 data folder).
   */
  url: string;
  /** The router token (internal endpoints take it). */
  token: string;
  /** PEM of the CA to trust for an HTTPS control plane with its own CA. */
  ca?: string;
}

/** Where the pusher connects: decided once from the target's URL. */
export type PushEndpoint =
  | { kind: 'unix'; path: string; origin: string }
  | { kind: 'tcp'; tls: boolean; host: string; port: number; origin: string };

/** Reads the target's URL (`http:`, `https:` or `unix:<path>`). */
export function pushEndpoint(url: string): PushEndpoint {
  if (url.startsWith('unix:')) return { kind: 'unix', path: url.slice('unix:'.length), origin: url };
  const u = new URL(url);
  const tls = u.protocol === 'https:';
  // URL keeps an IPv6 host in brackets; sockets take it without.
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return { kind: 'tcp', tls, host, port: Number(u.port || (tls ? 443 : 80)), origin: u.origin };
}

/** The head of one stream's request (its body: one chunk per second, each a `Stat` line). */
export function streamHead(endpoint: PushEndpoint, token: string): string {
  const host = endpoint.kind === 'unix' ? 'localhost' : new URL(endpoint.origin).host;
  return (
    `POST ${statsPushPath} HTTP/1.1\r\nhost: ${host}\r\nauthorization: Bearer ${token}\r\n` +
    'content-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n'
  );
}

/** One second's stat as a chunk of the stream's body. */
export function statChunk(stat: Stat): string {
  const line = `${JSON.stringify(stat)}\n`;
  return `${Buffer.byteLength(line).toString(16)}\r\n${line}\r\n`;
}

const lastChunk = '0\r\n\r\n';
const headEnd = '\r\n\r\n';

/**
 * Pushes this replica's stat each second to the autoscaler (`statsPushPath`) over one kept-alive
 * connection: a stats stream of newline-delimited JSON (a chunked POST), ended and the next one
 * sent on the same connection each minute (Node's HTTP server cuts a request still arriving after
 * its 5-minute requestTimeout). A second is dropped rather than queued while the connection is down
 * or not drained: the autoscaler wants the newest load, and a lost second is what scraping lost on
 * a failed scrape.
 *
 * Written on `node:net` / `node:tls` with `@skiff/http`'s response parser instead of `node:http` /
 * `node:https`: the queue-proxy then never loads those two (about 2 MiB of its peak RSS, of a
 * 50 MiB bar; bench/RESULTS.md, issue 14), and a reconnect resumes the TLS session.
 */
export class StatsPusher {
  readonly #endpoint: PushEndpoint;
  readonly #head: string;
  readonly #ca: string | undefined;
  readonly #log: { info(m: string): void; error(m: string): void };
  #secureContext: SecureContext | undefined;
  #session: Buffer | undefined;
  #socket: Socket | undefined;
  /** Seconds written on the current stream; 0: no stream open on the connection. */
  #writes = 0;
  #received = '';
  #failing = false;
  /** Seconds not sent (connection down or backed up). */
  dropped = 0;

  constructor(target: StatsPushTarget, log: { info(m: string): void; error(m: string): void }) {
    this.#endpoint = pushEndpoint(target.url);
    this.#head = streamHead(this.#endpoint, target.token);
    this.#ca = target.ca;
    this.#log = log;
  }

  push(stat: Stat): void {
    let socket = this.#socket;
    if (socket === undefined) socket = this.#connect();
    else if (socket.writableNeedDrain) {
      this.dropped++;
      return;
    }
    let out = '';
    if (this.#writes >= secondsPerStream) {
      // The stream ends; the next goes out behind it on the same connection.
      out = lastChunk;
      this.#writes = 0;
    }
    if (this.#writes === 0) out += this.#head;
    this.#writes++;
    socket.write(out + statChunk(stat));
  }

  close(): void {
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket === undefined) return;
    if (this.#writes > 0) socket.end(lastChunk);
    else socket.end();
  }

  #connect(): Socket {
    const e = this.#endpoint;
    let socket: Socket;
    if (e.kind === 'unix') socket = createConnection(e.path);
    else if (!e.tls) socket = createConnection({ host: e.host, port: e.port, noDelay: true });
    else {
      // `node:tls` is loaded only for an HTTPS control plane (the Kubernetes deployment).
      const tls = process.getBuiltinModule('node:tls');
      this.#secureContext ??= tls.createSecureContext(this.#ca ? { ca: this.#ca } : {});
      const tlsSocket: TLSSocket = tls.connect({
        host: e.host,
        port: e.port,
        secureContext: this.#secureContext,
        // SNI takes a name, not an address (RFC 6066 §3); the certificate is checked against `host` either way.
        ...(isIP(e.host) === 0 ? { servername: e.host } : {}),
        ...(this.#session ? { session: this.#session } : {}),
      });
      tlsSocket.on('session', (session: Buffer) => {
        this.#session = session;
      });
      socket = tlsSocket;
    }
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => this.#onData(socket, text));
    socket.on('error', (err) => this.#fail(socket, err.message));
    socket.on('close', () => this.#fail(socket, 'connection closed'));
    this.#socket = socket;
    this.#writes = 0;
    this.#received = '';
    return socket;
  }

  /** Responses: 204 for each stream ended; anything else ends the connection (the next second reconnects). */
  #onData(socket: Socket, text: string): void {
    if (this.#socket !== socket) return;
    this.#received += text;
    for (;;) {
      const end = this.#received.indexOf(headEnd);
      if (end < 0) {
        if (this.#received.length > 16 * 1024) this.#fail(socket, 'response head too large');
        return;
      }
      const head = parseResponseHead(this.#received.slice(0, end));
      if (isHeadError(head)) {
        this.#fail(socket, `bad response: ${head.message}`);
        return;
      }
      if (head.status !== 204) {
        // An error Status (401, 400, 413...): its message, as much as came with the head.
        const body = this.#received.slice(end + headEnd.length, end + headEnd.length + 4096);
        this.#fail(socket, `HTTP ${head.status}: ${messageOf(body)}`);
        return;
      }
      this.#received = this.#received.slice(end + headEnd.length);
      if (this.#failing) this.#log.info(`pushing stats to ${this.#endpoint.origin} again`);
      this.#failing = false;
    }
  }

  /** The connection failed: the next second opens another (once a second is the retry's pace). */
  #fail(socket: Socket, why: string): void {
    if (this.#socket !== socket) return;
    this.#socket = undefined;
    socket.destroy();
    if (!this.#failing) {
      this.#log.error(`pushing stats to ${this.#endpoint.origin} failed (${why}); retrying each second`);
    }
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
