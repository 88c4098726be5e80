import { connect, type Socket } from 'node:net';
import { preface } from './accept.ts';
import { type Field, HpackDecoder, HpackEncoder, HpackError } from './hpack.ts';

// One HTTP/2 connection at the frame level (RFC 9113), either side: frames parsed and written
// here, HPACK, SETTINGS, PING, GOAWAY, RST_STREAM, CONTINUATION, padding and flow control kept by
// hand, and streams as plain records (no `Duplex` per stream, no header objects): what
// `forward.ts` needs to pass streams from one connection to another the way nginx does, without
// the per-stream cost of `node:http2` (bench/RESULTS.md, gRPC, issue 14).

export const frameType = {
  data: 0x0,
  headers: 0x1,
  priority: 0x2,
  rstStream: 0x3,
  settings: 0x4,
  pushPromise: 0x5,
  ping: 0x6,
  goaway: 0x7,
  windowUpdate: 0x8,
  continuation: 0x9,
} as const;

export const flag = { endStream: 0x1, ack: 0x1, endHeaders: 0x4, padded: 0x8, priority: 0x20 } as const;

/** Error codes (RFC 9113 §7). */
export const errorCode = {
  noError: 0x0,
  protocolError: 0x1,
  internalError: 0x2,
  flowControlError: 0x3,
  settingsTimeout: 0x4,
  streamClosed: 0x5,
  frameSizeError: 0x6,
  refusedStream: 0x7,
  cancel: 0x8,
  compressionError: 0x9,
  connectError: 0xa,
  enhanceYourCalm: 0xb,
  inadequateSecurity: 0xc,
  http11Required: 0xd,
} as const;

const setting = {
  headerTableSize: 0x1,
  enablePush: 0x2,
  maxConcurrentStreams: 0x3,
  initialWindowSize: 0x4,
  maxFrameSize: 0x5,
  maxHeaderListSize: 0x6,
} as const;

const defaultWindow = 65_535;
const maxWindow = 2 ** 31 - 1;
/** The largest frame payload this side takes (SETTINGS_MAX_FRAME_SIZE left at its initial value). */
const ownMaxFrame = 16_384;
/**
 * What a peer may send on one stream, and on the connection, before this side passes it on and
 * says so (WINDOW_UPDATE): the most a stream, or a connection, can have buffered here while the
 * other side is slower (backpressure, not unbounded buffering).
 */
export const streamWindow = 256 * 1024;
export const connectionWindow = 1024 * 1024;
/** Streams a client may have open on one connection here (more: REFUSED_STREAM). */
export const maxStreamsPerConnection = 1000;
/** Largest header list taken (RFC 9113 §6.5.2's size; the same 64 KiB as an HTTP/1.1 response head). */
const maxHeaderList = 64 * 1024;
/** Bytes waiting in the socket before this side stops sending DATA (it goes on at `drain`). */
const socketHighWater = 256 * 1024;

/** Why a stream ended other than by both sides ending it. */
export type StreamEnd =
  /** Both sides ended it (a client's stream: also when the response ended first, then reset with NO_ERROR). */
  | 'done'
  /** The peer reset it (RST_STREAM with `code`). */
  | 'reset'
  /** The connection went away with the stream open (`code`: the GOAWAY's, or undefined when it was cut). */
  | 'lost'
  /** Never opened: the connection could not be made. */
  | 'unopened'
  /** The peer's GOAWAY says it did not process it (its id is past the last one processed). */
  | 'unprocessed';

/** What happens on a stream, told to whoever forwards it. */
export interface StreamUser {
  /** A header block: the response's (client side), or trailers (`end` true), with its fields. */
  headers(s: H2Stream, fields: Field[], end: boolean): void;
  /** DATA (padding removed; possibly empty with `end`). The bytes count against the window until `conn.consumed`. */
  data(s: H2Stream, chunk: Buffer, end: boolean): void;
  /** `n` bytes this side queued on `s` went out to the peer. */
  drained(s: H2Stream, n: number): void;
  /** The stream is over without both sides having ended it normally. */
  closed(s: H2Stream, how: StreamEnd, code: number | undefined): void;
}

/** What a connection tells its owner. */
export interface ConnOwner {
  /** Server side: a new stream's request headers (the stream has no user yet: set one, or reset it). */
  request?(s: H2Stream, fields: Field[], end: boolean): void;
  /** The peer sent GOAWAY (client side: no new streams here; those past `last` are told `unprocessed`). */
  goaway?(conn: H2Conn, last: number, code: number): void;
  closed(conn: H2Conn): void;
}

/** One stream: its windows, what is queued to send on it, and how far each side has ended it. */
export class H2Stream {
  id = 0;
  readonly conn: H2Conn;
  user: StreamUser | undefined;
  /** What this side may still send (the peer's window). */
  sendWindow: number;
  /** What the peer may still send (this side's window). */
  recvWindow: number;
  /** Received DATA bytes not yet passed on (`consumed`), counted against the connection's window too. */
  held = 0;
  /** Passed on but not yet told to the peer in a WINDOW_UPDATE. */
  credit = 0;
  queue: Buffer[] = [];
  queued = 0;
  /** END_STREAM after what is queued, with trailers if any. */
  endQueued = false;
  trailers: Field[] | undefined;
  localEnded = false;
  remoteEnded = false;
  closed = false;
  /** Header blocks received (the first is the request or response, 1xx aside; later ones trailers). */
  headerBlocks = 0;
  /** Header blocks sent. */
  headerBlocksSent = 0;
  /** Client side: the request's fields, until they go out. */
  pendingFields: Field[] | undefined;
  pendingEnd = false;
  /** `content-length` of what is received, to check the DATA against (RFC 9113 §8.1.1); -1: none. */
  expectedLength = -1;
  receivedLength = 0;
  /** Whatever the forwarder keeps with the stream. */
  tag: unknown;

  constructor(conn: H2Conn) {
    this.conn = conn;
    this.sendWindow = conn.peerInitialWindow;
    this.recvWindow = streamWindow;
  }
}

class ConnectionError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * One HTTP/2 connection. `server`: a client's connection (its preface expected first); `client`:
 * this side's connection to an upstream (`H2Conn.connect`).
 */
export class H2Conn {
  readonly socket: Socket;
  readonly role: 'server' | 'client';
  readonly owner: ConnOwner;
  readonly streams = new Map<number, H2Stream>();
  /** The client's address (server side). */
  remoteAddress: string | undefined;
  connected: boolean;
  /** No new streams: GOAWAY sent or received, or closed. */
  goingAway = false;
  closed = false;
  /** When the last stream of a client-side connection ended (`Date.now()`); 0 while it has streams. */
  idleSince = Date.now();
  peerInitialWindow = defaultWindow;
  peerMaxFrame = ownMaxFrame;
  peerMaxStreams = Number.POSITIVE_INFINITY;
  sendWindow = defaultWindow;
  recvWindow = connectionWindow;
  #connCredit = 0;
  #decoder = new HpackDecoder();
  #encoder = new HpackEncoder();
  #in: Buffer | undefined;
  #prefaceLeft: number;
  /** The header block being received across CONTINUATION frames. */
  #block: { id: number; end: boolean; parts: Buffer[]; size: number } | undefined;
  /** Server side: the highest stream id the client opened; client side: the next id to use. */
  #lastPeerId = 0;
  #nextId = 1;
  /** Client side: streams waiting to open (not connected yet, or at the peer's concurrency limit). */
  #pending: H2Stream[] = [];
  #localOpen = 0;
  /** Streams with DATA queued that a window or the socket holds back. */
  #blocked = new Set<H2Stream>();
  #out: Buffer[] = [];
  #outBytes = 0;
  #flushing = false;
  #lastError: Error | undefined;

  constructor(socket: Socket, role: 'server' | 'client', owner: ConnOwner, connected = true) {
    this.socket = socket;
    this.role = role;
    this.owner = owner;
    this.connected = connected;
    this.#prefaceLeft = role === 'server' ? preface.length : 0;
    if (role === 'client') this.#write(preface);
    this.#settings();
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
    socket.on('drain', () => this.#pumpBlocked());
    socket.on('error', (error) => {
      this.#lastError = error;
    });
    socket.on('close', () => this.#closed());
    socket.on('end', () => socket.end());
    if (!connected)
      socket.once('connect', () => {
        this.connected = true;
        this.#openPending();
      });
    socket.resume();
  }

  /** A connection to an upstream (h2c), usable at once: streams wait for it to come up. */
  static connect(host: string, port: number, owner: ConnOwner): H2Conn {
    const socket = connect({ host, port, noDelay: true });
    return new H2Conn(socket, 'client', owner, false);
  }

  get lastError(): Error | undefined {
    return this.#lastError;
  }

  /**
   * Server side, a connection that switched from HTTP/1.1 with `Upgrade: h2c` (RFC 7540 §3.2), the
   * 101 already written: the client's `HTTP2-Settings` (`settings`) apply as if sent in a SETTINGS
   * frame, acknowledged by the 101 itself (no ACK is sent); the HTTP/1.1 request (`fields`) is
   * stream 1, half-closed from the client (it had no body); then the bytes read past the request
   * (`buffered`), which start with the client's preface.
   */
  upgraded(settings: Buffer, fields: Field[], buffered: Buffer | undefined): void {
    try {
      this.#applySettings(settings);
      const s = new H2Stream(this);
      s.id = 1;
      s.sendWindow = this.peerInitialWindow;
      s.headerBlocks = 1;
      s.remoteEnded = true;
      this.#lastPeerId = 1;
      this.streams.set(1, s);
      this.owner.request?.(s, fields, true);
    } catch (error) {
      this.#failWith(error);
    }
    this.#schedule();
    if (buffered !== undefined && buffered.length > 0) this.#read(buffered);
  }

  /** Client side: a new stream for a request; it opens (HEADERS out) once the connection can take it. */
  request(fields: Field[], end: boolean, user: StreamUser): H2Stream {
    const s = new H2Stream(this);
    s.user = user;
    s.pendingFields = fields;
    s.pendingEnd = end;
    if (this.closed || this.goingAway) {
      queueMicrotask(() => user.closed(s, 'unopened', undefined));
      return s;
    }
    this.#pending.push(s);
    this.#openPending();
    return s;
  }

  /** Whether `s` went out to the peer (its HEADERS were sent). */
  opened(s: H2Stream): boolean {
    return s.id !== 0;
  }

  #openPending(): void {
    if (!this.connected || this.goingAway) return;
    while (this.#pending.length > 0 && this.#localOpen < this.peerMaxStreams) {
      const s = this.#pending.shift() as H2Stream;
      if (s.closed) continue;
      s.id = this.#nextId;
      this.#nextId += 2;
      s.sendWindow = this.peerInitialWindow;
      this.streams.set(s.id, s);
      this.#localOpen++;
      this.idleSince = 0;
      const fields = s.pendingFields as Field[];
      s.pendingFields = undefined;
      this.#headers(s, fields, s.pendingEnd);
      if (s.pendingEnd) s.localEnded = true;
      this.#pump(s);
    }
  }

  /** Response headers (server side) for `s`; `end`: no body follows. */
  respond(s: H2Stream, fields: Field[], end: boolean): void {
    if (s.closed || s.localEnded) return;
    this.#headers(s, fields, end);
    if (end) this.#localEnd(s);
  }

  /** Queues body bytes (and the end, with `trailers` if any) on `s`; they go out as windows allow. */
  send(s: H2Stream, chunk: Buffer | undefined, end: boolean, trailers?: Field[]): void {
    if (s.closed || s.endQueued) return;
    if (chunk !== undefined && chunk.length > 0) {
      s.queue.push(chunk);
      s.queued += chunk.length;
    }
    if (end) {
      s.endQueued = true;
      s.trailers = trailers;
    }
    this.#pump(s);
  }

  /** `n` received bytes of `s` were passed on: the peer may send as much again. */
  consumed(s: H2Stream, n: number): void {
    // A closed stream's held bytes were counted for the connection when it closed.
    if (n <= 0 || s.closed) return;
    s.held -= n;
    this.#connCredit += n;
    if (this.#connCredit >= connectionWindow / 4) {
      this.#windowUpdate(0, this.#connCredit);
      this.recvWindow += this.#connCredit;
      this.#connCredit = 0;
    }
    if (s.closed || s.remoteEnded) return;
    s.credit += n;
    if (s.credit >= streamWindow / 4) {
      this.#windowUpdate(s.id, s.credit);
      s.recvWindow += s.credit;
      s.credit = 0;
    }
  }

  /** Resets `s` (RST_STREAM with `code`); its user is not told (whoever calls this knows). */
  reset(s: H2Stream, code: number): void {
    if (s.closed) return;
    if (s.id !== 0) this.#frame(frameType.rstStream, 0, s.id, u32(code));
    this.#forget(s);
  }

  /** Stops new streams (GOAWAY), and closes once the open ones are over. */
  shutdown(code: number = errorCode.noError): void {
    if (this.closed) return;
    if (!this.goingAway) {
      this.goingAway = true;
      const payload = Buffer.alloc(8);
      payload.writeUInt32BE(this.role === 'server' ? this.#lastPeerId : 0, 0);
      payload.writeUInt32BE(code, 4);
      this.#frame(frameType.goaway, 0, 0, payload);
    }
    if (this.streams.size === 0 && this.#pending.length === 0) this.#end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  // ---- reading ----

  #read(chunk: Buffer): void {
    if (this.closed) return;
    let buf = this.#in === undefined ? chunk : Buffer.concat([this.#in, chunk]);
    this.#in = undefined;
    try {
      if (this.#prefaceLeft > 0) {
        const start = preface.length - this.#prefaceLeft;
        const n = Math.min(this.#prefaceLeft, buf.length);
        if (buf.compare(preface, start, start + n, 0, n) !== 0) {
          this.socket.destroy();
          return;
        }
        this.#prefaceLeft -= n;
        buf = buf.subarray(n);
      }
      let at = 0;
      while (buf.length - at >= 9) {
        const length = buf.readUIntBE(at, 3);
        if (length > ownMaxFrame) throw new ConnectionError(errorCode.frameSizeError, 'frame too large');
        if (buf.length - at < 9 + length) break;
        const type = buf[at + 3] as number;
        const flags = buf[at + 4] as number;
        const id = buf.readUInt32BE(at + 5) & 0x7fffffff;
        const payload = buf.subarray(at + 9, at + 9 + length);
        at += 9 + length;
        this.#frameIn(type, flags, id, payload);
        if (this.closed) return;
      }
      if (at < buf.length) this.#in = Buffer.from(buf.subarray(at));
    } catch (error) {
      this.#failWith(error);
    }
    this.#schedule();
  }

  #failWith(error: unknown): void {
    if (error instanceof ConnectionError) this.#fail(error.code);
    else if (error instanceof HpackError) this.#fail(errorCode.compressionError);
    else {
      // A fault here or in a hop's decision: this connection ends (INTERNAL_ERROR), the process
      // and everyone else's connections go on; the fault is reported, not hidden.
      process.emitWarning(error as Error);
      this.#fail(errorCode.internalError);
    }
  }

  #frameIn(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.#block !== undefined && type !== frameType.continuation)
      throw new ConnectionError(errorCode.protocolError, 'CONTINUATION expected');
    switch (type) {
      case frameType.data:
        this.#dataIn(flags, id, payload);
        return;
      case frameType.headers:
        this.#headersIn(flags, id, payload);
        return;
      case frameType.priority:
        if (id === 0) throw new ConnectionError(errorCode.protocolError, 'PRIORITY on stream 0');
        if (payload.length !== 5) this.#streamError(id, errorCode.frameSizeError);
        return; // priorities are ignored (RFC 9113 §5.3.2 deprecates them)
      case frameType.rstStream:
        this.#rstIn(id, payload);
        return;
      case frameType.settings:
        this.#settingsIn(flags, id, payload);
        return;
      case frameType.pushPromise:
        // Never enabled here (SETTINGS_ENABLE_PUSH 0 upstream; a client cannot push).
        throw new ConnectionError(errorCode.protocolError, 'PUSH_PROMISE');
      case frameType.ping:
        if (id !== 0) throw new ConnectionError(errorCode.protocolError, 'PING on a stream');
        if (payload.length !== 8) throw new ConnectionError(errorCode.frameSizeError, 'PING size');
        if ((flags & flag.ack) === 0) this.#frame(frameType.ping, flag.ack, 0, Buffer.from(payload));
        return;
      case frameType.goaway:
        this.#goawayIn(id, payload);
        return;
      case frameType.windowUpdate:
        this.#windowUpdateIn(id, payload);
        return;
      case frameType.continuation:
        this.#continuationIn(flags, id, payload);
        return;
      default:
        return; // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  /** The payload without its padding (RFC 9113 §6.1), or a connection error. */
  #unpad(flags: number, payload: Buffer): Buffer {
    if ((flags & flag.padded) === 0) return payload;
    if (payload.length < 1) throw new ConnectionError(errorCode.frameSizeError, 'padded frame without pad length');
    const pad = payload[0] as number;
    if (pad >= payload.length) throw new ConnectionError(errorCode.protocolError, 'padding past the payload');
    return payload.subarray(1, payload.length - pad);
  }

  #dataIn(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(errorCode.protocolError, 'DATA on stream 0');
    const data = this.#unpad(flags, payload);
    const size = payload.length;
    if (size > this.recvWindow) throw new ConnectionError(errorCode.flowControlError, 'connection window exceeded');
    this.recvWindow -= size;
    const s = this.streams.get(id);
    if (s === undefined || s.remoteEnded) {
      this.#creditConnection(size);
      if (this.#idle(id)) throw new ConnectionError(errorCode.protocolError, 'DATA on an idle stream');
      if (s !== undefined) this.#streamError(id, errorCode.streamClosed);
      return;
    }
    if (size > s.recvWindow) {
      this.#creditConnection(size);
      this.#streamError(id, errorCode.flowControlError);
      return;
    }
    s.recvWindow -= size;
    // Padding is passed on at once; the data when the forwarder says so.
    if (size > data.length) this.#creditConnection(size - data.length);
    s.held += data.length;
    const end = (flags & flag.endStream) !== 0;
    if (s.expectedLength >= 0) {
      s.receivedLength += data.length;
      if (s.receivedLength > s.expectedLength || (end && s.receivedLength !== s.expectedLength)) {
        this.#streamError(id, errorCode.protocolError);
        return;
      }
    }
    if (end) this.#remoteEnd(s);
    s.user?.data(s, data, end);
    if (end) this.#maybeClose(s);
  }

  #headersIn(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(errorCode.protocolError, 'HEADERS on stream 0');
    let block = this.#unpad(flags, payload);
    if (flags & flag.priority) {
      if (block.length < 5) throw new ConnectionError(errorCode.frameSizeError, 'HEADERS priority cut short');
      if ((block.readUInt32BE(0) & 0x7fffffff) === id)
        throw new ConnectionError(errorCode.protocolError, 'stream depends on itself');
      block = block.subarray(5);
    }
    const end = (flags & flag.endStream) !== 0;
    if ((flags & flag.endHeaders) === 0) {
      this.#block = { id, end, parts: [Buffer.from(block)], size: block.length };
      return;
    }
    this.#blockIn(id, end, block);
  }

  #continuationIn(flags: number, id: number, payload: Buffer): void {
    const b = this.#block;
    if (b === undefined || b.id !== id) throw new ConnectionError(errorCode.protocolError, 'unexpected CONTINUATION');
    b.parts.push(Buffer.from(payload));
    b.size += payload.length;
    if (b.size > maxHeaderList) throw new ConnectionError(errorCode.enhanceYourCalm, 'header block too large');
    if ((flags & flag.endHeaders) === 0) return;
    this.#block = undefined;
    this.#blockIn(id, b.end, Buffer.concat(b.parts));
  }

  /** A whole header block on stream `id`. */
  #blockIn(id: number, end: boolean, block: Buffer): void {
    // Decoded whatever becomes of the stream: the table must stay in step with the peer's.
    const fields = this.#decoder.decode(block, maxHeaderList);
    let s = this.streams.get(id);
    if (s === undefined) {
      if (this.role === 'client' || id <= this.#lastPeerId) {
        if (this.#idle(id)) throw new ConnectionError(errorCode.protocolError, 'HEADERS on an idle stream');
        return; // a stream already closed (reset here): ignored
      }
      if (id % 2 === 0) throw new ConnectionError(errorCode.protocolError, 'even stream id from a client');
      this.#lastPeerId = id;
      if (this.goingAway) return;
      if (this.streams.size >= maxStreamsPerConnection) {
        this.#frame(frameType.rstStream, 0, id, u32(errorCode.refusedStream));
        return;
      }
      s = new H2Stream(this);
      s.id = id;
      s.sendWindow = this.peerInitialWindow;
      this.streams.set(id, s);
      s.headerBlocks = 1;
      s.expectedLength = contentLength(fields);
      if (s.expectedLength === -2 || (end && s.expectedLength > 0)) {
        this.#streamError(id, errorCode.protocolError);
        return;
      }
      if (end) this.#remoteEnd(s);
      this.owner.request?.(s, fields, end);
      if (end) this.#maybeClose(s);
      return;
    }
    if (s.remoteEnded) {
      this.#streamError(id, errorCode.streamClosed);
      return;
    }
    const informational = this.role === 'client' && s.headerBlocks === 0 && isInformational(fields);
    if (informational) return; // 1xx: dropped (nothing here asks for 100-continue)
    if (s.headerBlocks > 0 && !end) {
      // Trailers must end the stream (RFC 9113 §8.1).
      this.#streamError(id, errorCode.protocolError);
      return;
    }
    if (s.headerBlocks === 0 && this.role === 'client') {
      s.expectedLength = contentLength(fields);
      if (s.expectedLength === -2) {
        this.#streamError(id, errorCode.protocolError);
        return;
      }
    }
    s.headerBlocks++;
    if (end) this.#remoteEnd(s);
    s.user?.headers(s, fields, end);
    if (end) this.#maybeClose(s);
  }

  #rstIn(id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(errorCode.protocolError, 'RST_STREAM on stream 0');
    if (payload.length !== 4) throw new ConnectionError(errorCode.frameSizeError, 'RST_STREAM size');
    const s = this.streams.get(id);
    if (s === undefined) {
      if (this.#idle(id)) throw new ConnectionError(errorCode.protocolError, 'RST_STREAM on an idle stream');
      return;
    }
    const code = payload.readUInt32BE(0);
    this.#forget(s);
    s.user?.closed(s, 'reset', code);
  }

  #settingsIn(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new ConnectionError(errorCode.protocolError, 'SETTINGS on a stream');
    if (flags & flag.ack) {
      if (payload.length !== 0) throw new ConnectionError(errorCode.frameSizeError, 'SETTINGS ACK with a payload');
      return;
    }
    if (payload.length % 6 !== 0) throw new ConnectionError(errorCode.frameSizeError, 'SETTINGS size');
    this.#applySettings(payload);
    this.#frame(frameType.settings, flag.ack, 0);
    this.#pumpBlocked();
    this.#openPending();
  }

  /** The peer's settings (a SETTINGS frame's payload, or `HTTP2-Settings` after an upgrade) take effect. */
  #applySettings(payload: Buffer): void {
    for (let at = 0; at < payload.length; at += 6) {
      const key = payload.readUInt16BE(at);
      const value = payload.readUInt32BE(at + 2);
      switch (key) {
        case setting.headerTableSize:
          this.#encoder.setLimit(value);
          break;
        case setting.enablePush:
          if (value > 1) throw new ConnectionError(errorCode.protocolError, 'SETTINGS_ENABLE_PUSH');
          if (value === 1 && this.role === 'client')
            throw new ConnectionError(errorCode.protocolError, 'a server enabling push');
          break;
        case setting.maxConcurrentStreams:
          this.peerMaxStreams = value;
          break;
        case setting.initialWindowSize: {
          if (value > maxWindow) throw new ConnectionError(errorCode.flowControlError, 'SETTINGS_INITIAL_WINDOW_SIZE');
          const delta = value - this.peerInitialWindow;
          this.peerInitialWindow = value;
          for (const s of this.streams.values()) {
            s.sendWindow += delta;
            if (s.sendWindow > maxWindow) throw new ConnectionError(errorCode.flowControlError, 'window past 2^31-1');
          }
          break;
        }
        case setting.maxFrameSize:
          if (value < 16_384 || value > 16_777_215)
            throw new ConnectionError(errorCode.protocolError, 'SETTINGS_MAX_FRAME_SIZE');
          this.peerMaxFrame = value;
          break;
        default:
          break; // unknown settings are ignored
      }
    }
  }

  #goawayIn(id: number, payload: Buffer): void {
    if (id !== 0) throw new ConnectionError(errorCode.protocolError, 'GOAWAY on a stream');
    if (payload.length < 8) throw new ConnectionError(errorCode.frameSizeError, 'GOAWAY size');
    const last = payload.readUInt32BE(0) & 0x7fffffff;
    const code = payload.readUInt32BE(4);
    this.goingAway = true;
    this.owner.goaway?.(this, last, code);
    if (this.role === 'client') {
      // Streams the peer did not process, and those that never went out, can go elsewhere.
      for (const s of [...this.streams.values()])
        if (s.id > last) {
          this.#forget(s);
          s.user?.closed(s, 'unprocessed', code);
        }
      const pending = this.#pending;
      this.#pending = [];
      for (const s of pending) if (!s.closed) this.#unopened(s);
    }
    if (this.streams.size === 0) this.#end();
  }

  #windowUpdateIn(id: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ConnectionError(errorCode.frameSizeError, 'WINDOW_UPDATE size');
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (id === 0) {
      if (increment === 0) throw new ConnectionError(errorCode.protocolError, 'WINDOW_UPDATE of 0');
      this.sendWindow += increment;
      if (this.sendWindow > maxWindow) throw new ConnectionError(errorCode.flowControlError, 'window past 2^31-1');
      this.#pumpBlocked();
      return;
    }
    const s = this.streams.get(id);
    if (s === undefined) {
      if (this.#idle(id)) throw new ConnectionError(errorCode.protocolError, 'WINDOW_UPDATE on an idle stream');
      return;
    }
    if (increment === 0) {
      this.#streamError(id, errorCode.protocolError);
      return;
    }
    s.sendWindow += increment;
    if (s.sendWindow > maxWindow) {
      this.#streamError(id, errorCode.flowControlError);
      return;
    }
    this.#pump(s);
  }

  /** Whether stream `id` was never opened (a frame other than HEADERS on it is a connection error). */
  #idle(id: number): boolean {
    if (this.role === 'server') return id % 2 === 1 ? id > this.#lastPeerId : true;
    return id % 2 === 1 ? id >= this.#nextId : true;
  }

  /** A stream error (RFC 9113 §5.4.2): RST_STREAM to the peer, the stream's user told it was reset. */
  #streamError(id: number, code: number): void {
    this.#frame(frameType.rstStream, 0, id, u32(code));
    const s = this.streams.get(id);
    if (s === undefined) return;
    this.#forget(s);
    s.user?.closed(s, 'reset', code);
  }

  #creditConnection(n: number): void {
    this.#connCredit += n;
    if (this.#connCredit >= connectionWindow / 4) {
      this.#windowUpdate(0, this.#connCredit);
      this.recvWindow += this.#connCredit;
      this.#connCredit = 0;
    }
  }

  // ---- stream state ----

  #remoteEnd(s: H2Stream): void {
    s.remoteEnded = true;
  }

  #localEnd(s: H2Stream): void {
    s.localEnded = true;
    if (s.closed) return;
    if (!s.remoteEnded && this.role === 'server') {
      // The response is complete before the request: the client need send no more (RFC 9113 §8.1).
      this.#frame(frameType.rstStream, 0, s.id, u32(errorCode.noError));
      this.#forget(s);
      s.user?.closed(s, 'done', undefined);
      return;
    }
    this.#maybeClose(s);
  }

  /** Both sides ended: the stream is over. */
  #maybeClose(s: H2Stream): void {
    if (s.closed || !s.localEnded || !s.remoteEnded) return;
    this.#forget(s);
    s.user?.closed(s, 'done', undefined);
  }

  #forget(s: H2Stream): void {
    if (s.closed) return;
    s.closed = true;
    if (s.id !== 0 && this.streams.get(s.id) === s) {
      this.streams.delete(s.id);
      if (this.role === 'client') this.#localOpen--;
    }
    this.#blocked.delete(s);
    s.queue = [];
    s.queued = 0;
    // What it held counts for the connection as passed on.
    if (s.held > 0) {
      this.#creditConnection(s.held);
      s.held = 0;
    }
    if (this.role === 'client') {
      this.#openPending();
      if (this.streams.size === 0 && this.#pending.length === 0) this.idleSince = Date.now();
    }
    if (this.goingAway && this.streams.size === 0 && this.#pending.length === 0) this.#end();
  }

  #unopened(s: H2Stream): void {
    s.closed = true;
    s.user?.closed(s, 'unopened', undefined);
  }

  // ---- writing ----

  #settings(): void {
    const values: [number, number][] =
      this.role === 'server'
        ? [
            [setting.maxConcurrentStreams, maxStreamsPerConnection],
            [setting.initialWindowSize, streamWindow],
            [setting.maxHeaderListSize, maxHeaderList],
          ]
        : [
            [setting.enablePush, 0],
            [setting.initialWindowSize, streamWindow],
          ];
    const payload = Buffer.alloc(values.length * 6);
    values.forEach(([key, value], i) => {
      payload.writeUInt16BE(key, i * 6);
      payload.writeUInt32BE(value, i * 6 + 2);
    });
    this.#frame(frameType.settings, 0, 0, payload);
    this.#windowUpdate(0, connectionWindow - defaultWindow);
  }

  #windowUpdate(id: number, increment: number): void {
    this.#frame(frameType.windowUpdate, 0, id, u32(increment));
  }

  #headers(s: H2Stream, fields: Field[], end: boolean): void {
    const block = this.#encoder.encode(fields);
    s.headerBlocksSent++;
    const max = this.peerMaxFrame;
    if (block.length <= max) {
      this.#frame(frameType.headers, flag.endHeaders | (end ? flag.endStream : 0), s.id, block);
      return;
    }
    for (let at = 0; at < block.length; at += max) {
      const part = block.subarray(at, at + max);
      const last = at + max >= block.length;
      const type = at === 0 ? frameType.headers : frameType.continuation;
      const flags = (at === 0 && end ? flag.endStream : 0) | (last ? flag.endHeaders : 0);
      this.#frame(type, flags, s.id, part);
    }
  }

  /** Sends what `s` has queued as far as the windows and the socket allow; then its end. */
  #pump(s: H2Stream): void {
    if (s.closed || s.id === 0 || s.localEnded) return;
    while (s.queued > 0) {
      const room = Math.min(s.sendWindow, this.sendWindow, this.peerMaxFrame);
      if (room <= 0 || this.#congested()) {
        this.#blocked.add(s);
        return;
      }
      let piece = s.queue[0] as Buffer;
      if (piece.length > room) {
        s.queue[0] = piece.subarray(room);
        piece = piece.subarray(0, room);
      } else s.queue.shift();
      s.queued -= piece.length;
      s.sendWindow -= piece.length;
      this.sendWindow -= piece.length;
      const last = s.queued === 0 && s.endQueued && s.trailers === undefined;
      this.#frame(frameType.data, last ? flag.endStream : 0, s.id, piece);
      s.user?.drained(s, piece.length);
      if (s.closed) return;
      if (last) {
        this.#blocked.delete(s);
        this.#localEnd(s);
        return;
      }
    }
    this.#blocked.delete(s);
    if (!s.endQueued || s.localEnded) return;
    if (s.trailers !== undefined) this.#headers(s, s.trailers, true);
    else this.#frame(frameType.data, flag.endStream, s.id);
    this.#localEnd(s);
  }

  #pumpBlocked(): void {
    if (this.#blocked.size === 0) return;
    for (const s of [...this.#blocked]) {
      if (this.#congested() || this.sendWindow <= 0) return;
      this.#pump(s);
    }
  }

  #congested(): boolean {
    return this.socket.writableLength + this.#outBytes > socketHighWater;
  }

  #frame(type: number, flags: number, id: number, payload?: Buffer): void {
    const length = payload === undefined ? 0 : payload.length;
    const head = Buffer.allocUnsafe(9);
    head[0] = length >>> 16;
    head[1] = (length >>> 8) & 0xff;
    head[2] = length & 0xff;
    head[3] = type;
    head[4] = flags;
    head.writeUInt32BE(id, 5);
    this.#write(head);
    if (payload !== undefined && length > 0) this.#write(payload);
  }

  #write(bytes: Buffer): void {
    if (this.closed) return;
    this.#out.push(bytes);
    this.#outBytes += bytes.length;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#flushing || this.#outBytes === 0) return;
    this.#flushing = true;
    process.nextTick(this.#flush);
  }

  readonly #flush = (): void => {
    this.#flushing = false;
    if (this.#outBytes === 0 || this.socket.destroyed) return;
    const out = this.#out.length === 1 ? (this.#out[0] as Buffer) : Buffer.concat(this.#out, this.#outBytes);
    this.#out = [];
    this.#outBytes = 0;
    this.socket.write(out);
  };

  /** A connection error (RFC 9113 §5.4.1): GOAWAY with `code`, then the connection closes. */
  #fail(code: number): void {
    if (this.closed) return;
    const payload = Buffer.alloc(8);
    payload.writeUInt32BE(this.role === 'server' ? this.#lastPeerId : 0, 0);
    payload.writeUInt32BE(code, 4);
    this.#frame(frameType.goaway, 0, 0, payload);
    this.goingAway = true;
    this.#end();
  }

  /** Writes what is pending and closes the connection. */
  #end(): void {
    if (this.closed) return;
    this.#flush();
    this.socket.end();
    // A peer that does not close its side is not waited for long.
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.#closed();
  }

  #closed(): void {
    if (this.closed) return;
    this.closed = true;
    this.goingAway = true;
    const streams = [...this.streams.values()];
    this.streams.clear();
    const pending = this.#pending;
    this.#pending = [];
    this.#blocked.clear();
    for (const s of streams) {
      if (s.closed) continue;
      s.closed = true;
      s.user?.closed(s, 'lost', undefined);
    }
    for (const s of pending) if (!s.closed) this.#unopened(s);
    this.owner.closed(this);
  }
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
}

/** The `content-length` among `fields`: -1 when there is none, -2 when it is not one valid number. */
function contentLength(fields: Field[]): number {
  let found = -1;
  for (const [name, value] of fields) {
    if (name !== 'content-length') continue;
    if (!/^\d{1,15}$/.test(value)) return -2;
    const n = Number(value);
    if (found !== -1 && found !== n) return -2;
    found = n;
  }
  return found;
}

function isInformational(fields: Field[]): boolean {
  for (const [name, value] of fields) if (name === ':status') return value.length === 3 && value[0] === '1';
  return false;
}
