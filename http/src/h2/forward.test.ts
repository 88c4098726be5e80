import {
  type ClientHttp2Session,
  connect as connectHttp2,
  createServer as createHttp2Server,
  type Http2Server,
  constants as h2,
  type ServerHttp2Stream,
} from 'node:http2';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RequestHead, ResponseHead } from '../http1/parse.ts';
import { forwardRequestHead, forwardResponseHead } from '../http1/write.ts';
import { Deadlines } from '../proxy/deadlines.ts';
import type { Answer, Hop, Pending, Route } from '../proxy/engine.ts';
import { EndpointPool } from '../proxy/pool.ts';
import { preface } from './accept.ts';
import { errorCode, flag, frameType } from './conn.ts';
import { H2Forwarder } from './forward.ts';
import { type Field, HpackDecoder, HpackEncoder } from './hpack.ts';

/** Everything to one upstream; counts what the hop is told. */
class TestHop implements Hop<true>, Route<true> {
  readonly deadlines = new Deadlines(10);
  readonly headerTimeoutMs = 5000;
  readonly maxBodyBytes = 0;
  readonly upstreamProtocol = 'as-received';
  upstream: EndpointPool;
  timeoutMs = 0;
  entered = 0;
  released = 0;
  statuses: number[] = [];
  constructor(port: number) {
    this.upstream = new EndpointPool('127.0.0.1', port);
  }
  route(): Route<true> {
    return this;
  }
  forget(): void {}
  enter(): true {
    this.entered++;
    return true;
  }
  cancel(): void {}
  release(): void {
    this.released++;
  }
  retryElsewhere(): undefined {
    this.released++;
    return undefined;
  }
  pool(): EndpointPool {
    return this.upstream;
  }
  requestHead(head: RequestHead, client: string): string {
    return forwardRequestHead(head, client);
  }
  responseHead(head: ResponseHead, close: boolean, keepAliveFor10: boolean): string {
    return forwardResponseHead(head, close, keepAliveFor10);
  }
  ownRequestHeader(): undefined {
    return undefined;
  }
  ownResponseHeader(): { name: string; value: string } {
    return { name: 'x-hop', value: 'test' };
  }
  expired(ex: Pending<true>, now: number): string | undefined {
    return this.timeoutMs > 0 && now - ex.startedAt > this.timeoutMs ? 'total' : undefined;
  }
  queueFull(): Answer {
    return { status: 503, message: 'full' };
  }
  timeout(): Answer {
    return { status: 504, message: 'timeout' };
  }
  failed(reason: string): Answer {
    return { status: 502, message: reason };
  }
  bodyTooLarge(): Answer {
    return { status: 413, message: 'too large' };
  }
  finished(_ex: Pending<true>, status: number): void {
    this.statuses.push(status);
  }
}

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));
async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await tick(5);
  }
}

interface Frame {
  type: number;
  flags: number;
  id: number;
  payload: Buffer;
}

function frame(type: number, flags: number, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(id, 5);
  return Buffer.concat([head, payload]);
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

/** A client that speaks raw frames, to send what a well-behaved library would not. */
class RawClient {
  readonly socket: Socket;
  readonly frames: Frame[] = [];
  readonly encoder = new HpackEncoder();
  readonly decoder = new HpackDecoder();
  #buf = Buffer.alloc(0);
  closed = false;

  constructor(port: number, settings: Buffer = Buffer.alloc(0)) {
    this.socket = connect({ host: '127.0.0.1', port, noDelay: true });
    this.socket.write(Buffer.concat([preface, frame(frameType.settings, 0, 0, settings)]));
    this.socket.on('data', (chunk: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, chunk]);
      while (this.#buf.length >= 9) {
        const length = this.#buf.readUIntBE(0, 3);
        if (this.#buf.length < 9 + length) break;
        this.frames.push({
          type: this.#buf[3] as number,
          flags: this.#buf[4] as number,
          id: this.#buf.readUInt32BE(5) & 0x7fffffff,
          payload: this.#buf.subarray(9, 9 + length),
        });
        this.#buf = this.#buf.subarray(9 + length);
      }
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closed = true;
    });
  }

  send(...frames: Buffer[]): void {
    this.socket.write(Buffer.concat(frames));
  }

  headers(id: number, fields: Field[], flags: number = flag.endHeaders): Buffer {
    return frame(frameType.headers, flags, id, this.encoder.encode(fields));
  }

  async next(type: number, id?: number): Promise<Frame> {
    let found: Frame | undefined;
    await until(() => {
      found = this.frames.find((f) => f.type === type && (id === undefined || f.id === id));
      return found !== undefined;
    });
    return found as Frame;
  }

  async goaway(): Promise<number> {
    const f = await this.next(frameType.goaway);
    return f.payload.readUInt32BE(4);
  }

  async reset(id: number): Promise<number> {
    const f = await this.next(frameType.rstStream, id);
    return f.payload.readUInt32BE(0);
  }

  /** The response header blocks on stream `id` decoded, in order. */
  blocks(id: number): Field[][] {
    return this.frames
      .filter((f) => f.type === frameType.headers && f.id === id)
      .map((f) => this.decoder.decode(f.payload));
  }

  close(): void {
    this.socket.destroy();
  }
}

const get = (path = '/'): Field[] => [
  [':method', 'GET'],
  [':scheme', 'http'],
  [':authority', 'example.com'],
  [':path', path],
];

describe('frame-level HTTP/2 forwarder', () => {
  let app: Http2Server;
  let hop: TestHop;
  let fwd: H2Forwarder<true>;
  let front: Server;
  let port: number;
  /** What the app does with each stream, by path. */
  const handlers = new Map<string, (stream: ServerHttp2Stream, headers: Record<string, unknown>) => void>();
  const appEvents: string[] = [];

  beforeAll(async () => {
    app = createHttp2Server();
    app.on('stream', (stream, headers) => {
      stream.on('error', () => {});
      const handler = handlers.get(String(headers[':path']).split('?')[0] as string);
      if (handler) handler(stream, headers);
      else {
        stream.respond({ ':status': 404 });
        stream.end();
      }
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    hop = new TestHop((app.address() as AddressInfo).port);
    fwd = new H2Forwarder(hop);
    front = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => fwd.accept(socket));
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    port = (front.address() as AddressInfo).port;

    handlers.set('/echo', (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        stream.respond(
          { ':status': 200, 'x-seen-xff': String(headers['x-forwarded-for']), 'x-seen-te': String(headers.te) },
          { waitForTrailers: true },
        );
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'ok' }));
        stream.end(Buffer.concat(chunks));
      });
    });
    handlers.set('/big', (stream) => {
      stream.respond({ ':status': 200 });
      stream.end(Buffer.alloc(2 * 1024 * 1024, 7));
    });
    handlers.set('/hang', (stream) => {
      stream.on('close', () => appEvents.push(`hang closed ${stream.rstCode}`));
      stream.respond({ ':status': 200 });
      stream.write('partial');
    });
    handlers.set('/reset-after-headers', (stream) => {
      stream.respond({ ':status': 200 });
      // destroy with an error: RST_STREAM INTERNAL_ERROR without ending the stream first (close() ends it).
      stream.write('x', () => stream.destroy(new Error('app failed')));
    });
    handlers.set('/reset-before', (stream) => stream.close(h2.NGHTTP2_INTERNAL_ERROR));
    handlers.set('/no-read', (stream) => {
      stream.pause();
      appEvents.push('no-read opened');
    });
  });

  afterAll(async () => {
    fwd.close();
    front.close();
    app.close();
  });

  afterEach(() => {
    hop.timeoutMs = 0;
  });

  function client(): ClientHttp2Session {
    const c = connectHttp2(`http://127.0.0.1:${port}`);
    c.on('error', () => {});
    return c;
  }

  it('passes a request, its body, the response, and trailers, with the hop headers', async () => {
    const c = client();
    const req = c.request({ ':method': 'POST', ':path': '/echo', te: 'trailers', 'x-forwarded-for': '10.0.0.1' });
    let head: Record<string, unknown> = {};
    let trailers: Record<string, unknown> = {};
    req.on('response', (h) => {
      head = h;
    });
    req.on('trailers', (t) => {
      trailers = t;
    });
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.write('hello ');
    req.end('world');
    await new Promise((r) => req.on('end', r));
    c.close();
    expect(head[':status']).toBe(200);
    expect(head['x-seen-xff']).toBe('10.0.0.1, 127.0.0.1');
    expect(head['x-seen-te']).toBe('trailers');
    expect(head['x-hop']).toBe('test');
    expect(Buffer.concat(chunks).toString()).toBe('hello world');
    expect(trailers).toMatchObject({ 'grpc-status': '0', 'grpc-message': 'ok' });
  });

  it('passes 2 MiB both ways through the windows, bytes intact, many streams at once', async () => {
    const c = client();
    const big = Buffer.alloc(2 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    const one = async () => {
      const req = c.request({ ':method': 'POST', ':path': '/echo' });
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.end(big);
      await new Promise((r) => req.on('end', r));
      return Buffer.concat(chunks);
    };
    const results = await Promise.all([one(), one(), one(), one()]);
    c.close();
    for (const r of results) expect(r.equals(big)).toBe(true);
  });

  it('holds a client back by its windows when the upstream does not read (no unbounded buffering)', async () => {
    const raw = new RawClient(port);
    raw.send(
      raw.headers(
        1,
        [...get('/no-read').slice(0, 3), [':path', '/no-read']].map((f, i) =>
          i === 0 ? [':method', 'POST'] : f,
        ) as Field[],
      ),
    );
    await until(() => appEvents.includes('no-read opened'));
    // Send as much as the windows allow: the stream's 256 KiB, then whatever WINDOW_UPDATEs add.
    const chunk = Buffer.alloc(16_384, 1);
    for (let i = 0; i < 64; i++) raw.send(frame(frameType.data, 0, 1, chunk)); // 1 MiB, past the stream's window
    await tick(300);
    // The app's window (65,535) is all that went upstream, so no more than that was credited back.
    const credited = raw.frames
      .filter((f) => f.type === frameType.windowUpdate && f.id === 1)
      .reduce((n, f) => n + f.payload.readUInt32BE(0), 0);
    expect(credited).toBeLessThanOrEqual(65_535);
    // Past its window (256 KiB) the client broke the rules: a stream error FLOW_CONTROL_ERROR.
    expect(await raw.reset(1)).toBe(errorCode.flowControlError);
    raw.close();
  });

  it('a slow client gets a large response whole while it grants the window bit by bit', async () => {
    // Initial window 16 KiB (SETTINGS_INITIAL_WINDOW_SIZE), and a connection window kept small too.
    const settings = Buffer.alloc(6);
    settings.writeUInt16BE(0x4, 0);
    settings.writeUInt32BE(16_384, 2);
    const raw = new RawClient(port, settings);
    raw.send(raw.headers(1, get('/big'), flag.endHeaders | flag.endStream));
    let got = 0;
    let ended = false;
    const end = Date.now() + 10_000;
    let seen = 0;
    while (!ended && Date.now() < end) {
      await tick(2);
      const fresh = raw.frames.slice(seen);
      seen = raw.frames.length;
      let n = 0;
      for (const f of fresh)
        if (f.type === frameType.data && f.id === 1) {
          n += f.payload.length;
          if (f.flags & flag.endStream) ended = true;
        }
      got += n;
      if (n > 0) raw.send(frame(frameType.windowUpdate, 0, 1, u32(n)), frame(frameType.windowUpdate, 0, 0, u32(n)));
      // Never more in flight than the windows allow.
      expect(got).toBeLessThanOrEqual(got - n + 16_384 + 65_535);
    }
    raw.close();
    expect(ended).toBe(true);
    expect(got).toBe(2 * 1024 * 1024);
  });

  it('a client reset cancels the stream upstream and releases the slot', async () => {
    const before = { released: hop.released, finished: hop.statuses.length };
    const c = client();
    const req = c.request({ ':path': '/hang' });
    await new Promise((r) => req.on('response', r));
    req.close(h2.NGHTTP2_CANCEL);
    await until(() => appEvents.some((e) => e.startsWith('hang closed')));
    c.close();
    expect(appEvents).toContain(`hang closed ${h2.NGHTTP2_CANCEL}`);
    await until(() => hop.released > before.released && hop.statuses.length > before.finished);
    expect(hop.statuses.at(-1)).toBe(200);
  });

  it('an upstream reset after the headers resets the client stream with its code; before them, 502', async () => {
    const raw = new RawClient(port);
    raw.send(raw.headers(1, get('/reset-after-headers'), flag.endHeaders | flag.endStream));
    expect(await raw.reset(1)).toBe(errorCode.internalError);
    raw.close();
    const c = client();
    const req2 = c.request({ ':path': '/reset-before' });
    let status = 0;
    req2.on('response', (h) => {
      status = Number(h[':status']);
    });
    req2.resume();
    await new Promise((r) => req2.on('end', r));
    c.close();
    expect(status).toBe(502);
  });

  it('ends a gRPC call past its deadline with DEADLINE_EXCEEDED in the trailers', async () => {
    hop.timeoutMs = 100;
    const c = client();
    const req = c.request({ ':method': 'POST', ':path': '/hang', 'content-type': 'application/grpc' });
    let trailers: Record<string, unknown> = {};
    req.on('trailers', (t) => {
      trailers = t;
    });
    req.resume();
    await new Promise((r) => req.on('end', r));
    c.close();
    expect(trailers['grpc-status']).toBe('4');
  });

  it('answers PING, acknowledges SETTINGS, and takes padded HEADERS split over CONTINUATION', async () => {
    const raw = new RawClient(port);
    raw.send(frame(frameType.ping, 0, 0, Buffer.from('12345678')));
    expect((await raw.next(frameType.ping)).payload.toString()).toBe('12345678');
    expect((await raw.next(frameType.settings)).flags & flag.ack).toBe(0);
    await until(() => raw.frames.some((f) => f.type === frameType.settings && f.flags & flag.ack));
    const block = raw.encoder.encode([...get('/echo'), ['x-long', 'y'.repeat(100)]]);
    const padded = Buffer.concat([Buffer.from([3]), block.subarray(0, 10), Buffer.alloc(3)]);
    raw.send(
      frame(frameType.headers, flag.padded | flag.endStream, 1, padded),
      frame(frameType.priority, 0, 1, Buffer.alloc(5)),
    );
    // PRIORITY between HEADERS and CONTINUATION is a connection error; send the rest properly instead.
    raw.close();
    const raw2 = new RawClient(port);
    raw2.send(
      frame(frameType.headers, flag.padded | flag.endStream, 1, padded),
      frame(frameType.continuation, flag.endHeaders, 1, block.subarray(10)),
      frame(frameType.priority, 0, 1, Buffer.alloc(5)),
    );
    await until(() => raw2.frames.some((f) => f.id === 1 && f.flags & flag.endStream));
    const [head, trailers] = raw2.blocks(1);
    expect(head).toContainEqual([':status', '200']);
    expect(trailers).toContainEqual(['grpc-status', '0']);
    raw2.close();
  });

  it('GOAWAY from a client: the open stream finishes, then the connection closes', async () => {
    const raw = new RawClient(port);
    raw.send(raw.headers(1, [[':method', 'POST'], ...get('/echo').slice(1)]));
    raw.send(frame(frameType.goaway, 0, 0, Buffer.concat([u32(1), u32(0)])));
    raw.send(frame(frameType.data, flag.endStream, 1, Buffer.from('late')));
    await until(() => raw.closed);
    const data = raw.frames.filter((f) => f.type === frameType.data && f.id === 1);
    expect(Buffer.concat(data.map((f) => f.payload)).toString()).toBe('late');
  });

  it('GOAWAY from the upstream: later streams go on a new connection', async () => {
    const c = client();
    const call = async () => {
      const req = c.request({ ':path': '/echo', ':method': 'POST' });
      req.resume();
      req.end('x');
      let status = 0;
      req.on('response', (h) => {
        status = Number(h[':status']);
      });
      await new Promise((r) => req.on('close', r));
      return status;
    };
    expect(await call()).toBe(200);
    const before = sessionsOpened;
    // The app says goodbye on every connection it has.
    for (const session of appSessions) session.goaway(h2.NGHTTP2_NO_ERROR);
    await tick(50);
    expect(await call()).toBe(200);
    expect(sessionsOpened).toBe(before + 1);
    c.close();
  });

  const appSessions = new Set<import('node:http2').ServerHttp2Session>();
  let sessionsOpened = 0;
  beforeAll(() => {
    app.on('session', (s) => {
      sessionsOpened++;
      appSessions.add(s);
      s.on('close', () => appSessions.delete(s));
    });
  });

  const malformed: { name: string; frames: (raw: RawClient) => Buffer[]; expect: 'goaway' | 'reset'; code: number }[] =
    [
      {
        name: 'a frame past SETTINGS_MAX_FRAME_SIZE',
        frames: () => [frame(frameType.data, 0, 1, Buffer.alloc(16_385))],
        expect: 'goaway',
        code: errorCode.frameSizeError,
      },
      {
        name: 'DATA on stream 0',
        frames: () => [frame(frameType.data, 0, 0, Buffer.from('x'))],
        expect: 'goaway',
        code: errorCode.protocolError,
      },
      {
        name: 'DATA on an idle stream',
        frames: () => [frame(frameType.data, 0, 5, Buffer.from('x'))],
        expect: 'goaway',
        code: errorCode.protocolError,
      },
      {
        name: 'HEADERS on stream 0',
        frames: (r) => [r.headers(0, get())],
        expect: 'goaway',
        code: errorCode.protocolError,
      },
      {
        name: 'an even stream id from a client',
        frames: (r) => [r.headers(2, get())],
        expect: 'goaway',
        code: errorCode.protocolError,
      },
      {
        name: 'an undecodable header block',
        frames: () => [frame(frameType.headers, flag.endHeaders | flag.endStream, 1, Buffer.from([0xff, 0xff]))],
        expect: 'goaway',
        code: errorCode.compressionError,
      },
      {
        name: 'padding past the payload',
        frames: () => [frame(frameType.headers, flag.endHeaders | flag.padded, 1, Buffer.from([9, 0x82]))],
        expect: 'goaway',
        code: errorCode.protocolError,
      },
      {
        name: 'another frame where CONTINUATION is due',
        frames: (r) => [r.headers(1, get(), 0), frame(frameType.ping, 0, 0, Buffer.alloc(8))],
        expect: 'goaway',
        code: errorCode.protocolError,
      },
      {
        name: 'SETTINGS of 5 bytes',
        frames: () => [frame(frameType.settings, 0, 0, Buffer.alloc(5))],
        expect: 'goaway',
        code: errorCode.frameSizeError,
      },
      {
        name: 'SETTINGS_INITIAL_WINDOW_SIZE past 2^31-1',
        frames: () => [frame(frameType.settings, 0, 0, Buffer.from([0, 4, 0x80, 0, 0, 0]))],
        expect: 'goaway',
        code: errorCode.flowControlError,
      },
      {
        name: 'PING of 7 bytes',
        frames: () => [frame(frameType.ping, 0, 0, Buffer.alloc(7))],
        expect: 'goaway',
        code: errorCode.frameSizeError,
      },
      {
        name: 'WINDOW_UPDATE of 0 on the connection',
        frames: () => [frame(frameType.windowUpdate, 0, 0, u32(0))],
        expect: 'goaway',
        code: errorCode.protocolError,
      },
      {
        name: 'a connection window past 2^31-1',
        frames: () => [frame(frameType.windowUpdate, 0, 0, u32(0x7fffffff))],
        expect: 'goaway',
        code: errorCode.flowControlError,
      },
      {
        name: 'PUSH_PROMISE from a client',
        frames: () => [frame(frameType.pushPromise, flag.endHeaders, 1, u32(2))],
        expect: 'goaway',
        code: errorCode.protocolError,
      },
      {
        name: 'RST_STREAM on an idle stream',
        frames: () => [frame(frameType.rstStream, 0, 7, u32(8))],
        expect: 'goaway',
        code: errorCode.protocolError,
      },
      {
        name: 'a request without :path',
        frames: (r) => [r.headers(1, get().slice(0, 3), flag.endHeaders | flag.endStream)],
        expect: 'reset',
        code: errorCode.protocolError,
      },
      {
        name: 'a pseudo-header after a regular one',
        frames: (r) => [
          r.headers(1, [...get().slice(0, 3), ['x-a', 'b'], [':path', '/']], flag.endHeaders | flag.endStream),
        ],
        expect: 'reset',
        code: errorCode.protocolError,
      },
      {
        name: 'an upper-case name',
        frames: (r) => [r.headers(1, [...get(), ['X-Up', 'b']], flag.endHeaders | flag.endStream)],
        expect: 'reset',
        code: errorCode.protocolError,
      },
      {
        name: 'a connection-specific field',
        frames: (r) => [r.headers(1, [...get(), ['transfer-encoding', 'chunked']], flag.endHeaders | flag.endStream)],
        expect: 'reset',
        code: errorCode.protocolError,
      },
      {
        name: 'a CR LF in a value',
        frames: (r) => [r.headers(1, [...get(), ['x-a', 'b\r\nx-injected: 1']], flag.endHeaders | flag.endStream)],
        expect: 'reset',
        code: errorCode.protocolError,
      },
      {
        name: 'DATA longer than content-length',
        frames: (r) => [
          r.headers(1, [[':method', 'POST'], ...get('/no-read').slice(1), ['content-length', '2']]),
          frame(frameType.data, flag.endStream, 1, Buffer.from('abc')),
        ],
        expect: 'reset',
        code: errorCode.protocolError,
      },
      {
        name: 'a WINDOW_UPDATE of 0 on a stream',
        frames: (r) => [
          r.headers(1, [[':method', 'POST'], ...get('/no-read').slice(1)]),
          frame(frameType.windowUpdate, 0, 1, u32(0)),
        ],
        expect: 'reset',
        code: errorCode.protocolError,
      },
      {
        name: 'trailers without END_STREAM',
        frames: (r) => [r.headers(1, [[':method', 'POST'], ...get('/no-read').slice(1)]), r.headers(1, [['x-t', '1']])],
        expect: 'reset',
        code: errorCode.protocolError,
      },
    ];

  for (const m of malformed)
    it(`malformed: ${m.name} is a ${m.expect === 'goaway' ? 'connection' : 'stream'} error`, async () => {
      const raw = new RawClient(port);
      raw.send(...m.frames(raw));
      if (m.expect === 'goaway') {
        expect(await raw.goaway()).toBe(m.code);
        await until(() => raw.closed);
      } else {
        expect(await raw.reset(1)).toBe(m.code);
        // The connection goes on: another stream is served.
        raw.send(raw.headers(3, get('/echo'), flag.endHeaders | flag.endStream));
        await until(() => raw.frames.some((f) => f.type === frameType.headers && f.id === 3));
        raw.close();
      }
    });
});
