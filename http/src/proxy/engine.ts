import type { Socket } from 'node:net';
import { clientAddress, isIdempotent } from '@skiff/shared';
import { errorCode, type H2Stream, type StreamEnd, type StreamUser } from '../h2/conn.ts';
import type { Field } from '../h2/hpack.ts';
import { mayRetryElsewhere } from '../h2/retry.ts';
import {
  fieldsOf,
  chunk as h2Chunk,
  h2RequestHeaders,
  http1ResponseHead,
  lastChunk,
  wantsTrailers,
} from '../h2/translate.ts';
import { h2cUpgradeSettings, isH2cUpgrade } from '../h2/upgrade.ts';
import { ChunkedScanner } from '../http1/chunked.ts';
import {
  isHeadError,
  keepsAlive,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead,
} from '../http1/parse.ts';
import { type OwnHeader, plainResponse } from '../http1/write.ts';
import { adoptClient, isShared } from './adopt.ts';
import type { Deadlines, Timed } from './deadlines.ts';
import type { EndpointPool, UpstreamConnection, UpstreamUser } from './pool.ts';

const headEnd = Buffer.from('\r\n\r\n');
/** Empty lines ignored before a request line (RFC 9112 §2.2), in bytes per request; 400 past it. */
const maxLeadingEmptyBytes = 1024;
/** Largest request head accepted (431 past it), as Knative's and Node's defaults. */
export const maxRequestHeadBytes = 16 * 1024;
const maxResponseHeadBytes = 64 * 1024;
/** Pipelined bytes buffered while a response is pending, before the client is paused. */
const maxPipelinedBytes = 64 * 1024;
const continueResponse = 'HTTP/1.1 100 Continue\r\n\r\n';
/** Bodies up to this size are copied next to their head and written together. */
const smallBodyBytes = 16 * 1024;
/** Request body bytes queued on an upstream h2c stream (its window full) before the client is paused. */
const h2QueueLimit = 64 * 1024;

/** A response a hop gives itself, one line of plain text. */
export interface Answer {
  readonly status: number;
  readonly message: string;
  /** Headers of the answer besides its framing (a redirect's `Location`). */
  readonly headers?: readonly (readonly [string, string])[];
}

export const headersTooLarge: Answer = { status: 431, message: 'request header fields too large' };
export const headerTimeout: Answer = { status: 408, message: 'request header timeout' };

/**
 * What the engine asks of the hop that owns a listening socket (the router's Node shell, the
 * queue-proxy): where each request goes. Everything else about moving the bytes is the engine's.
 */
export interface Hop<T> {
  readonly deadlines: Deadlines;
  /** A client must send a request head within this long (408). */
  readonly headerTimeoutMs: number;
  /** Where a request goes, or an answer given here (unknown host, probe, limit). */
  route(head: RequestHead): Route<T> | Answer;
  forget(conn: ProxyConnection<T>): void;
  /**
   * Takes over a connection whose bodiless request asked for `Upgrade: h2c` to a route that speaks
   * h2c (the router: `H2Forwarder.upgrade`). Without it, or for other routes, the Upgrade is
   * ignored and the request served over HTTP/1.1.
   */
  upgradeH2c?(socket: Socket, head: RequestHead, settings: Buffer, buffered: Buffer | undefined): void;
  /**
   * The scheme clients reach this hop with, when it is the edge and knows it (the router's TLS
   * listener says `https`): a client's own `X-Forwarded-Proto` is then replaced, not passed on.
   */
  readonly scheme?: 'http' | 'https';
}

/** A request as a hop sees it, whichever protocol carries it (HTTP/1.1 `Exchange`, HTTP/2 stream). */
export interface Pending<T> {
  readonly head: RequestHead;
  readonly startedAt: number;
  readonly responseStarted: boolean;
  readonly lastWriteAt: number;
  /** The hop gives a queued request its slot. */
  granted(slot: T): void;
}

/** What every kind of exchange (HTTP/1.1, an HTTP/2 stream, forwarded frames) holds of its route. */
export interface RouteHeld<T> extends Pending<T> {
  readonly route: Route<T>;
  readonly status: number;
  queued: boolean;
  slot: T | undefined;
}

/** An exchange's end as its route sees it: out of the queue, its slot given back, its outcome told. */
export function endForRoute<T>(ex: RouteHeld<T>): void {
  if (ex.queued) {
    ex.queued = false;
    ex.route.cancel(ex);
  }
  const slot = ex.slot;
  if (slot !== undefined) {
    ex.slot = undefined;
    ex.route.release(slot);
  }
  ex.route.finished(ex, ex.status, Date.now() - ex.startedAt);
}

/**
 * One request's way upstream, as the hop decides it. `T` is the hop's right to a slot upstream
 * (the router's lease on an endpoint, the queue-proxy's breaker slot).
 */
export interface Route<T> {
  /** Bytes a chunked body may have (413 past it); 0 = no limit. */
  readonly maxBodyBytes: number;
  /** A slot now, or `'queued'` (the hop calls `ex.granted(slot)` later), or `'full'` (503). */
  enter(ex: Pending<T>): T | 'queued' | 'full';
  /** A queued request gave up (client gone, timed out). */
  cancel(ex: Pending<T>): void;
  release(slot: T): void;
  /** After `slot`'s endpoint refused the connection: another slot, or none; `slot` is released either way. */
  retryElsewhere(slot: T): T | undefined;
  pool(slot: T): EndpointPool;
  requestHead(head: RequestHead, client: string, slot: T): string;
  /** The final (or 101) response's head carries `slot`, for headers of its own (the router's `Server-Timing`). */
  responseHead(head: ResponseHead, close: boolean, keepAliveFor10: boolean, slot?: T): string;
  /** Headers this hop sets itself on requests (the router's `K-Proxy-Request`) and responses. */
  ownRequestHeader(slot: T): OwnHeader | undefined;
  ownResponseHeader(): OwnHeader | undefined;
  /** A header added to the final response beside the upstream's (HTTP/2; HTTP/1.1 has it from `responseHead`). */
  addedResponseHeader?(slot: T): OwnHeader | undefined;
  /** A header of the hop's policy set on every final response (HTTP/2; HTTP/1.1 has it from `responseHead`): the router's HSTS. */
  readonly policyHeader?: OwnHeader | undefined;
  /**
   * The protocol requests go upstream in: `h2c` (a revision whose port is named h2c) or `http/1.1`
   * whichever version they came in (the router translates), or `as-received` (the queue-proxy, as
   * Knative's: the router already chose the revision's protocol).
   */
  readonly upstreamProtocol: 'h2c' | 'http/1.1' | 'as-received';
  /** Which of the request's deadlines has passed at `now` (a name for logs), if any. */
  expired(ex: Pending<T>, now: number): string | undefined;
  queueFull(): Answer;
  timeout(): Answer;
  failed(reason: string): Answer;
  bodyTooLarge(): Answer;
  /** The request is over: `status` is what the client got (0: nothing, it went away). */
  finished(ex: Pending<T>, status: number, durationMs: number): void;
}

/** One request on its way through a hop: waiting for a slot, forwarded, answered. */
export class Exchange<T> implements Pending<T>, Timed, UpstreamUser, StreamUser {
  readonly conn: ProxyConnection<T>;
  readonly head: RequestHead;
  readonly route: Route<T>;
  readonly startedAt: number;
  slot: T | undefined;
  queued = false;
  ended = false;
  status = 0;
  upstream: UpstreamConnection | undefined;
  upstreamHead = '';
  /** The request (head and body) has been fully sent upstream. */
  requestDone = false;
  bodyLeft = 0;
  bodyScanner: ChunkedScanner | undefined;
  bodyBytes = 0;
  continueSent = false;
  response: ResponseHead | undefined;
  responseStarted = false;
  lastWriteAt: number;
  /** Bytes of response body still to come; -1 = until upstream closes; undefined = chunked. */
  respLeft: number | undefined = 0;
  respScanner: ChunkedScanner | undefined;
  respBuf: Buffer | undefined;
  /** The response head, held back to go out in one write with the first body bytes. */
  headOut: string | undefined;
  tunnel = false;
  retriedRefused = false;
  retriedStale = false;
  /** The request's stream upstream when it goes on over HTTP/2 (an h2c revision: see `dispatchH2`). */
  h2: H2Stream | undefined;

  constructor(conn: ProxyConnection<T>, head: RequestHead, route: Route<T>, now: number) {
    this.conn = conn;
    this.head = head;
    this.route = route;
    this.startedAt = now;
    this.lastWriteAt = now;
  }

  /** The hop gives a queued request its slot. */
  granted(slot: T): void {
    this.queued = false;
    this.conn.dispatch(this, slot);
  }

  expired(now: number): string | undefined {
    return this.route.expired(this, now);
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

  // The upstream h2c stream's events (`StreamUser`).
  headers(s: H2Stream, fields: Field[], end: boolean): void {
    this.conn.onH2Headers(this, s, fields, end);
  }

  data(s: H2Stream, chunk: Buffer, end: boolean): void {
    this.conn.onH2Data(this, s, chunk, end);
  }

  drained(s: H2Stream, _n: number): void {
    this.conn.onH2Drained(this, s);
  }

  closed(s: H2Stream, how: StreamEnd, code: number | undefined): void {
    this.conn.onH2Closed(this, s, how, code);
  }
}

/**
 * One client connection, speaking HTTP/1.1: each request's head is parsed and handed to the hop,
 * the request waits for a slot upstream, then goes out on a pooled keep-alive connection with its
 * body forwarded byte for byte (backpressure both ways); the response comes back the same way.
 * Requests on one connection are served in order. Protocol upgrades become a tunnel.
 */
export class ProxyConnection<T> implements Timed {
  readonly hop: Hop<T>;
  readonly #client: Socket;
  readonly #address: string;
  #buf: Buffer | undefined;
  #ex: Exchange<T> | undefined;
  #headSince = 0;
  /** Empty-line bytes skipped since the last request. */
  #emptyBytes = 0;
  #clientEnded = false;
  #closed = false;
  /** The client's reads, when it reads with `onread` into the shared buffer (see `accept`). */
  readonly #view: ((bytes: number) => Buffer) | undefined;
  /** The connection went on as HTTP/2 (`Upgrade: h2c`): reads go to the new owner as 'data' events. */
  #handedOver = false;

  /**
   * Serves HTTP/1.1 on a plain TCP connection a server accepted (after `acceptEither`): read with
   * `onread` into one shared buffer when the socket can be taken over (`adoptClient`), else with
   * 'data' events as given.
   */
  static accept<T>(hop: Hop<T>, socket: Socket, keepAliveTimeoutMs: number): ProxyConnection<T> {
    let conn: ProxyConnection<T> | undefined;
    const adopted = adoptClient(socket, (bytes) => {
      if (conn !== undefined) conn.#onSharedRead(bytes);
    });
    if (adopted === undefined) return new ProxyConnection(hop, socket, keepAliveTimeoutMs);
    conn = new ProxyConnection(hop, adopted.socket, keepAliveTimeoutMs, adopted.view);
    if (adopted.buffered !== undefined) conn.#onClientData(adopted.buffered);
    return conn;
  }

  constructor(hop: Hop<T>, client: Socket, keepAliveTimeoutMs: number, view?: (bytes: number) => Buffer) {
    this.hop = hop;
    this.#client = client;
    this.#view = view;
    this.#address = clientAddress(client.remoteAddress);
    client.setNoDelay(true);
    client.setTimeout(keepAliveTimeoutMs);
    if (view === undefined) client.on('data', this.#onClientData);
    client.on('end', this.#onClientEnd);
    client.on('timeout', this.#onClientIdle);
    client.on('error', noop);
    client.on('close', this.#onClientClose);
  }

  /** True while no request is in progress. */
  get idle(): boolean {
    return this.#ex === undefined;
  }

  destroy(): void {
    this.#client.destroy();
  }

  // The header timeout, swept with the request deadlines.
  expired(now: number): string | undefined {
    return this.#headSince > 0 && now - this.#headSince >= this.hop.headerTimeoutMs ? 'header' : undefined;
  }

  timeout(): void {
    if (this.#headSince > 0 && this.#ex === undefined) this.#refuse(headerTimeout);
  }

  // Client side.

  readonly #onClientData = (chunk: Buffer): void => {
    const ex = this.#ex;
    if (ex !== undefined) {
      if (ex.tunnel) {
        this.#writeUpstream(ex, chunk);
        return;
      }
      if (!ex.requestDone && (ex.h2 !== undefined || (ex.upstream?.connected && ex.upstreamHead !== ''))) {
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

  /** A read into the shared buffer: handled as a 'data' chunk, and whatever is kept of it copied. */
  #onSharedRead(bytes: number): void {
    const chunk = (this.#view as (bytes: number) => Buffer)(bytes);
    if (this.#handedOver) {
      this.#client.emit('data', Buffer.from(chunk));
      return;
    }
    this.#onClientData(chunk);
    const buf = this.#buf;
    if (buf !== undefined && isShared(buf)) this.#buf = Buffer.from(buf);
  }

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
    this.hop.forget(this);
    this.hop.deadlines.delete(this);
    const ex = this.#ex;
    if (ex !== undefined) {
      // The client went away: leave the queue at once, or stop the request upstream.
      this.#dropUpstream(ex);
      this.#end(ex);
    }
  };

  #readHead(): void {
    while (this.#buf !== undefined && this.#ex === undefined && !this.#closed) {
      let buf = this.#buf;
      if (buf[0] === 13 || buf[0] === 10) {
        const skip = leadingEmptyLines(buf);
        this.#emptyBytes += skip;
        if (this.#emptyBytes > maxLeadingEmptyBytes) {
          this.#refuse({ status: 400, message: 'too many empty lines before the request line' });
          return;
        }
        if (skip > 0) {
          if (skip === buf.length) {
            this.#buf = undefined;
            return;
          }
          buf = buf.subarray(skip);
          this.#buf = buf;
        }
      }
      const end = buf.indexOf(headEnd);
      if (end < 0) {
        // A head whose lines end in a bare LF never ends in CRLF CRLF: refuse it now, not at the 408.
        if (hasBareLf(buf)) this.#refuse({ status: 400, message: 'request head lines must end in CRLF' });
        else if (buf.length > maxRequestHeadBytes) this.#refuse(headersTooLarge);
        else if (this.#headSince === 0) {
          this.#headSince = Date.now();
          this.hop.deadlines.add(this);
        }
        return;
      }
      if (end > maxRequestHeadBytes) {
        this.#refuse(headersTooLarge);
        return;
      }
      if (this.#headSince !== 0) {
        this.#headSince = 0;
        this.hop.deadlines.delete(this);
      }
      const text = buf.toString('latin1', 0, end);
      this.#buf = end + 4 < buf.length ? buf.subarray(end + 4) : undefined;
      const head = parseRequestHead(text);
      if (isHeadError(head)) {
        this.#refuse({ status: head.error, message: head.message });
        return;
      }
      this.#start(head);
    }
  }

  #start(head: RequestHead): void {
    this.#emptyBytes = 0;
    const route = this.hop.route(head);
    if (isAnswer(route)) {
      this.#answerHere(head, route);
      return;
    }
    if (head.upgrade !== undefined && isH2cUpgrade(head)) {
      const settings =
        route.upstreamProtocol === 'h2c' && this.hop.upgradeH2c !== undefined ? h2cUpgradeSettings(head) : undefined;
      if (settings !== undefined) {
        this.#switchToH2c(head, settings);
        return;
      }
      // Served over HTTP/1.1: a server may ignore an Upgrade (RFC 9110 §7.8); h2c is not the app's to answer.
      head.upgrade = undefined;
    }
    const ex = new Exchange(this, head, route, Date.now());
    if (head.contentLength !== undefined) {
      ex.bodyLeft = head.contentLength;
      ex.requestDone = head.contentLength === 0;
    } else if (head.chunked) ex.bodyScanner = new ChunkedScanner();
    else ex.requestDone = true;
    this.#ex = ex;
    this.hop.deadlines.add(ex);
    const entered = route.enter(ex);
    if (entered === 'full') this.#answer(ex, route.queueFull());
    else if (entered === 'queued') {
      // Held: the body waits in the client's socket until a slot frees up.
      ex.queued = true;
      this.#wait();
    } else this.dispatch(ex, entered);
  }

  /** Hands the connection, and the bytes read past `head`, to the hop's HTTP/2 side. */
  #switchToH2c(head: RequestHead, settings: Buffer): void {
    const client = this.#client;
    client.off('data', this.#onClientData);
    client.off('end', this.#onClientEnd);
    client.off('timeout', this.#onClientIdle);
    client.off('close', this.#onClientClose);
    client.setTimeout(0);
    this.#closed = true;
    this.hop.forget(this);
    const buffered = this.#buf !== undefined && isShared(this.#buf) ? Buffer.from(this.#buf) : this.#buf;
    this.#buf = undefined;
    // A socket that reads into the shared buffer keeps doing so: its reads reach the new owner as
    // copies in 'data' events (`#onSharedRead`).
    if (this.#view !== undefined) this.#handedOver = true;
    this.hop.upgradeH2c?.(client, head, settings, buffered);
  }

  /** The request has a slot upstream: send it there. */
  dispatch(ex: Exchange<T>, slot: T): void {
    ex.slot = slot;
    if (ex.ended) {
      // Gave up while the slot was on its way: hand it straight back.
      ex.slot = undefined;
      ex.route.release(slot);
      return;
    }
    if (ex.route.upstreamProtocol === 'h2c') {
      this.#dispatchH2(ex, slot);
      return;
    }
    ex.upstreamHead = ex.route.requestHead(ex.head, this.#address, slot);
    const up = ex.route.pool(slot).take(ex);
    ex.upstream = up;
    if (up.connected) this.sendRequest(ex);
    // A new connection: nothing is written until it is up, so a refused one can be retried elsewhere.
    else this.#wait();
  }

  /**
   * Stops taking the client's bytes while its request waits (held, or for a connection upstream).
   * A socket on 'data' events is paused: Node still reads up to its high-water mark, so a client
   * that closes or resets is seen at once. A socket reading into the shared buffer stops reading
   * when paused, and would not see that: it reads on, its bytes buffered here up to
   * `maxPipelinedBytes` (then paused, as `#onClientData` does).
   */
  #wait(): void {
    if (this.#view === undefined) this.#client.pause();
  }

  /**
   * An HTTP/1.1 request to an upstream that speaks only HTTP/2 (a revision whose port is named
   * h2c): it goes on as a stream of the endpoint's h2c connection (`EndpointPool.h2c()`, the one
   * `H2Forwarder` uses too), its body as DATA frames (chunks decoded as `ChunkedScanner` finds
   * them) within the stream's window, and the response comes back as HTTP/1.1: chunked unless it
   * has a length (closed after, for HTTP/1.0), its trailers as the last chunk's when the client
   * sent `TE: trailers`. Response bytes are credited back to the upstream (WINDOW_UPDATE) once
   * written to the client, so a slow client holds the upstream back through the window.
   */
  #dispatchH2(ex: Exchange<T>, slot: T): void {
    const pool = ex.route.pool(slot);
    const headers = h2RequestHeaders(
      ex.head,
      this.#address,
      ex.route.ownRequestHeader(slot),
      this.hop.scheme,
      `${pool.host}:${pool.port}`,
    );
    ex.h2 = pool.h2c().request(fieldsOf(headers), ex.requestDone, ex);
    if (ex.head.expectContinue && !ex.requestDone && !ex.continueSent) {
      ex.continueSent = true;
      this.#client.write(continueResponse);
    }
    if (!ex.requestDone && this.#buf !== undefined) {
      const buf = this.#buf;
      this.#buf = undefined;
      this.#forwardBody(ex, buf);
    }
    if (!ex.requestDone || (this.#buf?.length ?? 0) <= maxPipelinedBytes) this.#client.resume();
  }

  /** Body bytes on the upstream stream (`end`: the last, END_STREAM on their frame rather than one of its own). */
  #writeH2(s: H2Stream, data: Uint8Array, end = false): void {
    // Queued until the window allows: bytes of the shared read buffer are copied.
    const bytes = isShared(data) ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    s.conn.send(s, bytes, end);
    if (s.queued > h2QueueLimit) this.#client.pause();
  }

  /** Request body bytes went out upstream: the client is read again once the queue is short. */
  onH2Drained(ex: Exchange<T>, s: H2Stream): void {
    if (ex.h2 !== s || this.#ex !== ex || ex.requestDone) return;
    if (s.queued <= h2QueueLimit / 4) this.#client.resume();
  }

  onH2Headers(ex: Exchange<T>, s: H2Stream, fields: Field[], end: boolean): void {
    if (ex.h2 !== s || ex.ended) return;
    if (ex.response !== undefined) {
      // Trailers (they end the stream).
      this.#h2End(ex, s, fields);
      return;
    }
    const status = statusOf(fields);
    if (status === undefined) {
      // A malformed response (RFC 9113 §8.1.1): the stream is reset, the client told it failed.
      ex.h2 = undefined;
      s.conn.reset(s, errorCode.protocolError);
      this.#fail(ex, 'malformed response');
      return;
    }
    const hasBody = ex.head.method !== 'HEAD' && status !== 204 && status !== 304;
    const head = http1ResponseHead(status, fields, ex.head.minor, hasBody);
    ex.response = head;
    ex.status = head.status;
    ex.responseStarted = true;
    ex.lastWriteAt = Date.now();
    // No length and no chunks (an HTTP/1.0 client): the body ends when the connection does.
    ex.respLeft = !hasBody ? 0 : head.chunked ? undefined : (head.contentLength ?? -1);
    const close = !keepsAlive(ex.head) || ex.respLeft === -1 || this.#clientEnded;
    this.#client.write(ex.route.responseHead(head, close, !close && ex.head.minor === 0, ex.slot), 'latin1');
    if (end) this.#h2End(ex, s, undefined);
  }

  onH2Data(ex: Exchange<T>, s: H2Stream, data: Buffer, end: boolean): void {
    if (ex.h2 !== s || ex.ended || ex.respLeft === 0 || data.length === 0) s.conn.consumed(s, data.length);
    else {
      ex.lastWriteAt = Date.now();
      const n = data.length;
      this.#client.write(ex.respLeft === undefined ? h2Chunk(data) : data, () => s.conn.consumed(s, n));
    }
    if (end && ex.h2 === s && !ex.ended) this.#h2End(ex, s, undefined);
  }

  #h2End(ex: Exchange<T>, s: H2Stream, trailers: Field[] | undefined): void {
    ex.h2 = undefined;
    if (ex.respLeft === undefined)
      this.#client.write(lastChunk(wantsTrailers(ex.head) ? trailers : undefined), 'latin1');
    // Answered before the client finished sending: the rest of its body cannot be read past.
    if (!ex.requestDone) s.conn.reset(s, errorCode.cancel);
    const close = !keepsAlive(ex.head) || ex.respLeft === -1 || !ex.requestDone || this.#clientEnded;
    this.#end(ex);
    if (close) {
      this.#client.end();
      return;
    }
    this.#client.resume();
    if (this.#clientEnded) this.#client.end();
    else this.#readHead();
  }

  onH2Closed(ex: Exchange<T>, s: H2Stream, how: StreamEnd, code: number | undefined): void {
    if (ex.h2 !== s) return;
    ex.h2 = undefined;
    if (ex.ended) return;
    if (ex.responseStarted) {
      // Cut off mid-response: so is the client's.
      this.#end(ex);
      this.#client.destroy();
      return;
    }
    const slot = ex.slot;
    // Never opened (connection refused), refused (RFC 9113 §8.7) or not processed (past an
    // upstream's GOAWAY): once, another endpoint, when no body was sent.
    const retry = {
      opened: how !== 'unopened',
      rstCode: how === 'unprocessed' ? errorCode.refusedStream : code,
      bodyPassed: !bodyless(ex.head),
      retried: ex.retriedRefused,
    };
    if (slot !== undefined && mayRetryElsewhere(retry)) {
      ex.retriedRefused = true;
      ex.slot = ex.route.retryElsewhere(slot);
      if (ex.slot !== undefined) {
        this.dispatch(ex, ex.slot);
        return;
      }
    }
    const refused = how === 'unopened' && s.conn.lastError?.message.includes('ECONNREFUSED') === true;
    this.#fail(ex, how === 'reset' ? `stream reset (${code})` : refused ? 'connection refused' : 'connection failed');
  }

  sendRequest(ex: Exchange<T>): void {
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

  /** Sends request body bytes upstream; bytes past the body's end wait as the next request. */
  #forwardBody(ex: Exchange<T>, chunk: Buffer): void {
    const up2 = ex.h2;
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
      // Over HTTP/2 the chunks' data goes on decoded, as the scanner finds it.
      const end = ex.bodyScanner.scan(chunk, 0, up2 === undefined ? undefined : (data) => this.#writeH2(up2, data));
      if (typeof end === 'string') {
        this.#dropUpstream(ex);
        this.#answer(ex, { status: 400, message: `malformed chunked body: ${end}` }, true);
        return;
      }
      if (end >= 0) {
        part = chunk.subarray(0, end);
        rest = end < chunk.length ? chunk.subarray(end) : undefined;
        ex.requestDone = true;
      }
      const limit = ex.route.maxBodyBytes;
      ex.bodyBytes += part.length;
      if (limit > 0 && ex.bodyBytes > limit) {
        this.#dropUpstream(ex);
        if (!ex.responseStarted) this.#answer(ex, ex.route.bodyTooLarge(), true);
        else this.#client.destroy();
        return;
      }
    }
    if (up2 === undefined) {
      if (part.length > 0) this.#writeUpstream(ex, part);
    } else {
      if (part.length > 0 && ex.bodyScanner === undefined) this.#writeH2(up2, part, ex.requestDone);
      else if (ex.requestDone) up2.conn.send(up2, undefined, true);
    }
    if (rest !== undefined) {
      this.#buf = this.#buf === undefined ? rest : Buffer.concat([rest, this.#buf]);
      if (this.#buf.length > maxPipelinedBytes) this.#client.pause();
    }
  }

  #writeUpstream(ex: Exchange<T>, part: Buffer): void {
    const up = ex.upstream;
    if (up === undefined) return;
    // Bytes of the shared read buffer are copied: a write may complete after the next read.
    if (!up.socket.write(isShared(part) ? Buffer.from(part) : part)) {
      this.#client.pause();
      up.socket.once('drain', () => {
        if (this.#ex === ex && (ex.tunnel || !ex.requestDone)) this.#client.resume();
      });
    }
  }

  // Upstream side.

  onUpstreamData(ex: Exchange<T>, up: UpstreamConnection, chunk: Buffer): void {
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

  #readResponseHead(ex: Exchange<T>, up: UpstreamConnection, chunk: Buffer): void {
    // `chunk` is a view of the shared read buffer: what waits for the head's end is copied.
    const fresh = ex.respBuf !== undefined;
    let buf = fresh ? Buffer.concat([ex.respBuf as Buffer, chunk]) : chunk;
    for (;;) {
      const end = buf.indexOf(headEnd);
      if (end < 0) {
        if (buf.length > maxResponseHeadBytes) {
          this.#dropUpstream(ex);
          this.#fail(ex, 'response head too large');
        } else ex.respBuf = fresh ? buf : Buffer.from(buf);
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
        this.#client.write(ex.route.responseHead(head, false, false), 'latin1');
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

  #startResponse(ex: Exchange<T>, up: UpstreamConnection, head: ResponseHead, rest: Buffer): void {
    const req = ex.head;
    ex.response = head;
    ex.status = head.status;
    ex.responseStarted = true;
    ex.lastWriteAt = Date.now();
    if (head.status === 101 && req.upgrade !== undefined) {
      // A protocol switch: bytes pass both ways untouched until either side closes; the slot stays taken.
      ex.tunnel = true;
      this.hop.deadlines.delete(ex);
      this.#client.write(ex.route.responseHead(head, false, false, ex.slot), 'latin1');
      if (rest.length > 0) this.#client.write(Buffer.from(rest));
      if (this.#buf !== undefined) {
        const pending = this.#buf;
        this.#buf = undefined;
        this.#writeUpstream(ex, pending);
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
    const text = ex.route.responseHead(head, close, !close && req.minor === 0, ex.slot);
    if (rest.length === 0 || ex.respLeft === 0) {
      this.#client.write(text, 'latin1');
      if (ex.respLeft === 0) this.#completeResponse(ex, up, close, rest.length === 0);
      return;
    }
    // The head goes out with the first body bytes, in one write.
    ex.headOut = text;
    this.#forwardResponseBody(ex, up, rest);
  }

  #forwardResponseBody(ex: Exchange<T>, up: UpstreamConnection, chunk: Buffer): void {
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

  /** Writes bytes read from upstream (a view of the shared read buffer: copied) to the client. */
  #writeClient(part: Buffer, up: UpstreamConnection, ex?: Exchange<T>): void {
    let data: Buffer;
    const head = ex?.headOut;
    if (ex !== undefined && head !== undefined && part.length <= smallBodyBytes) {
      // One buffer, one write: cheaper than writev for the common small response.
      ex.headOut = undefined;
      data = Buffer.allocUnsafe(head.length + part.length);
      data.write(head, 0, 'latin1');
      part.copy(data, head.length);
    } else {
      if (ex !== undefined && head !== undefined) {
        ex.headOut = undefined;
        this.#client.write(head, 'latin1');
      }
      data = Buffer.from(part);
    }
    if (!this.#client.write(data)) {
      up.socket.pause();
      this.#client.once('drain', () => up.socket.resume());
    }
  }

  #completeResponse(ex: Exchange<T>, up: UpstreamConnection, closeClient: boolean, upstreamClean: boolean): void {
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

  onUpstreamClose(ex: Exchange<T>, up: UpstreamConnection, error: NodeJS.ErrnoException | undefined): void {
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
        // The body was delimited by upstream closing: the response is complete.
        this.#end(ex);
        this.#client.end();
      } else this.#client.destroy();
      return;
    }
    const slot = ex.slot;
    if (!up.connected && slot !== undefined) {
      // Refused (or unreachable) before anything was sent: once, another endpoint with a free slot.
      if (!ex.retriedRefused) {
        ex.retriedRefused = true;
        ex.slot = ex.route.retryElsewhere(slot);
        if (ex.slot !== undefined) {
          this.dispatch(ex, ex.slot);
          return;
        }
      }
      this.#fail(ex, error?.code === 'ECONNREFUSED' ? 'connection refused' : (error?.message ?? 'connect failed'));
      return;
    }
    // Nothing came back on a reused keep-alive connection: it may have gone stale before the
    // request reached upstream, or upstream may have read it and dropped the connection. Only an
    // idempotent request without a body goes once more, on a fresh connection (RFC 9110 §9.2.2:
    // a client does not repeat a non-idempotent request by itself).
    if (up.reused && bodyless(ex.head) && isIdempotent(ex.head.method) && !ex.retriedStale && slot !== undefined) {
      ex.retriedStale = true;
      this.dispatch(ex, slot);
      return;
    }
    this.#fail(ex, error?.message ?? 'connection closed before a response');
  }

  // Endings.

  timedOut(ex: Exchange<T>): void {
    if (ex.ended || ex.tunnel) return;
    this.#dropUpstream(ex);
    // Knative answers 504 only while nothing was written; after that the response is cut off.
    if (!ex.responseStarted) this.#answer(ex, ex.route.timeout(), true);
    else {
      this.#end(ex);
      this.#client.destroy();
    }
  }

  #fail(ex: Exchange<T>, reason: string): void {
    this.#answer(ex, ex.route.failed(reason), true);
  }

  #dropUpstream(ex: Exchange<T>): void {
    const up = ex.upstream;
    ex.upstream = undefined;
    up?.destroy();
    const stream = ex.h2;
    if (stream !== undefined) {
      ex.h2 = undefined;
      stream.conn.reset(stream, errorCode.cancel);
    }
  }

  /** Answers a request here (refused, failed, timed out), closing the connection when it must. */
  #answer(ex: Exchange<T>, answer: Answer, forceClose = false): void {
    if (ex.ended) return;
    // After a body that was not read to its end, the connection cannot carry another request.
    const close = forceClose || !keepsAlive(ex.head) || (!ex.requestDone && !bodyless(ex.head)) || this.#clientEnded;
    if (!this.#closed)
      this.#client.write(plainResponse(answer.status, answer.message, close, answer.headers), 'latin1');
    ex.status = answer.status;
    ex.responseStarted = true;
    this.#dropUpstream(ex);
    this.#end(ex);
    if (close) this.#client.end();
    else {
      this.#client.resume();
      this.#readHead();
    }
  }

  /** Answers a request that never became an exchange (unknown host, probe, body too large). */
  #answerHere(head: RequestHead, answer: Answer): void {
    const close = !keepsAlive(head) || !bodyless(head) || this.#clientEnded;
    this.#client.write(plainResponse(answer.status, answer.message, close, answer.headers), 'latin1');
    if (close) {
      this.#buf = undefined;
      this.#client.end();
    }
  }

  /** Refuses what the client sent before any request could start, and closes. */
  #refuse(answer: Answer): void {
    this.#buf = undefined;
    this.#headSince = 0;
    this.hop.deadlines.delete(this);
    this.#client.end(plainResponse(answer.status, answer.message, true, answer.headers), 'latin1');
    this.#client.pause();
  }

  #end(ex: Exchange<T>): void {
    if (ex.ended) return;
    ex.ended = true;
    if (this.#ex === ex) this.#ex = undefined;
    this.hop.deadlines.delete(ex);
    endForRoute(ex);
  }
}

/** Bytes of empty lines (CRLF, or a bare LF as llhttp takes it) at the start of `buf`. */
function leadingEmptyLines(buf: Buffer): number {
  let i = 0;
  for (;;) {
    if (buf[i] === 10) i++;
    else if (buf[i] === 13 && buf[i + 1] === 10) i += 2;
    else if (buf[i] === 13 && i + 1 === buf.length)
      return i; // the LF may be on its way
    else return i;
  }
}

/** An LF not preceded by CR. */
function hasBareLf(buf: Buffer): boolean {
  for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) {
    if (i === 0 || buf[i - 1] !== 13) return true;
  }
  return false;
}

export function isAnswer<T>(x: Route<T> | Answer): x is Answer {
  return typeof (x as Answer).status === 'number';
}

function bodyless(head: RequestHead): boolean {
  return head.contentLength === undefined && !head.chunked;
}

/** The value of the first header named `lowerName`, if any. */
export function headerValue(head: RequestHead, lowerName: string): string | undefined {
  const h = head.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i] as string;
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) return h[i + 1];
  }
  return undefined;
}

function noop(): void {}

/** A response's `:status` when it is the one pseudo-header and three digits, else undefined. */
export function statusOf(fields: Field[]): number | undefined {
  let status: number | undefined;
  for (const [name, value] of fields) {
    if (name.charCodeAt(0) !== 58) continue;
    if (name !== ':status' || status !== undefined || !/^\d{3}$/.test(value)) return undefined;
    status = Number(value);
  }
  return status;
}
