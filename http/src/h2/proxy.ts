import type { ClientRequest, IncomingMessage } from 'node:http';
import type {
  ClientHttp2Stream,
  Http2Server,
  Http2Session,
  IncomingHttpHeaders,
  OutgoingHttpHeaders,
  ServerHttp2Stream,
} from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex, Readable, Writable } from 'node:stream';
import { clientAddress, isHopByHop } from '@skiff/shared';
import { h2Codes, http, http2 } from '../builtins.ts';
import type { RequestHead } from '../http1/parse.ts';
import type { Deadlines, Timed } from '../proxy/deadlines.ts';
import {
  type Answer,
  endForRoute,
  type Hop,
  headerValue,
  isAnswer,
  type Pending,
  type Route,
} from '../proxy/engine.ts';
import type { EndpointPool } from '../proxy/pool.ts';
import { mayRetryElsewhere } from './retry.ts';
import { h2RequestHeaders } from './translate.ts';
import { upgradeToH2c } from './upgrade.ts';

const {
  cancel: NGHTTP2_CANCEL,
  internalError: NGHTTP2_INTERNAL_ERROR,
  noError: NGHTTP2_NO_ERROR,
  flagEndStream: endStream,
} = h2Codes;

/** One HTTP/2 stream on its way through a hop (the HTTP/2 twin of `Exchange`). */
export class StreamExchange<T> implements Pending<T>, Timed {
  readonly proxy: Http2Proxy<T>;
  readonly stream: ServerHttp2Stream;
  readonly head: RequestHead;
  readonly route: Route<T>;
  readonly grpc: boolean;
  readonly client: string;
  readonly startedAt: number;
  lastWriteAt: number;
  responseStarted = false;
  slot: T | undefined;
  queued = false;
  ended = false;
  status = 0;
  /** The request upstream: a stream of an h2c connection, or an HTTP/1.1 request (`node:http`). */
  upstream: ClientHttp2Stream | ClientRequest | undefined;
  retriedRefused = false;
  /** The request body passed upstream so far, kept while no response has started, for a retry elsewhere. */
  sentBody: Buffer[] = [];
  sentBytes = 0;
  /** Body bytes went upstream and are no longer kept (past `replayLimit`): a retry cannot send them again. */
  bodyLost = false;
  /** The client's request body has ended. */
  requestEnded = false;
  /** Trailers to send when the response body ends (the upstream's, or this hop's DEADLINE_EXCEEDED). */
  trailers: OutgoingHttpHeaders | undefined;

  constructor(proxy: Http2Proxy<T>, stream: ServerHttp2Stream, head: RequestHead, route: Route<T>, client: string) {
    this.proxy = proxy;
    this.stream = stream;
    this.head = head;
    this.route = route;
    this.client = client;
    this.grpc = (headerValue(head, 'content-type') ?? '').startsWith('application/grpc');
    this.startedAt = Date.now();
    this.lastWriteAt = this.startedAt;
  }

  granted(slot: T): void {
    this.queued = false;
    this.proxy.dispatch(this, slot);
  }

  expired(now: number): string | undefined {
    return this.route.expired(this, now);
  }

  timeout(): void {
    this.proxy.timedOut(this);
  }

  /** A chunk of the request body went upstream: kept for a retry while it fits and no response started. */
  passed(chunk: Buffer): void {
    if (this.bodyLost) return;
    this.sentBytes += chunk.length;
    if (this.sentBytes > replayLimit || this.responseStarted) this.forgetBody();
    else this.sentBody.push(chunk);
  }

  forgetBody(): void {
    this.bodyLost = true;
    this.sentBody = [];
  }
}

/** How much of a request body is kept to send again on a retry elsewhere (gRPC messages are mostly smaller). */
const replayLimit = 64 * 1024;

/**
 * HTTP/2 streams through a hop: each stream's headers become a `RequestHead` for the hop's
 * `route`, the stream waits for a slot like an HTTP/1.1 request (so containerConcurrency and
 * holding count streams), then goes upstream as a stream of the endpoint's one h2c connection,
 * with bodies and trailers (gRPC's `grpc-status`, `grpc-message`) passed on as they come. The
 * framing is `node:http2`'s (nghttp2): well kept, and HTTP/2 is not where the raw-socket speed of
 * the HTTP/1.1 engine matters (gRPC multiplexes many calls on few connections).
 */
export class Http2Proxy<T> {
  readonly hop: Hop<T>;
  readonly #addresses = new WeakMap<Http2Session, string>();
  readonly #sessions = new Set<Http2Session>();
  #nextAddress = 'unknown';
  #server: Http2Server | undefined;

  constructor(hop: Hop<T>) {
    this.hop = hop;
  }

  /** `node:http2`'s server for the connections taken, made (and the module loaded) for the first one. */
  get server(): Http2Server {
    if (this.#server !== undefined) return this.#server;
    const server = http2().createServer();
    server.on('session', (session: Http2Session) => {
      this.#addresses.set(session, this.#nextAddress);
      this.#sessions.add(session);
      session.on('close', () => this.#sessions.delete(session));
      session.on('error', noop);
    });
    server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => this.#onStream(stream, headers));
    this.#server = server;
    return server;
  }

  get deadlines(): Deadlines {
    return this.hop.deadlines;
  }

  /** Takes a connection that opened with the HTTP/2 preface (see `acceptEither`). */
  accept(stream: Duplex | Socket): void {
    this.#nextAddress = clientAddress((stream as Duplex & { remoteAddress?: string }).remoteAddress);
    this.server.emit('connection', stream);
  }

  /** Takes a connection whose HTTP/1.1 request asked for `Upgrade: h2c` (see `upgradeToH2c`). */
  upgrade(socket: Socket, head: RequestHead, settings: Buffer, buffered: Buffer | undefined): void {
    upgradeToH2c(socket, head, settings, buffered, (stream) => this.accept(stream));
  }

  close(): void {
    for (const s of this.#sessions) s.destroy();
  }

  #onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', noop);
    const method = String(headers[':method'] ?? '');
    if (method === 'CONNECT') {
      answer(stream, { status: 501, message: 'CONNECT is not supported' }, false);
      return;
    }
    const flat: string[] = [];
    for (const name of Object.keys(headers)) {
      if (name.charCodeAt(0) === 58) continue; // pseudo-headers
      const value = headers[name];
      if (value === undefined) continue;
      flat.push(name, Array.isArray(value) ? value.join(name === 'cookie' ? '; ' : ', ') : String(value));
    }
    const length = headers['content-length'];
    const head: RequestHead = {
      method,
      target: String(headers[':path'] ?? '/'),
      minor: 1,
      headers: flat,
      contentLength: length === undefined ? undefined : Number(length),
      chunked: false,
      connection: [],
      host: headers[':authority'] ?? headers.host,
      upgrade: undefined,
      expectContinue: false,
    };
    const route = this.hop.route(head);
    const client = this.#addresses.get(stream.session as Http2Session) ?? 'unknown';
    if (isAnswer(route)) {
      answer(stream, route, false);
      return;
    }
    const ex = new StreamExchange(this, stream, head, route, client);
    this.hop.deadlines.add(ex);
    stream.on('close', () => this.#streamClosed(ex));
    const entered = route.enter(ex);
    if (entered === 'full') this.#answer(ex, route.queueFull());
    else if (entered === 'queued') ex.queued = true;
    else this.dispatch(ex, entered);
  }

  dispatch(ex: StreamExchange<T>, slot: T): void {
    ex.slot = slot;
    if (ex.ended) {
      ex.slot = undefined;
      ex.route.release(slot);
      return;
    }
    const route = ex.route;
    const pool = route.pool(slot);
    const out = h2RequestHeaders(
      ex.head,
      ex.client,
      route.ownRequestHeader(slot),
      this.hop.scheme,
      `${pool.host}:${pool.port}`,
    );
    if (route.upstreamProtocol === 'http/1.1') this.#viaHttp1(ex, out, pool);
    else this.#viaH2(ex, out, pool);
  }

  /** Upstream as a stream of the endpoint's one h2c connection. */
  #viaH2(ex: StreamExchange<T>, out: OutgoingHttpHeaders, pool: EndpointPool): void {
    const route = ex.route;
    const session = pool.session();
    let up: ClientHttp2Stream;
    try {
      up = session.request(out);
    } catch (error) {
      this.#answer(ex, route.failed((error as Error).message));
      return;
    }
    ex.upstream = up;
    up.on('error', noop);
    up.on('response', (headers, flags) => this.#response(ex, up, headers, flags));
    up.on('trailers', (trailers) => {
      ex.trailers = responseHeaders(trailers);
    });
    up.on('close', () => this.#upstreamClosed(ex, up));
    // The body is read once the stream is open (at once on a connected session): a connection
    // refused leaves the request whole, for another replica (`mayRetryElsewhere`).
    if (!up.pending) sendBody(ex, up);
    else
      up.once('ready', () => {
        if (ex.upstream === up) sendBody(ex, up);
      });
  }

  /**
   * Upstream over HTTP/1.1, for a revision that does not speak HTTP/2: the stream's request as an
   * HTTP/1.1 request on a keep-alive connection, its response (and any chunked trailers) back as
   * the stream's. `node:http` (llhttp) does the HTTP/1.1 side here rather than this package's
   * engine: the engine forwards HTTP/1.1 bytes as they are, and a change of version needs bodies
   * framed anew (DATA frames ↔ chunks), which `node:http` already does.
   */
  #viaHttp1(ex: StreamExchange<T>, out: OutgoingHttpHeaders, pool: EndpointPool): void {
    const headers: Record<string, OutgoingHttpHeaders[string]> = { host: String(out[':authority']) };
    // `te` is HTTP/1.1's hop-by-hop field (it would need `Connection: te`): HTTP/2's `te: trailers` stays here.
    for (const name of Object.keys(out)) if (name.charCodeAt(0) !== 58 && name !== 'te') headers[name] = out[name];
    const up = http().request({
      host: pool.host,
      port: pool.port,
      method: ex.head.method,
      path: ex.head.target,
      headers,
      agent: pool.agent(),
      setHost: false,
    });
    ex.upstream = up;
    up.on('response', (res: IncomingMessage) => this.#http1Response(ex, up, res));
    up.on('error', (error: NodeJS.ErrnoException) => this.#http1Failed(ex, up, error));
    sendBody(ex, up);
  }

  #http1Response(ex: StreamExchange<T>, up: ClientRequest, res: IncomingMessage): void {
    if (ex.upstream !== up || ex.stream.destroyed) {
      res.resume();
      return;
    }
    const connection = connectionTokens(res.headers.connection);
    const out = responseHeaders(res.headers, connection);
    const flags = res.statusCode === 204 || res.statusCode === 304 || ex.head.method === 'HEAD' ? endStream : 0;
    res.on('end', () => {
      if (res.trailers !== undefined) ex.trailers = responseHeaders(res.trailers, connection);
    });
    // Cut off mid-body (connection lost, or no last chunk): the client's stream is reset too.
    res.on('close', () => {
      if (!res.complete && ex.upstream === up && !ex.stream.destroyed) ex.stream.close(NGHTTP2_INTERNAL_ERROR);
    });
    this.#respond(ex, res, out, res.statusCode ?? 502, flags);
  }

  #http1Failed(ex: StreamExchange<T>, up: ClientRequest, error: NodeJS.ErrnoException): void {
    if (ex.upstream !== up) return;
    ex.upstream = undefined;
    if (ex.ended) return;
    if (ex.responseStarted) {
      if (!ex.stream.destroyed) ex.stream.close(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    const slot = ex.slot;
    // Refused before anything was sent: once, another endpoint with a free slot.
    const retry = { opened: false, rstCode: undefined, bodyPassed: ex.bodyLost, retried: ex.retriedRefused };
    if (slot !== undefined && error.code === 'ECONNREFUSED' && mayRetryElsewhere(retry)) {
      ex.retriedRefused = true;
      ex.slot = ex.route.retryElsewhere(slot);
      if (ex.slot !== undefined) {
        this.dispatch(ex, ex.slot);
        return;
      }
    }
    this.#answer(ex, ex.route.failed(error.code === 'ECONNREFUSED' ? 'connection refused' : error.message));
  }

  #response(ex: StreamExchange<T>, up: ClientHttp2Stream, headers: IncomingHttpHeaders, flags: number): void {
    if (ex.ended || ex.stream.destroyed) return;
    const status = Number(headers[':status'] ?? 0);
    if (status >= 100 && status < 200) return;
    this.#respond(ex, up, responseHeaders(headers), status, flags);
  }

  /** The upstream's response (`out`, its headers without connection-specific ones) on the client's stream. */
  #respond(ex: StreamExchange<T>, up: Readable, out: OutgoingHttpHeaders, status: number, flags: number): void {
    ex.status = status;
    ex.responseStarted = true;
    ex.forgetBody();
    ex.lastWriteAt = Date.now();
    out[':status'] = status;
    const own = ex.route.ownResponseHeader();
    if (own?.value !== undefined) out[own.name] = own.value;
    const policy = ex.route.policyHeader;
    if (policy?.value !== undefined) out[policy.name] = policy.value;
    const added = ex.slot === undefined ? undefined : ex.route.addedResponseHeader?.(ex.slot);
    if (added?.value !== undefined) {
      const theirs = out[added.name];
      out[added.name] = theirs === undefined ? added.value : [...[theirs].flat().map(String), added.value];
    }
    // A trailers-only answer (gRPC's way of failing at once) ends with its headers.
    if (flags & endStream) {
      ex.stream.respond(out, { endStream: true });
      if (!isH2Stream(up)) up.resume();
      return;
    }
    ex.stream.respond(out, { waitForTrailers: true });
    ex.stream.on('wantTrailers', () => ex.stream.sendTrailers(ex.trailers ?? {}));
    forward(ex, up, ex.stream, true);
  }

  #upstreamClosed(ex: StreamExchange<T>, up: ClientHttp2Stream): void {
    if (ex.upstream !== up) return;
    ex.upstream = undefined;
    if (ex.ended) return;
    if (!ex.responseStarted) {
      const slot = ex.slot;
      // Never opened (connection refused) or refused, body whole: once, another endpoint with a free slot.
      const retry = { opened: !up.pending, rstCode: up.rstCode, bodyPassed: ex.bodyLost, retried: ex.retriedRefused };
      if (slot !== undefined && mayRetryElsewhere(retry)) {
        ex.retriedRefused = true;
        ex.slot = ex.route.retryElsewhere(slot);
        if (ex.slot !== undefined) {
          this.dispatch(ex, ex.slot);
          return;
        }
      }
      this.#answer(ex, ex.route.failed(up.rstCode ? `stream reset (${up.rstCode})` : 'connection failed'));
      return;
    }
    // Cut off upstream mid-response: the client's stream is reset too, so it sees the failure.
    if (up.rstCode !== NGHTTP2_NO_ERROR && !ex.stream.destroyed) ex.stream.close(up.rstCode);
  }

  timedOut(ex: StreamExchange<T>): void {
    if (ex.ended) return;
    const up = ex.upstream;
    ex.upstream = undefined;
    // Forwarding stops with `ex.upstream` unset (see `forward`).
    if (up !== undefined) cancel(up);
    const timeout = ex.route.timeout();
    if (!ex.responseStarted) {
      this.#answer(ex, timeout);
      return;
    }
    if (ex.grpc && !ex.stream.destroyed) {
      // What a gRPC client's own deadline would say: DEADLINE_EXCEEDED, in the trailers.
      ex.trailers = { 'grpc-status': '4', 'grpc-message': encodeURIComponent(timeout.message) };
      ex.stream.end();
    } else ex.stream.close(NGHTTP2_CANCEL);
  }

  #answer(ex: StreamExchange<T>, a: Answer): void {
    if (ex.ended) return;
    ex.status = a.status;
    ex.responseStarted = true;
    answer(ex.stream, a, ex.grpc && a.status === 504);
  }

  #streamClosed(ex: StreamExchange<T>): void {
    if (ex.ended) return;
    ex.ended = true;
    this.hop.deadlines.delete(ex);
    const up = ex.upstream;
    ex.upstream = undefined;
    if (up !== undefined) cancel(up);
    endForRoute(ex);
  }
}

/**
 * Passes a body on, `from` → `to`, with backpressure, while `up` is still the exchange's upstream.
 * Plain listeners rather than `pipe`: `pipe` sets up and tears down about ten listeners per stream
 * and was a measurable share of a gRPC call's cost here (bench/data-plane.mjs --only grpc).
 */
function forward<T>(ex: StreamExchange<T>, from: Readable, to: Writable, response: boolean): void {
  const up = ex.upstream;
  const resume = () => from.resume();
  from.on('data', (chunk: Buffer) => {
    if (ex.upstream !== up) return;
    if (response) ex.lastWriteAt = Date.now();
    else ex.passed(chunk);
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', resume);
    }
  });
  from.on('end', () => {
    if (!response) ex.requestEnded = true;
    if (ex.upstream === up) to.end();
  });
}

/**
 * The request body upstream: what an earlier attempt passed on (a retry elsewhere), then the rest
 * as it comes (or the end, when it came already).
 */
function sendBody<T>(ex: StreamExchange<T>, up: Writable): void {
  for (const chunk of ex.sentBody) up.write(chunk);
  if (ex.requestEnded) {
    up.end();
    return;
  }
  forward(ex, ex.stream, up, false);
  // An earlier attempt may have paused the client's stream (backpressure) and then gone away.
  ex.stream.resume();
}

/**
 * The headers of an upstream response or trailers to pass on: no pseudo or connection-specific
 * ones (RFC 9113 §8.2.2: those an HTTP/1.1 upstream names in `Connection` as well).
 */
function responseHeaders(headers: IncomingHttpHeaders, connection: readonly string[] = []): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name of Object.keys(headers)) {
    if (name.charCodeAt(0) === 58 || isHopByHop(name, connection)) continue;
    out[name] = headers[name];
  }
  return out;
}

/** The names an HTTP/1.1 `Connection` header lists, in lower case. */
function connectionTokens(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '');
}

/** Whether `up` is an HTTP/2 stream (not an HTTP/1.1 request or response of `node:http`). */
function isH2Stream(up: Readable | Writable): up is ClientHttp2Stream {
  return 'rstCode' in up;
}

/** Stops a request upstream, whichever protocol carries it. */
function cancel(up: ClientHttp2Stream | ClientRequest): void {
  if (!isH2Stream(up)) up.destroy();
  else if (!up.closed) up.close(NGHTTP2_CANCEL);
}

/**
 * A hop's own answer on a stream: plain text, or for a gRPC call that ran out of time a
 * trailers-only response with DEADLINE_EXCEEDED (what its client's own deadline would give).
 */
function answer(stream: ServerHttp2Stream, a: Answer, grpcDeadline: boolean): void {
  if (stream.destroyed || stream.headersSent) {
    if (!stream.destroyed) stream.close(NGHTTP2_CANCEL);
    return;
  }
  if (grpcDeadline) {
    stream.respond(
      {
        ':status': 200,
        'content-type': 'application/grpc',
        'grpc-status': '4',
        'grpc-message': encodeURIComponent(a.message),
      },
      { endStream: true },
    );
    return;
  }
  stream.respond({ ':status': a.status, 'content-type': 'text/plain; charset=utf-8' });
  stream.end(`${a.message}\n`);
}

function noop(): void {}
