import type { Socket } from 'node:net';
import { ChunkedScanner } from '@skiff/queue-proxy/src/proxy/chunked.ts';
import type { Deadlines, Timed } from '@skiff/queue-proxy/src/proxy/deadlines.ts';
import { isIdempotent, type SnapshotRevision } from '@skiff/shared';
import { answers } from '../answers.ts';
import { maxRequestHeadBytes, type RouterConfig } from '../config.ts';
import type { RouterCore } from '../core.ts';
import { clientAddress, tagHeader } from '../forward/headers.ts';
import type { Lease, Throttler, Waiter } from '../hold/throttler.ts';
import {
  clientResponseHead,
  isHeadError,
  keepsAlive,
  parseRequestHead,
  parseResponseHead,
  plainResponse,
  type RequestHead,
  type ResponseHead,
  upstreamRequestHead,
} from './heads.ts';
import type { EndpointPool, UpstreamConnection, UpstreamUser } from './upstream.ts';

const headEnd = Buffer.from('\r\n\r\n');
const maxResponseHeadBytes = 64 * 1024;
/** Pipelined bytes buffered while a response is pending, before the client is paused. */
const maxPipelinedBytes = 64 * 1024;
const continueResponse = 'HTTP/1.1 100 Continue\r\n\r\n';
/** Bodies up to this size are copied next to their head and written together. */
const smallBodyBytes = 16 * 1024;

/** What a client connection needs from the server that owns it. */
export interface ConnectionHost {
  readonly core: RouterCore;
  readonly config: RouterConfig;
  readonly deadlines: Deadlines;
  pool(url: string): EndpointPool;
  forget(conn: ClientConnection): void;
}

/** One request on its way through the router: held, forwarded, answered. */
class Exchange implements Waiter, Timed, UpstreamUser {
  readonly conn: ClientConnection;
  readonly head: RequestHead;
  readonly revision: SnapshotRevision;
  readonly throttler: Throttler;
  readonly startedAt: number;
  lease: Lease | undefined;
  queued = false;
  ended = false;
  upstream: UpstreamConnection | undefined;
  upstreamHead = '';
  /** The request (head and body) has been fully sent to the endpoint. */
  requestDone = false;
  bodyLeft = 0;
  bodyScanner: ChunkedScanner | undefined;
  bodyBytes = 0;
  continueSent = false;
  response: ResponseHead | undefined;
  responseStarted = false;
  lastWriteAt: number;
  /** Bytes of response body still to come; -1 = until the endpoint closes; undefined = chunked. */
  respLeft: number | undefined = 0;
  respScanner: ChunkedScanner | undefined;
  respBuf: Buffer | undefined;
  headOut: string | undefined;
  tunnel = false;
  retriedRefused = false;
  retriedStale = false;

  constructor(conn: ClientConnection, head: RequestHead, revision: SnapshotRevision, throttler: Throttler) {
    this.conn = conn;
    this.head = head;
    this.revision = revision;
    this.throttler = throttler;
    this.startedAt = Date.now();
    this.lastWriteAt = this.startedAt;
  }

  granted(lease: Lease): void {
    this.queued = false;
    this.conn.dispatch(this, lease);
  }

  // The revision's timeouts, as Knative's timeout handler applies them; time held counts.
  expired(now: number): string | undefined {
    const r = this.revision;
    if (r.timeoutSeconds > 0 && now - this.startedAt >= r.timeoutSeconds * 1000) return 'total';
    const start = r.responseStartTimeoutSeconds ?? 0;
    if (!this.responseStarted && start > 0 && now - this.startedAt >= start * 1000) return 'response-start';
    const idle = r.idleTimeoutSeconds ?? 0;
    if (this.responseStarted && idle > 0 && now - this.lastWriteAt >= idle * 1000) return 'idle';
    return undefined;
  }

  timeout(): void {
    this.conn.timedOut(this);
  }

  upstreamConnected(up: UpstreamConnection): void {
    if (up === this.upstream) this.conn.sendRequest(this);
  }

  upstreamData(up: UpstreamConnection, chunk: Buffer): void {
    this.conn.onUpstreamData(this, up, chunk);
  }

  upstreamClosed(up: UpstreamConnection, error: NodeJS.ErrnoException | undefined): void {
    this.conn.onUpstreamClose(this, up, error);
  }
}

/**
 * One client connection, speaking HTTP/1.1: each request's head is parsed and routed, the request
 * waits for a slot on one of its revision's endpoints, then goes out on a pooled keep-alive
 * connection with its body forwarded byte for byte; the response comes back the same way.
 * Requests on one connection are served in order.
 */
export class ClientConnection implements Timed {
  readonly host: ConnectionHost;
  readonly #client: Socket;
  readonly #address: string;
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

  destroy(): void {
    this.#client.destroy();
  }

  // The header timeout, swept with the request deadlines.
  expired(now: number): string | undefined {
    return this.#headSince > 0 && now - this.#headSince >= this.host.config.headerTimeoutMs ? 'header' : undefined;
  }

  timeout(): void {
    if (this.#headSince > 0 && this.#ex === undefined) {
      this.#refuse(answers.headerTimeout.status, answers.headerTimeout.message);
    }
  }

  // Client side.

  readonly #onClientData = (chunk: Buffer): void => {
    const ex = this.#ex;
    if (ex !== undefined) {
      if (ex.tunnel) {
        this.#writeUpstream(ex, chunk);
        return;
      }
      if (ex.upstream?.connected && ex.upstreamHead !== '' && !ex.requestDone) {
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
    // A client that stops sending mid-request has gone away (as nginx and Go's server read it).
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
    if (ex !== undefined) {
      // The client went away: leave the queue at once, or stop the request at the endpoint.
      this.#dropUpstream(ex);
      this.#end(ex);
    }
  };

  #readHead(): void {
    while (this.#buf !== undefined && this.#ex === undefined && !this.#closed) {
      const buf = this.#buf;
      const end = buf.indexOf(headEnd);
      if (end < 0) {
        if (buf.length > maxRequestHeadBytes) {
          this.#refuse(answers.headersTooLarge.status, answers.headersTooLarge.message);
        } else if (this.#headSince === 0) {
          this.#headSince = Date.now();
          this.host.deadlines.add(this);
        }
        return;
      }
      if (end > maxRequestHeadBytes) {
        this.#refuse(answers.headersTooLarge.status, answers.headersTooLarge.message);
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
      this.#start(head);
    }
  }

  #start(head: RequestHead): void {
    const core = this.host.core;
    const resolution = core.resolve(head.host, core.config.tagHeaderRouting ? headerValue(head, tagHeader) : undefined);
    if (!resolution.ok) {
      this.#answerBeforeStart(head, resolution.status, resolution.message);
      return;
    }
    const limit = this.host.config.maxBodyBytes;
    if (limit > 0 && head.contentLength !== undefined && head.contentLength > limit) {
      const tooLarge = answers.bodyTooLarge(limit);
      this.#answerBeforeStart(head, tooLarge.status, tooLarge.message);
      return;
    }
    const throttler = core.throttler(resolution.revision);
    const ex = new Exchange(this, head, resolution.revision, throttler);
    if (head.contentLength !== undefined) {
      ex.bodyLeft = head.contentLength;
      ex.requestDone = head.contentLength === 0;
    } else if (head.chunked) ex.bodyScanner = new ChunkedScanner();
    else ex.requestDone = true;
    this.#ex = ex;
    this.host.deadlines.add(ex);
    const entered = throttler.enter(ex);
    if (entered === 'full') {
      const full = answers.queueFull(resolution.revision.name);
      this.#answer(ex, full.status, full.message);
    } else if (entered === 'queued') {
      // Held: the body waits in the client's socket until a slot frees up.
      ex.queued = true;
      this.#client.pause();
    } else this.dispatch(ex, entered);
  }

  /** The request has a slot on an endpoint: send it there. */
  dispatch(ex: Exchange, lease: Lease): void {
    ex.lease = lease;
    if (ex.ended) {
      ex.throttler.release(lease);
      return;
    }
    ex.upstreamHead = upstreamRequestHead(ex.head, this.#address, lease.held);
    const up = this.host.pool(lease.endpoint.url).take(ex);
    ex.upstream = up;
    if (up.connected) this.sendRequest(ex);
    // A new connection: nothing is written until it is up, so a refused one can be retried elsewhere.
    else this.#client.pause();
  }

  sendRequest(ex: Exchange): void {
    const up = ex.upstream;
    if (up === undefined || ex.ended) return;
    if (ex.head.expectContinue && !ex.requestDone && !ex.continueSent) {
      ex.continueSent = true;
      this.#client.write(continueResponse);
    }
    up.socket.write(ex.upstreamHead, 'latin1');
    if (!ex.requestDone && this.#buf !== undefined) {
      const buf = this.#buf;
      this.#buf = undefined;
      this.#forwardBody(ex, buf);
    }
    if (!ex.requestDone || (this.#buf?.length ?? 0) <= maxPipelinedBytes) this.#client.resume();
  }

  /** Sends request body bytes to the endpoint; bytes past the body's end wait as the next request. */
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
        this.#dropUpstream(ex);
        this.#answer(ex, 400, `malformed chunked body: ${end}`, true);
        return;
      }
      if (end >= 0) {
        part = chunk.subarray(0, end);
        rest = end < chunk.length ? chunk.subarray(end) : undefined;
        ex.requestDone = true;
      }
      const limit = this.host.config.maxBodyBytes;
      ex.bodyBytes += part.length;
      if (limit > 0 && ex.bodyBytes > limit) {
        this.#dropUpstream(ex);
        const tooLarge = answers.bodyTooLarge(limit);
        if (!ex.responseStarted) this.#answer(ex, tooLarge.status, tooLarge.message, true);
        else this.#client.destroy();
        return;
      }
    }
    if (part.length > 0) this.#writeUpstream(ex, part);
    if (rest !== undefined) {
      this.#buf = this.#buf === undefined ? rest : Buffer.concat([rest, this.#buf]);
      if (this.#buf.length > maxPipelinedBytes) this.#client.pause();
    }
  }

  #writeUpstream(ex: Exchange, part: Buffer): void {
    const up = ex.upstream;
    if (up === undefined) return;
    if (!up.socket.write(part)) {
      this.#client.pause();
      up.socket.once('drain', () => {
        if (this.#ex === ex && (ex.tunnel || !ex.requestDone)) this.#client.resume();
      });
    }
  }

  // Endpoint side.

  onUpstreamData(ex: Exchange, up: UpstreamConnection, chunk: Buffer): void {
    if (up !== ex.upstream || ex.ended) {
      // Bytes nobody asked for: the connection is out of step; never reuse it.
      up.destroy();
      return;
    }
    if (ex.tunnel) {
      this.#writeClient(chunk, up);
      return;
    }
    if (ex.response === undefined || ex.respBuf !== undefined) {
      this.#readResponseHead(ex, up, chunk);
      return;
    }
    this.#forwardResponseBody(ex, up, chunk);
  }

  #readResponseHead(ex: Exchange, up: UpstreamConnection, chunk: Buffer): void {
    let buf = ex.respBuf === undefined ? chunk : Buffer.concat([ex.respBuf, chunk]);
    for (;;) {
      const end = buf.indexOf(headEnd);
      if (end < 0) {
        if (buf.length > maxResponseHeadBytes) {
          this.#dropUpstream(ex);
          this.#fail(ex, 'response head too large');
        } else ex.respBuf = buf;
        return;
      }
      const head = parseResponseHead(buf.toString('latin1', 0, end));
      const rest = buf.subarray(end + 4);
      if (isHeadError(head)) {
        this.#dropUpstream(ex);
        this.#fail(ex, head.message);
        return;
      }
      if (head.status >= 100 && head.status < 200 && head.status !== 101) {
        // Interim responses (100, 103) go to the client as they are; the final one follows.
        this.#client.write(clientResponseHead(head, undefined, false, false), 'latin1');
        if (rest.length === 0) {
          ex.respBuf = undefined;
          return;
        }
        buf = rest;
        continue;
      }
      ex.respBuf = undefined;
      this.#startResponse(ex, up, head, rest);
      return;
    }
  }

  #startResponse(ex: Exchange, up: UpstreamConnection, head: ResponseHead, rest: Buffer): void {
    const req = ex.head;
    const revision = this.host.config.revisionHeader ? ex.revision.name : undefined;
    ex.response = head;
    ex.responseStarted = true;
    ex.lastWriteAt = Date.now();
    if (head.status === 101 && req.upgrade !== undefined) {
      // A protocol switch: bytes pass both ways untouched until either side closes; the slot stays taken.
      ex.tunnel = true;
      this.host.deadlines.delete(ex);
      this.#client.write(clientResponseHead(head, revision, false, false), 'latin1');
      if (rest.length > 0) this.#client.write(rest);
      if (this.#buf !== undefined) {
        const pending = this.#buf;
        this.#buf = undefined;
        this.#writeUpstream(ex, pending);
      }
      this.#client.resume();
      return;
    }
    const noBody = req.method === 'HEAD' || head.status === 204 || head.status === 304;
    if (noBody) ex.respLeft = 0;
    else if (head.chunked) {
      ex.respLeft = undefined;
      ex.respScanner = new ChunkedScanner();
    } else if (head.contentLength !== undefined) ex.respLeft = head.contentLength;
    else ex.respLeft = -1;
    const close = !keepsAlive(req) || ex.respLeft === -1 || !ex.requestDone || this.#clientEnded;
    const text = clientResponseHead(head, revision, close, !close && req.minor === 0);
    if (rest.length === 0 || ex.respLeft === 0) {
      this.#client.write(text, 'latin1');
      if (ex.respLeft === 0) this.#completeResponse(ex, up, close, rest.length === 0);
      return;
    }
    // The head goes out with the first body bytes, in one write.
    ex.headOut = text;
    this.#forwardResponseBody(ex, up, rest);
  }

  #forwardResponseBody(ex: Exchange, up: UpstreamConnection, chunk: Buffer): void {
    ex.lastWriteAt = Date.now();
    let part = chunk;
    let done = false;
    let extra = false;
    if (ex.respScanner !== undefined) {
      const end = ex.respScanner.scan(chunk);
      if (typeof end === 'string') {
        this.#dropUpstream(ex);
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
    if (part.length > 0 || ex.headOut !== undefined) this.#writeClient(part, up, ex);
    if (done) {
      const close = !keepsAlive(ex.head) || !ex.requestDone || this.#clientEnded;
      this.#completeResponse(ex, up, close, !extra);
    }
  }

  #writeClient(part: Buffer, up: UpstreamConnection, ex?: Exchange): void {
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
      up.socket.pause();
      this.#client.once('drain', () => up.socket.resume());
    }
  }

  #completeResponse(ex: Exchange, up: UpstreamConnection, closeClient: boolean, upstreamClean: boolean): void {
    const reusable = upstreamClean && ex.requestDone && ex.response !== undefined && keepsAlive(ex.response);
    ex.upstream = undefined;
    if (reusable) up.release();
    else up.destroy();
    this.#end(ex);
    if (closeClient) {
      this.#client.end();
      return;
    }
    this.#client.resume();
    if (this.#clientEnded) this.#client.end();
    else this.#readHead();
  }

  onUpstreamClose(ex: Exchange, up: UpstreamConnection, error: NodeJS.ErrnoException | undefined): void {
    if (up !== ex.upstream) return;
    ex.upstream = undefined;
    if (ex.ended) return;
    if (ex.tunnel) {
      this.#end(ex);
      this.#client.end();
      return;
    }
    if (ex.response !== undefined && ex.respBuf === undefined) {
      if (ex.respLeft === -1) {
        // The body was delimited by the endpoint closing: the response is complete.
        this.#end(ex);
        this.#client.end();
      } else this.#client.destroy();
      return;
    }
    const lease = ex.lease;
    if (!up.connected && lease !== undefined) {
      // Refused (or unreachable) before anything was sent: once, another endpoint with a free slot.
      if (!ex.retriedRefused) {
        ex.retriedRefused = true;
        ex.lease = ex.throttler.retryElsewhere(lease);
        if (ex.lease !== undefined) {
          this.dispatch(ex, ex.lease);
          return;
        }
      }
      this.#fail(ex, error?.code === 'ECONNREFUSED' ? 'connection refused' : (error?.message ?? 'connect failed'));
      return;
    }
    // Nothing came back on a reused keep-alive connection: it may have gone stale before the
    // request reached the endpoint, or the endpoint may have read it and dropped the connection.
    // Only an idempotent request without a body goes once more, on a fresh connection (RFC 9110
    // §9.2.2: a client does not repeat a non-idempotent request by itself).
    if (up.reused && bodyless(ex.head) && isIdempotent(ex.head.method) && !ex.retriedStale && lease !== undefined) {
      ex.retriedStale = true;
      this.dispatch(ex, lease);
      return;
    }
    this.#fail(ex, error?.message ?? 'connection closed before a response');
  }

  // Endings.

  timedOut(ex: Exchange): void {
    if (ex.ended || ex.tunnel) return;
    this.#dropUpstream(ex);
    // Knative answers 504 only while nothing was written; after that the response is cut off.
    if (!ex.responseStarted) {
      const timeout = answers.timeout(ex.revision.name);
      this.#answer(ex, timeout.status, timeout.message, true);
    } else {
      this.#end(ex);
      this.#client.destroy();
    }
  }

  #fail(ex: Exchange, reason: string): void {
    const failed = answers.upstreamFailed(ex.revision.name, reason);
    this.#answer(ex, failed.status, failed.message, true);
  }

  #dropUpstream(ex: Exchange): void {
    const up = ex.upstream;
    ex.upstream = undefined;
    up?.destroy();
  }

  /** Answers a request here (refused, failed, timed out), closing the connection when it must. */
  #answer(ex: Exchange, status: number, message: string, forceClose = false): void {
    if (ex.ended) return;
    const close = forceClose || !keepsAlive(ex.head) || (!ex.requestDone && !bodyless(ex.head)) || this.#clientEnded;
    if (!this.#closed) this.#client.write(plainResponse(status, message, close), 'latin1');
    ex.responseStarted = true;
    this.#dropUpstream(ex);
    this.#end(ex);
    if (close) this.#client.end();
    else {
      this.#client.resume();
      this.#readHead();
    }
  }

  /** Answers a request that never became an exchange (unknown host, body too large). */
  #answerBeforeStart(head: RequestHead, status: number, message: string): void {
    const close = !keepsAlive(head) || !bodyless(head) || this.#clientEnded;
    this.#client.write(plainResponse(status, message, close), 'latin1');
    if (close) {
      this.#buf = undefined;
      this.#client.end();
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
    if (ex.queued) {
      ex.queued = false;
      ex.throttler.cancel(ex);
    }
    if (ex.lease !== undefined) ex.throttler.release(ex.lease);
  }
}

function bodyless(head: RequestHead): boolean {
  return head.contentLength === undefined && !head.chunked;
}

function headerValue(head: RequestHead, lowerName: string): string | undefined {
  const h = head.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i] as string;
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) return h[i + 1];
  }
  return undefined;
}

function noop(): void {}
