import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { clientAddress, isHopByHop } from '@skiff/shared';
import { http } from '../builtins.ts';
import type { RequestHead } from '../http1/parse.ts';
import type { Deadlines, Timed } from '../proxy/deadlines.ts';
import { type Answer, endForRoute, type Hop, isAnswer, type Pending, type Route, statusOf } from '../proxy/engine.ts';
import type { EndpointPool } from '../proxy/pool.ts';
import { type ConnOwner, errorCode, H2Conn, type H2Stream, type StreamEnd, type StreamUser } from './conn.ts';
import type { Field } from './hpack.ts';
import { mayRetryElsewhere } from './retry.ts';
import { fieldsOf, h2RequestHeaders } from './translate.ts';
import { switchingToH2c, upgradeFields } from './upgrade.ts';

/** How much of a request body is kept to send again on a retry elsewhere (gRPC messages are mostly smaller). */
const replayLimit = 64 * 1024;
/** Response bytes queued for a client before an HTTP/1.1 upstream is paused. */
const http1QueueLimit = 64 * 1024;

/**
 * HTTP/2 streams through a hop at the frame level: a client's connection (`H2Conn`, server side)
 * and one h2c connection per endpoint upstream (client side), each stream's frames passed from
 * one to the other with the stream id of its connection, header blocks decoded and encoded again
 * (the hop's header rules apply), DATA passed on as it comes and credited back to the sender only
 * once it went out the other side (so a slow side holds the fast one back through the windows),
 * trailers and resets passed on. The hop decides as for HTTP/1.1: `route` from
 * the request's headers, a slot per stream (containerConcurrency and holding count streams), the
 * deadlines, retries per `mayRetryElsewhere`. nginx's `grpc_pass` works the same way; `node:http2`
 * costs about three times as much CPU per call on each hop (bench/RESULTS.md, gRPC, issue 14).
 * A stream to a route whose `upstreamProtocol` is `http/1.1` goes on as an HTTP/1.1 request of
 * `node:http` (bodies framed anew). A connection that switched from HTTP/1.1 with `Upgrade: h2c`
 * comes here too (`upgrade`), its request as stream 1. The upstream h2c connection is the
 * endpoint pool's (`EndpointPool.h2c()`), shared with HTTP/1.1 requests to an h2c route.
 */
export class H2Forwarder<T> implements ConnOwner {
  readonly hop: Hop<T>;
  readonly #conns = new Set<H2Conn>();

  constructor(hop: Hop<T>) {
    this.hop = hop;
  }

  get deadlines(): Deadlines {
    return this.hop.deadlines;
  }

  /** Takes a connection that opened with the HTTP/2 preface (prior knowledge, or TLS with ALPN h2). */
  accept(socket: Socket): H2Conn {
    const conn = new H2Conn(socket, 'server', this);
    conn.remoteAddress = clientAddress(socket.remoteAddress);
    this.#conns.add(conn);
    return conn;
  }

  /**
   * Takes a connection whose HTTP/1.1 request (`head`, without a body) asked for `Upgrade: h2c`
   * with `settings` (its `HTTP2-Settings`, see `h2cUpgradeSettings`): 101, then HTTP/2 with the
   * request as stream 1; `buffered`: what was read past the request.
   */
  upgrade(socket: Socket, head: RequestHead, settings: Buffer, buffered: Buffer | undefined): void {
    socket.write(switchingToH2c, 'latin1');
    this.accept(socket).upgraded(settings, upgradeFields(head), buffered);
  }

  close(): void {
    for (const c of this.#conns) c.destroy();
  }

  // ---- ConnOwner ----

  request(s: H2Stream, fields: Field[], end: boolean): void {
    const conn = s.conn;
    const head = requestHead(fields);
    if (head === undefined) {
      // Malformed (RFC 9113 §8.1.1): a stream error.
      conn.reset(s, errorCode.protocolError);
      return;
    }
    if (head.method === 'CONNECT') {
      answerStream(s, { status: 501, message: 'CONNECT is not supported' }, false);
      return;
    }
    const route = this.hop.route(head);
    if (isAnswer(route)) {
      answerStream(s, route, false);
      return;
    }
    const ex = new FrameExchange(this, s, head, route, conn.remoteAddress ?? 'unknown');
    s.user = ex;
    ex.requestEnded = end;
    this.hop.deadlines.add(ex);
    const entered = route.enter(ex);
    if (entered === 'full') ex.answer(route.queueFull());
    else if (entered === 'queued') ex.queued = true;
    else this.dispatch(ex, entered);
  }

  closed(conn: H2Conn): void {
    this.#conns.delete(conn);
  }

  // ---- forwarding ----

  dispatch(ex: FrameExchange<T>, slot: T): void {
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
    // What goes upstream first: all that came so far (the first time), or all that was passed on
    // before (again, elsewhere: only while it is whole, see `mayRetryElsewhere`).
    const body = ex.attempts === 0 ? ex.held : ex.sentBody;
    ex.held = [];
    ex.attempts++;
    ex.upOffset = 0;
    if (route.upstreamProtocol === 'http/1.1') this.#viaHttp1(ex, out, pool, body);
    else this.#viaH2(ex, out, pool, body);
  }

  #viaH2(ex: FrameExchange<T>, out: OutgoingHttpHeaders, pool: EndpointPool, body: Buffer[]): void {
    const fields = fieldsOf(out);
    const conn = pool.h2c();
    const link = new UpLink(ex);
    ex.link = link;
    const whole = ex.requestEnded && body.length === 0 && ex.requestTrailers === undefined;
    link.stream = conn.request(fields, whole, link);
    for (const chunk of body) conn.send(link.stream, chunk, false);
    if (ex.requestEnded && !whole) conn.send(link.stream, undefined, true, ex.requestTrailers);
  }

  /**
   * Upstream over HTTP/1.1, for a revision that does not speak HTTP/2: `node:http` frames the
   * request anew (DATA → chunks or by length, HTTP/2 trailers dropped), its response (and chunked
   * trailers) back as the stream's frames.
   */
  #viaHttp1(ex: FrameExchange<T>, out: OutgoingHttpHeaders, pool: EndpointPool, body: Buffer[]): void {
    const headers: Record<string, OutgoingHttpHeaders[string]> = { host: String(out[':authority']) };
    // `te` is HTTP/1.1's hop-by-hop field (it would need `Connection: te`): HTTP/2's `te: trailers` stays here.
    for (const name of Object.keys(out)) if (name.charCodeAt(0) !== 58 && name !== 'te') headers[name] = out[name];
    const req = http().request({
      host: pool.host,
      port: pool.port,
      method: ex.head.method,
      path: ex.head.target,
      headers,
      agent: pool.agent(),
      setHost: false,
    });
    const link = new Http1Link(ex, req);
    ex.link = link;
    req.on('response', (res: IncomingMessage) => link.response(res));
    req.on('error', (error: NodeJS.ErrnoException) => link.failed(error));
    for (const chunk of body) link.write(chunk);
    if (ex.requestEnded) req.end();
  }
}

/** One HTTP/2 stream on its way through a hop (the frame-level twin of `Exchange`). */
export class FrameExchange<T> implements Pending<T>, Timed, StreamUser {
  readonly fwd: H2Forwarder<T>;
  readonly down: H2Stream;
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
  /** The request upstream now (one per attempt). */
  link: UpLink<T> | Http1Link<T> | undefined;
  attempts = 0;
  retriedRefused = false;
  /** Sent once more on a new connection to the same endpoint (its GOAWAY said it was not processed). */
  redispatched = false;
  /** Body received before there was an upstream to take it (not yet credited to the client). */
  held: Buffer[] = [];
  /** The request body received so far, kept while no response started and it is under `replayLimit`. */
  sentBody: Buffer[] = [];
  sentBytes = 0;
  bodyLost = false;
  requestEnded = false;
  requestTrailers: Field[] | undefined;
  /** Body bytes of this attempt that reached the upstream, and how many the client was credited for. */
  upOffset = 0;
  creditedUpTo = 0;

  constructor(
    fwd: H2Forwarder<T>,
    down: H2Stream,
    head: RequestHead & { grpc: boolean },
    route: Route<T>,
    client: string,
  ) {
    this.fwd = fwd;
    this.down = down;
    this.head = head;
    this.route = route;
    this.client = client;
    this.grpc = head.grpc;
    this.startedAt = Date.now();
    this.lastWriteAt = this.startedAt;
  }

  granted(slot: T): void {
    this.queued = false;
    this.fwd.dispatch(this, slot);
  }

  expired(now: number): string | undefined {
    return this.route.expired(this, now);
  }

  // ---- the client's stream (StreamUser) ----

  headers(_s: H2Stream, fields: Field[], end: boolean): void {
    // Request trailers.
    const trailers = fields.filter(([name]) => name.charCodeAt(0) !== 58 && !isHopByHop(name, []));
    this.#requestEnd(trailers.length > 0 ? trailers : undefined, end);
  }

  data(_s: H2Stream, chunk: Buffer, end: boolean): void {
    if (chunk.length > 0) {
      if (!this.bodyLost) {
        this.sentBytes += chunk.length;
        if (this.sentBytes > replayLimit || this.responseStarted) this.forgetBody();
        else this.sentBody.push(chunk);
      }
      const link = this.link;
      if (link === undefined) this.held.push(chunk);
      else link.write(chunk);
    }
    if (end) this.#requestEnd(undefined, true);
  }

  #requestEnd(trailers: Field[] | undefined, end: boolean): void {
    if (!end) return;
    this.requestEnded = true;
    this.requestTrailers = trailers;
    this.link?.end(trailers);
  }

  drained(_s: H2Stream, n: number): void {
    // Response bytes went out to the client: the upstream may send as much again.
    this.lastWriteAt = Date.now();
    this.link?.responseDrained(n);
  }

  closed(_s: H2Stream, _how: StreamEnd, _code: number | undefined): void {
    this.finish();
  }

  // ---- the upstream's side ----

  /** Body bytes of this attempt reached the upstream: the client is credited for those it was not yet. */
  requestDrained(n: number): void {
    this.upOffset += n;
    if (this.upOffset <= this.creditedUpTo) return;
    this.down.conn.consumed(this.down, this.upOffset - this.creditedUpTo);
    this.creditedUpTo = this.upOffset;
  }

  forgetBody(): void {
    this.bodyLost = true;
    this.sentBody = [];
  }

  /** The upstream's response head on the client's stream (`fields` without pseudo ones, `:status` aside). */
  respond(status: number, fields: Field[], end: boolean): void {
    if (this.ended || this.down.closed) return;
    this.status = status;
    this.responseStarted = true;
    this.forgetBody();
    this.lastWriteAt = Date.now();
    const out: Field[] = [[':status', String(status)]];
    const route = this.route;
    const own = route.ownResponseHeader();
    const policy = route.policyHeader;
    for (const field of fields) {
      const name = field[0];
      if (name.charCodeAt(0) === 58 || isHopByHop(name, [])) continue;
      if ((own?.value !== undefined && name === own.name) || (policy?.value !== undefined && name === policy.name))
        continue;
      out.push(field);
    }
    if (own?.value !== undefined) out.push([own.name, own.value]);
    if (policy?.value !== undefined) out.push([policy.name, policy.value]);
    const added = this.slot === undefined ? undefined : route.addedResponseHeader?.(this.slot);
    if (added?.value !== undefined) out.push([added.name, added.value]);
    this.down.conn.respond(this.down, out, end);
  }

  /** Response body bytes (and the end, with trailers) on the client's stream. */
  responseData(chunk: Buffer | undefined, end: boolean, trailers?: Field[]): void {
    if (this.down.closed) return;
    this.down.conn.send(this.down, chunk, end, trailers);
  }

  /** The upstream attempt failed before any response: once elsewhere when allowed, else the hop's answer. */
  unanswered(opened: boolean, rstCode: number | undefined, unprocessed: boolean, reason: string): void {
    this.link = undefined;
    if (this.ended) return;
    const slot = this.slot;
    if (slot === undefined) return;
    if (unprocessed && !this.redispatched && !this.bodyLost) {
      // The endpoint went away gracefully (GOAWAY) before it took the stream: a new connection to it.
      this.redispatched = true;
      this.fwd.dispatch(this, slot);
      return;
    }
    const retry = { opened, rstCode, bodyPassed: this.bodyLost, retried: this.retriedRefused };
    if (mayRetryElsewhere(retry)) {
      this.retriedRefused = true;
      this.slot = this.route.retryElsewhere(slot);
      if (this.slot !== undefined) {
        this.fwd.dispatch(this, this.slot);
        return;
      }
    }
    this.answer(this.route.failed(reason));
  }

  /** The upstream's response was cut off: so is the client's stream. */
  cutOff(code: number): void {
    this.link = undefined;
    if (!this.down.closed) this.down.conn.reset(this.down, code);
    this.finish();
  }

  timeout(): void {
    if (this.ended) return;
    this.link?.cancel();
    this.link = undefined;
    const timeout = this.route.timeout();
    if (!this.responseStarted) {
      this.answer(timeout);
      return;
    }
    if (this.grpc && !this.down.closed) {
      // What a gRPC client's own deadline would say: DEADLINE_EXCEEDED, in the trailers.
      const trailers: Field[] = [
        ['grpc-status', '4'],
        ['grpc-message', encodeURIComponent(timeout.message)],
      ];
      this.down.conn.send(this.down, undefined, true, trailers);
      return;
    }
    this.cutOff(errorCode.cancel);
  }

  /** The hop's own answer (a gRPC call out of time: DEADLINE_EXCEEDED, trailers-only). */
  answer(a: Answer): void {
    if (this.ended) return;
    this.status = a.status;
    this.responseStarted = true;
    answerStream(this.down, a, this.grpc && a.status === 504);
  }

  /** The client's stream is over: the upstream's too, the slot released, the request counted. */
  finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.fwd.hop.deadlines.delete(this);
    this.link?.cancel();
    this.link = undefined;
    endForRoute(this);
  }
}

/** One attempt upstream as a stream of the endpoint's h2c connection. */
class UpLink<T> implements StreamUser {
  readonly ex: FrameExchange<T>;
  stream!: H2Stream;

  constructor(ex: FrameExchange<T>) {
    this.ex = ex;
  }

  get current(): boolean {
    return this.ex.link === this;
  }

  // The request's way up.
  write(chunk: Buffer): void {
    this.stream.conn.send(this.stream, chunk, false);
  }

  end(trailers: Field[] | undefined): void {
    this.stream.conn.send(this.stream, undefined, true, trailers);
  }

  responseDrained(n: number): void {
    this.stream.conn.consumed(this.stream, n);
  }

  cancel(): void {
    if (!this.stream.closed) this.stream.conn.reset(this.stream, errorCode.cancel);
  }

  // The upstream stream's events.
  headers(s: H2Stream, fields: Field[], end: boolean): void {
    if (!this.current) return;
    const ex = this.ex;
    if (s.headerBlocks > 1) {
      ex.responseData(undefined, true, responseTrailers(fields));
      return;
    }
    const status = statusOf(fields);
    if (status === undefined) {
      // A malformed response (RFC 9113 §8.1.1): the stream is reset, the client told it failed.
      s.conn.reset(s, errorCode.protocolError);
      ex.unanswered(true, errorCode.protocolError, false, 'malformed response');
      return;
    }
    ex.respond(status, fields, end);
  }

  data(s: H2Stream, chunk: Buffer, end: boolean): void {
    if (!this.current || this.ex.down.closed) {
      s.conn.consumed(s, chunk.length);
      return;
    }
    this.ex.responseData(chunk, end);
  }

  drained(_s: H2Stream, n: number): void {
    if (this.current) this.ex.requestDrained(n);
  }

  closed(s: H2Stream, how: StreamEnd, code: number | undefined): void {
    if (!this.current) return;
    const ex = this.ex;
    if (how === 'done') return;
    if (!ex.responseStarted) {
      const unprocessed = how === 'unprocessed' || (how === 'unopened' && s.conn.connected);
      const opened = how !== 'unopened';
      const reason =
        how === 'reset'
          ? `stream reset (${code})`
          : how === 'unopened'
            ? s.conn.lastError?.message.includes('ECONNREFUSED')
              ? 'connection refused'
              : 'connection failed'
            : 'connection failed';
      ex.unanswered(opened, how === 'unprocessed' ? errorCode.refusedStream : code, unprocessed, reason);
      return;
    }
    if (how === 'reset' && code === errorCode.noError && s.remoteEnded) return;
    ex.cutOff(code ?? errorCode.internalError);
  }
}

/** One attempt upstream as an HTTP/1.1 request (`node:http`), for a revision without h2c. */
class Http1Link<T> {
  readonly ex: FrameExchange<T>;
  readonly req: ClientRequest;
  res: IncomingMessage | undefined;
  paused = false;

  constructor(ex: FrameExchange<T>, req: ClientRequest) {
    this.ex = ex;
    this.req = req;
  }

  get current(): boolean {
    return this.ex.link === this;
  }

  write(chunk: Buffer): void {
    this.req.write(chunk, () => {
      if (this.current) this.ex.requestDrained(chunk.length);
    });
  }

  end(_trailers: Field[] | undefined): void {
    this.req.end();
  }

  responseDrained(_n: number): void {
    if (this.paused && this.ex.down.queued < http1QueueLimit / 4) {
      this.paused = false;
      this.res?.resume();
    }
  }

  cancel(): void {
    this.req.destroy();
  }

  response(res: IncomingMessage): void {
    const ex = this.ex;
    if (!this.current || ex.down.closed) {
      res.resume();
      return;
    }
    this.res = res;
    const connection = connectionTokens(res.headers.connection);
    const fields: Field[] = [];
    const raw = res.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = (raw[i] as string).toLowerCase();
      if (isHopByHop(name, connection)) continue;
      fields.push([name, raw[i + 1] as string]);
    }
    const status = res.statusCode ?? 502;
    const bodyless = status === 204 || status === 304 || ex.head.method === 'HEAD';
    ex.respond(status, fields, bodyless);
    if (bodyless) {
      res.resume();
      return;
    }
    res.on('data', (chunk: Buffer) => {
      if (!this.current) return;
      ex.responseData(chunk, false);
      if (ex.down.queued > http1QueueLimit) {
        this.paused = true;
        res.pause();
      }
    });
    res.on('end', () => {
      if (!this.current) return;
      const trailers: Field[] = [];
      const rt = res.rawTrailers;
      for (let i = 0; i < rt.length; i += 2) {
        const name = (rt[i] as string).toLowerCase();
        if (!isHopByHop(name, connection)) trailers.push([name, rt[i + 1] as string]);
      }
      ex.responseData(undefined, true, trailers.length > 0 ? trailers : undefined);
    });
    // Cut off mid-body (connection lost, or no last chunk): the client's stream is reset too.
    res.on('close', () => {
      if (!res.complete && this.current) ex.cutOff(errorCode.internalError);
    });
  }

  failed(error: NodeJS.ErrnoException): void {
    if (!this.current) return;
    const ex = this.ex;
    if (ex.responseStarted) {
      ex.cutOff(errorCode.internalError);
      return;
    }
    const refused = error.code === 'ECONNREFUSED';
    ex.unanswered(!refused, undefined, false, refused ? 'connection refused' : error.message);
  }
}

/**
 * A hop's own answer on a stream: plain text, or for a gRPC call that ran out of time a
 * trailers-only response with DEADLINE_EXCEEDED (what its client's own deadline would give).
 */
function answerStream(s: H2Stream, a: Answer, grpcDeadline: boolean): void {
  const conn = s.conn;
  if (s.closed) return;
  if (s.localEnded || s.headerBlocksSent > 0) {
    conn.reset(s, errorCode.cancel);
    return;
  }
  if (grpcDeadline) {
    conn.respond(
      s,
      [
        [':status', '200'],
        ['content-type', 'application/grpc'],
        ['grpc-status', '4'],
        ['grpc-message', encodeURIComponent(a.message)],
      ],
      true,
    );
    return;
  }
  const fields: Field[] = [
    [':status', String(a.status)],
    ['content-type', 'text/plain; charset=utf-8'],
  ];
  for (const [name, value] of a.headers ?? []) fields.push([name.toLowerCase(), value]);
  conn.respond(s, fields, false);
  conn.send(s, Buffer.from(`${a.message}\n`), true);
}

/** Names that are connection-specific in HTTP/1.1 and make an HTTP/2 request malformed (RFC 9113 §8.2.2). */
const connectionSpecific = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/**
 * A request's header fields as the `RequestHead` hops decide on, or undefined when they make a
 * malformed request (RFC 9113 §8.3: pseudo-headers first, once each, the required ones there;
 * names in lower case; no connection-specific fields; `te` only `trailers`; no CR, LF or NUL in a
 * value, which would otherwise reach an HTTP/1.1 upstream as a header of its own).
 */
export function requestHead(fields: Field[]): (RequestHead & { grpc: boolean }) | undefined {
  let method: string | undefined;
  let scheme: string | undefined;
  let authority: string | undefined;
  let path: string | undefined;
  let regular = false;
  let contentLength: number | undefined;
  let host: string | undefined;
  let grpc = false;
  const flat: string[] = [];
  for (const [name, value] of fields) {
    if (!validValue(value)) return undefined;
    if (name.charCodeAt(0) === 58) {
      if (regular) return undefined;
      if (name === ':method' && method === undefined) method = value;
      else if (name === ':scheme' && scheme === undefined) scheme = value;
      else if (name === ':authority' && authority === undefined) authority = value;
      else if (name === ':path' && path === undefined) path = value;
      else return undefined;
      continue;
    }
    regular = true;
    if (!lowerCase(name) || connectionSpecific.has(name)) return undefined;
    if (name === 'te' && value !== 'trailers') return undefined;
    if (name === 'content-length') contentLength = Number(value);
    else if (name === 'host') host ??= value;
    else if (name === 'content-type') grpc = value.startsWith('application/grpc');
    flat.push(name, value);
  }
  if (method === undefined) return undefined;
  if (method !== 'CONNECT' && (scheme === undefined || path === undefined || path === '')) return undefined;
  return {
    method,
    target: path ?? '/',
    minor: 1,
    headers: flat,
    contentLength,
    chunked: false,
    connection: [],
    host: authority ?? host,
    upgrade: undefined,
    expectContinue: false,
    grpc,
  };
}

function validValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0 || c === 10 || c === 13) return false;
  }
  return true;
}

function lowerCase(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if ((c >= 65 && c <= 90) || c <= 32 || c === 58 || c >= 127) return false;
  }
  return true;
}

/** Trailers to pass on: no pseudo or connection-specific fields. */
function responseTrailers(fields: Field[]): Field[] {
  return fields.filter(([name]) => name.charCodeAt(0) !== 58 && !isHopByHop(name, []));
}

/** The names an HTTP/1.1 `Connection` header lists, in lower case. */
function connectionTokens(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '');
}
