import { connect, type Socket } from 'node:net';
import { isIdempotent } from '@skiff/shared';
import type { Breaker, Waiter } from '../breaker/breaker.ts';
import type { QueueProxyConfig } from '../config.ts';
import { ChunkedScanner } from './chunked.ts';
import type { Deadlines, Timed } from './deadlines.ts';
import { clientAddress, forwardRequestHead, forwardResponseHead } from './forwarding.ts';
import {
  isHeadError,
  keepsAlive,
  parseRequestHead,
  parseResponseHead,
  plainResponse,
  type RequestHead,
  type ResponseHead,
} from './http1.ts';

const headEnd = Buffer.from('\r\n\r\n');
/** Largest request head accepted (431 past it), as Knative's and Node's defaults. */
export const maxRequestHeadBytes = 16 * 1024;
const maxResponseHeadBytes = 64 * 1024;
/** Pipelined bytes buffered while a response is pending, before the client is paused. */
const maxPipelinedBytes = 64 * 1024;
const continueResponse = 'HTTP/1.1 100 Continue\r\n\r\n';
/** Bodies up to this size are copied next to their head and written together. */
const smallBodyBytes = 16 * 1024;

/** What a connection needs from the queue-proxy that owns it. */
export interface ConnectionHost {
  readonly config: Pick<
    QueueProxyConfig,
    'userHost' | 'userPort' | 'timeoutMs' | 'responseStartTimeoutMs' | 'idleTimeoutMs' | 'headerTimeoutMs'
  >;
  readonly breaker: Breaker | undefined;
  readonly deadlines: Deadlines;
  /** Answers a `K-Network-Probe` request. */
  probe(value: string): { status: number; body: string };
  /** A request arrived (it counts toward concurrency from now on). */
  started(ex: Exchange): void;
  /** A request left: answered, refused, timed out or abandoned. */
  finished(ex: Exchange, admitted: boolean, queued: boolean): void;
  /** A request was refused because the queue was full. */
  rejected(): void;
  forget(conn: ClientConnection): void;
}

/** One request and its response. */
export class Exchange implements Waiter, Timed {
  readonly head: RequestHead;
  readonly startedAt: number;
  readonly proxied: boolean;
  cancelled = false;
  admitted = false;
  queued = false;
  /** The request (head and body) has been fully sent to the app. */
  requestDone = false;
  /** Bytes of request body still to come (Content-Length), or a scanner for a chunked body. */
  bodyLeft = 0;
  bodyScanner: ChunkedScanner | undefined;
  response: ResponseHead | undefined;
  status = 0;
  responseStarted = false;
  lastWriteAt: number;
  /** Bytes of response body still to come; -1 = until the app closes; undefined = chunked. */
  respLeft: number | undefined = 0;
  respScanner: ChunkedScanner | undefined;
  respBuf: Buffer | undefined;
  tunnel = false;
  retried = false;
  ended = false;
  upstreamHead = '';
  /** The response head, held back to go out in one write with the first body bytes. */
  headOut: string | undefined;
  #conn: ClientConnection;

  constructor(conn: ClientConnection, head: RequestHead, now: number, proxied: boolean) {
    this.#conn = conn;
    this.head = head;
    this.startedAt = now;
    this.lastWriteAt = now;
    this.proxied = proxied;
  }

  admit(): void {
    this.#conn.admit(this);
  }

  expired(now: number): string | undefined {
    const host = this.#conn.host.config;
    if (host.timeoutMs > 0 && now - this.startedAt >= host.timeoutMs) return 'total';
    if (
      !this.responseStarted &&
      host.responseStartTimeoutMs > 0 &&
      now - this.startedAt >= host.responseStartTimeoutMs
    ) {
      return 'response-start';
    }
    if (host.idleTimeoutMs > 0 && now - this.lastWriteAt >= host.idleTimeoutMs) return 'idle';
    return undefined;
  }

  timeout(): void {
    this.#conn.timedOut(this);
  }
}

/**
 * One client connection, speaking HTTP/1.1 to the client and, through its own keep-alive
 * connection, to the app. Heads are parsed and rewritten; bodies pass through byte for byte with
 * backpressure both ways. Requests on one connection are served in order.
 */
export class ClientConnection implements Timed {
  readonly host: ConnectionHost;
  readonly #client: Socket;
  readonly #address: string;
  #upstream: Socket | undefined;
  /** The app connection has carried a response before (so it may have gone stale). */
  #upstreamReused = false;
  #buf: Buffer | undefined;
  #ex: Exchange | undefined;
  #headSince = 0;
  #clientEnded = false;
  #closed = false;

  constructor(host: ConnectionHost, client: Socket, keepAliveTimeoutMs: number) {
    this.host = host;
    this.#client = client;
    this.#address = clientAddress(client.remoteAddress);
    client.setNoDelay(true);
    client.setTimeout(keepAliveTimeoutMs);
    client.on('data', this.#onClientData);
    client.on('end', this.#onClientEnd);
    client.on('timeout', this.#onClientIdle);
    client.on('error', noop);
    client.on('close', this.#onClientClose);
  }

  /** True while no request is in progress (safe to close when shutting down). */
  get idle(): boolean {
    return this.#ex === undefined;
  }

  destroy(): void {
    this.#client.destroy();
  }

  // The header timeout, swept with the request deadlines.
  expired(now: number): string | undefined {
    return this.#headSince > 0 && now - this.#headSince >= this.host.config.headerTimeoutMs ? 'header' : undefined;
  }

  timeout(): void {
    if (this.#headSince > 0 && !this.#ex) this.#refuse(408, 'request header timeout');
  }

  // Client side.

  readonly #onClientData = (chunk: Buffer): void => {
    const ex = this.#ex;
    if (ex !== undefined) {
      if (ex.tunnel) {
        this.#writeUpstream(chunk, ex);
        return;
      }
      if (ex.admitted && !ex.requestDone) {
        this.#forwardBody(ex, chunk);
        return;
      }
      this.#buf = this.#buf === undefined ? chunk : Buffer.concat([this.#buf, chunk]);
      if (this.#buf.length > maxPipelinedBytes) this.#client.pause();
      return;
    }
    this.#buf = this.#buf === undefined ? chunk : Buffer.concat([this.#buf, chunk]);
    this.#readHead();
  };

  readonly #onClientEnd = (): void => {
    this.#clientEnded = true;
    // A client that stops sending mid-request has gone away (as nginx and Go's server read it):
    // abandon the request so the app stops working on it.
    if (this.#ex === undefined) this.#client.end();
    else this.#client.destroy();
  };

  readonly #onClientIdle = (): void => {
    // The keep-alive timeout: only an idle connection is closed.
    if (this.#ex === undefined && this.#headSince === 0) this.#client.destroy();
  };

  readonly #onClientClose = (): void => {
    this.#closed = true;
    this.host.forget(this);
    this.host.deadlines.delete(this);
    const ex = this.#ex;
    if (ex !== undefined) this.#end(ex);
    this.#dropUpstream();
  };

  #readHead(): void {
    while (this.#buf !== undefined && this.#ex === undefined && !this.#closed) {
      const buf = this.#buf;
      const end = buf.indexOf(headEnd);
      if (end < 0) {
        if (buf.length > maxRequestHeadBytes) {
          this.#refuse(431, 'request header fields too large');
        } else if (this.#headSince === 0) {
          this.#headSince = Date.now();
          this.host.deadlines.add(this);
        }
        return;
      }
      if (end > maxRequestHeadBytes) {
        this.#refuse(431, 'request header fields too large');
        return;
      }
      if (this.#headSince !== 0) {
        this.#headSince = 0;
        this.host.deadlines.delete(this);
      }
      const text = buf.toString('latin1', 0, end);
      this.#buf = end + 4 < buf.length ? buf.subarray(end + 4) : undefined;
      const head = parseRequestHead(text);
      if (isHeadError(head)) {
        this.#refuse(head.error, head.message);
        return;
      }
      if (!this.#probe(head)) this.#start(head);
    }
  }

  /** Answers `K-Network-Probe` requests here; they never reach the app and are not counted. */
  #probe(head: RequestHead): boolean {
    const h = head.headers;
    for (let i = 0; i < h.length; i += 2) {
      const name = h[i] as string;
      if (name.length === 15 && name.toLowerCase() === 'k-network-probe') {
        const { status, body } = this.host.probe(h[i + 1] as string);
        const close = !keepsAlive(head) || head.contentLength !== undefined || head.chunked;
        this.#client.write(plainResponse(status, body, close));
        if (close) this.#client.end();
        return true;
      }
    }
    return false;
  }

  #start(head: RequestHead): void {
    const now = Date.now();
    const proxied = hasHeader(head, 'k-proxy-request', 'activator');
    const ex = new Exchange(this, head, now, proxied);
    this.#ex = ex;
    this.host.started(ex);
    this.host.deadlines.add(ex);
    const breaker = this.host.breaker;
    if (breaker === undefined) {
      this.admit(ex);
      return;
    }
    const entered = breaker.enter(ex);
    if (entered === 'admitted') this.admit(ex);
    else if (entered === 'queued') {
      ex.queued = true;
      // Hold the body in the client's socket until there is room at the app.
      this.#client.pause();
    } else {
      this.host.rejected();
      this.#answer(ex, 503, 'pending request queue full');
    }
  }

  /** The request may go to the app now. */
  admit(ex: Exchange): void {
    ex.admitted = true;
    if (ex.ended) {
      // Gave up while the slot was on its way: hand it straight back.
      this.host.breaker?.leave();
      return;
    }
    const head = ex.head;
    if (head.contentLength !== undefined) {
      ex.bodyLeft = head.contentLength;
      ex.requestDone = head.contentLength === 0;
    } else if (head.chunked) {
      ex.bodyScanner = new ChunkedScanner();
    } else {
      ex.requestDone = true;
    }
    ex.upstreamHead = forwardRequestHead(head, this.#address);
    const upstream = this.#connectUpstream();
    if (head.expectContinue && !ex.requestDone) this.#client.write(continueResponse);
    upstream.write(ex.upstreamHead, 'latin1');
    if (!ex.requestDone && this.#buf !== undefined) {
      const buf = this.#buf;
      this.#buf = undefined;
      this.#forwardBody(ex, buf);
    }
    if (!ex.requestDone || (this.#buf?.length ?? 0) <= maxPipelinedBytes) this.#client.resume();
  }

  /** Sends request body bytes to the app; bytes past the body's end wait as the next request. */
  #forwardBody(ex: Exchange, chunk: Buffer): void {
    let part = chunk;
    let rest: Buffer | undefined;
    if (ex.bodyScanner === undefined) {
      if (chunk.length > ex.bodyLeft) {
        part = chunk.subarray(0, ex.bodyLeft);
        rest = chunk.subarray(ex.bodyLeft);
      }
      ex.bodyLeft -= part.length;
      if (ex.bodyLeft === 0) ex.requestDone = true;
    } else {
      const end = ex.bodyScanner.scan(chunk);
      if (typeof end === 'string') {
        this.#dropUpstream();
        this.#answer(ex, 400, `malformed chunked body: ${end}`, true);
        return;
      }
      if (end >= 0) {
        part = chunk.subarray(0, end);
        rest = end < chunk.length ? chunk.subarray(end) : undefined;
        ex.requestDone = true;
      }
    }
    if (part.length > 0) this.#writeUpstream(part, ex);
    if (rest !== undefined) {
      this.#buf = this.#buf === undefined ? rest : Buffer.concat([rest, this.#buf]);
      if (this.#buf.length > maxPipelinedBytes) this.#client.pause();
    }
  }

  #writeUpstream(part: Buffer, ex: Exchange): void {
    const upstream = this.#upstream;
    if (upstream === undefined) return;
    if (!upstream.write(part)) {
      this.#client.pause();
      upstream.once('drain', () => {
        if (this.#ex === ex && (ex.tunnel || !ex.requestDone)) this.#client.resume();
      });
    }
  }

  // App side.

  #connectUpstream(): Socket {
    if (this.#upstream !== undefined && !this.#upstream.destroyed) return this.#upstream;
    const upstream = connect({ host: this.host.config.userHost, port: this.host.config.userPort });
    upstream.setNoDelay(true);
    this.#upstreamReused = false;
    this.#upstream = upstream;
    upstream.on('data', (chunk: Buffer) => this.#onUpstreamData(upstream, chunk));
    upstream.on('error', noop);
    upstream.on('close', () => this.#onUpstreamClose(upstream));
    return upstream;
  }

  #dropUpstream(): void {
    const upstream = this.#upstream;
    this.#upstream = undefined;
    upstream?.destroy();
  }

  #onUpstreamData(upstream: Socket, chunk: Buffer): void {
    const ex = this.#ex;
    if (upstream !== this.#upstream || ex === undefined || ex.ended) {
      // Bytes nobody asked for: the app connection is out of step; never reuse it.
      if (upstream === this.#upstream) this.#dropUpstream();
      else upstream.destroy();
      return;
    }
    if (ex.tunnel) {
      this.#writeClient(chunk, upstream);
      return;
    }
    if (ex.response === undefined || ex.respBuf !== undefined) {
      this.#readResponseHead(ex, upstream, chunk);
      return;
    }
    this.#forwardResponseBody(ex, upstream, chunk);
  }

  #readResponseHead(ex: Exchange, upstream: Socket, chunk: Buffer): void {
    let buf = ex.respBuf === undefined ? chunk : Buffer.concat([ex.respBuf, chunk]);
    for (;;) {
      const end = buf.indexOf(headEnd);
      if (end < 0) {
        if (buf.length > maxResponseHeadBytes) {
          this.#dropUpstream();
          this.#answer(ex, 502, 'response head from the app is too large', true);
        } else ex.respBuf = buf;
        return;
      }
      const head = parseResponseHead(buf.toString('latin1', 0, end));
      const rest = buf.subarray(end + 4);
      if (isHeadError(head)) {
        this.#dropUpstream();
        this.#answer(ex, 502, head.message, true);
        return;
      }
      if (head.status >= 100 && head.status < 200 && head.status !== 101) {
        // Interim responses (100, 103) go to the client as they are; the final one follows.
        this.#client.write(forwardResponseHead(head, false, false), 'latin1');
        if (rest.length === 0) {
          ex.respBuf = undefined;
          return;
        }
        buf = rest;
        continue;
      }
      ex.respBuf = undefined;
      this.#startResponse(ex, upstream, head, rest);
      return;
    }
  }

  #startResponse(ex: Exchange, upstream: Socket, head: ResponseHead, rest: Buffer): void {
    const req = ex.head;
    ex.response = head;
    ex.status = head.status;
    ex.responseStarted = true;
    ex.lastWriteAt = Date.now();
    if (head.status === 101 && req.upgrade !== undefined) {
      // A protocol switch: from here on, bytes pass both ways untouched until either side closes.
      ex.tunnel = true;
      this.host.deadlines.delete(ex);
      this.#client.write(forwardResponseHead(head, false, false), 'latin1');
      if (rest.length > 0) this.#client.write(rest);
      if (this.#buf !== undefined) {
        const pending = this.#buf;
        this.#buf = undefined;
        this.#writeUpstream(pending, ex);
      }
      this.#client.resume();
      return;
    }
    const noBody = req.method === 'HEAD' || head.status === 204 || head.status === 304 || head.status === 101;
    if (noBody) ex.respLeft = 0;
    else if (head.chunked) {
      ex.respLeft = undefined;
      ex.respScanner = new ChunkedScanner();
    } else if (head.contentLength !== undefined) ex.respLeft = head.contentLength;
    else ex.respLeft = -1;
    const close = !keepsAlive(req) || ex.respLeft === -1 || !ex.requestDone || this.#clientEnded || head.status === 101;
    const keepAlive10 = !close && req.minor === 0;
    const text = forwardResponseHead(head, close, keepAlive10);
    if (rest.length === 0 || ex.respLeft === 0) {
      this.#client.write(text, 'latin1');
      if (ex.respLeft === 0) this.#completeResponse(ex, upstream, close, rest.length === 0);
      return;
    }
    // The head goes out with the first body bytes, in one write.
    ex.headOut = text;
    this.#forwardResponseBody(ex, upstream, rest);
  }

  #forwardResponseBody(ex: Exchange, upstream: Socket, chunk: Buffer): void {
    ex.lastWriteAt = Date.now();
    let part = chunk;
    let done = false;
    let extra = false;
    if (ex.respScanner !== undefined) {
      const end = ex.respScanner.scan(chunk);
      if (typeof end === 'string') {
        this.#dropUpstream();
        this.#client.destroy();
        return;
      }
      if (end >= 0) {
        done = true;
        extra = end < chunk.length;
        part = chunk.subarray(0, end);
      }
    } else if (ex.respLeft !== undefined && ex.respLeft >= 0) {
      if (chunk.length >= ex.respLeft) {
        done = true;
        extra = chunk.length > ex.respLeft;
        part = chunk.subarray(0, ex.respLeft);
        ex.respLeft = 0;
      } else ex.respLeft -= chunk.length;
    }
    if (part.length > 0 || ex.headOut !== undefined) this.#writeClient(part, upstream, ex);
    if (done) {
      const req = ex.head;
      const close = !keepsAlive(req) || !ex.requestDone || this.#clientEnded;
      this.#completeResponse(ex, upstream, close, !extra);
    }
  }

  #writeClient(part: Buffer, upstream: Socket, ex?: Exchange): void {
    let data = part;
    const head = ex?.headOut;
    if (ex !== undefined && head !== undefined) {
      ex.headOut = undefined;
      if (part.length <= smallBodyBytes) {
        // One buffer, one write: cheaper than writev for the common small response.
        data = Buffer.allocUnsafe(head.length + part.length);
        data.write(head, 0, 'latin1');
        part.copy(data, head.length);
      } else this.#client.write(head, 'latin1');
    }
    if (!this.#client.write(data)) {
      upstream.pause();
      this.#client.once('drain', () => upstream.resume());
    }
  }

  #completeResponse(ex: Exchange, upstream: Socket, closeClient: boolean, upstreamClean: boolean): void {
    const reusable = upstreamClean && ex.requestDone && ex.response !== undefined && keepsAlive(ex.response);
    if (reusable) this.#upstreamReused = true;
    else if (upstream === this.#upstream) this.#dropUpstream();
    this.#end(ex);
    if (closeClient) {
      this.#client.end();
      return;
    }
    this.#client.resume();
    if (this.#clientEnded) this.#client.end();
    else this.#readHead();
  }

  #onUpstreamClose(upstream: Socket): void {
    if (upstream !== this.#upstream) return;
    this.#upstream = undefined;
    const ex = this.#ex;
    if (ex === undefined || ex.ended) return;
    if (ex.tunnel) {
      this.#client.end();
      return;
    }
    if (ex.response !== undefined && ex.respBuf === undefined) {
      if (ex.respLeft === -1) {
        // The body was delimited by the app closing: the response is complete.
        this.#end(ex);
        this.#client.end();
      } else this.#client.destroy();
      return;
    }
    // Nothing came back. A reused keep-alive connection may simply have gone stale before the
    // request reached the app: send an idempotent request without a body once more on a fresh
    // connection (RFC 9110 §9.2.2; a POST may have reached the app, so it gets the 502).
    const bodyless = ex.head.contentLength === undefined && !ex.head.chunked;
    if (this.#upstreamReused && bodyless && isIdempotent(ex.head.method) && !ex.retried && ex.admitted) {
      ex.retried = true;
      this.#connectUpstream().write(ex.upstreamHead, 'latin1');
      return;
    }
    this.#answer(ex, 502, 'error reverse proxying', true);
  }

  // Endings.

  timedOut(ex: Exchange): void {
    if (ex.ended || ex.tunnel) return;
    if (ex.admitted) this.#dropUpstream();
    // Knative answers 504 only while nothing was written; after that the response is cut off.
    if (!ex.responseStarted) this.#answer(ex, 504, 'request timeout', true);
    else {
      this.#end(ex);
      this.#client.destroy();
    }
  }

  /** Answers a request here (refused, failed, timed out), closing the connection when it must. */
  #answer(ex: Exchange, status: number, message: string, forceClose = false): void {
    if (ex.ended) return;
    ex.status = status;
    // After a body that was not read to its end, the connection cannot carry another request.
    const close = forceClose || !keepsAlive(ex.head) || (!ex.requestDone && !bodyless(ex.head)) || this.#clientEnded;
    if (!this.#closed) this.#client.write(plainResponse(status, message, close), 'latin1');
    ex.responseStarted = true;
    this.#end(ex);
    if (close) {
      this.#dropUpstream();
      this.#client.end();
    } else {
      this.#client.resume();
      this.#readHead();
    }
  }

  /** Refuses what the client sent before any request could start, and closes. */
  #refuse(status: number, message: string): void {
    this.#buf = undefined;
    this.#headSince = 0;
    this.host.deadlines.delete(this);
    this.#client.end(plainResponse(status, message, true), 'latin1');
    this.#client.pause();
  }

  #end(ex: Exchange): void {
    if (ex.ended) return;
    ex.ended = true;
    if (this.#ex === ex) this.#ex = undefined;
    this.host.deadlines.delete(ex);
    this.host.finished(ex, ex.admitted, ex.queued && !ex.admitted);
  }
}

function bodyless(head: RequestHead): boolean {
  return head.contentLength === undefined && !head.chunked;
}

function hasHeader(head: RequestHead, lowerName: string, value: string): boolean {
  const h = head.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i] as string;
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) return h[i + 1] === value;
  }
  return false;
}

function noop(): void {}
