import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { route as contractRoute, revision } from '../edge-router/contract.ts';
import { ControlPlaneStub } from '../helpers/control-plane-stub.ts';
import { type RouterProc, startRouter, stopRouters } from '../helpers/edge-router.ts';
import { get } from '../helpers/http.ts';
import {
  freePort,
  type QueueProxyProc,
  start,
  startApp,
  startQueueProxy,
  stopAll,
  waitFor,
} from '../helpers/processes.ts';

const h2cApp = fileURLToPath(new URL('../apps/h2c.mjs', import.meta.url));

interface Curl {
  bodies: string[];
  versions: string[];
}

/**
 * curl (libcurl with nghttp2) asking for HTTP/2 on a cleartext URL: it sends each first request
 * as HTTP/1.1 with `Upgrade: h2c` and goes on over HTTP/2 when the server switches. URLs after the
 * first reuse the connection.
 */
function curlHttp2(host: string, urls: string[], how = '--http2'): Promise<Curl> {
  const args = ['-sS', how, '-H', `host: ${host}`];
  for (const url of urls) args.push(url, '-w', '\n@@%{http_version}@@\n');
  return new Promise((resolve, reject) => {
    execFile('curl', args, { timeout: 10_000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`curl: ${error.message} ${stderr}`));
      const bodies: string[] = [];
      const versions: string[] = [];
      for (const m of stdout.matchAll(/([\s\S]*?)\n@@([\d.]+)@@\n/g)) {
        bodies.push(m[1] as string);
        versions.push(m[2] as string);
      }
      resolve({ bodies, versions });
    });
  });
}

/** A raw HTTP/1.1 exchange: what the server writes back within `ms` to `text`. */
function raw(port: number, text: string, ms = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let out = '';
    socket.setEncoding('latin1');
    socket.on('data', (d) => {
      out += d;
    });
    socket.on('error', reject);
    const timer = setTimeout(() => socket.destroy(), ms);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

/** One HTTP/2 frame (RFC 9113 §4.1). */
function frame(type: number, flags: number, stream: number, payload = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** The whole frames at the start of `bytes`. */
function frames(bytes: Buffer): Frame[] {
  const out: Frame[] = [];
  let at = 0;
  while (bytes.length - at >= 9) {
    const length = bytes.readUIntBE(at, 3);
    if (bytes.length - at < 9 + length) break;
    out.push({
      type: bytes[at + 3] as number,
      flags: bytes[at + 4] as number,
      stream: bytes.readUInt32BE(at + 5),
      payload: bytes.subarray(at + 9, at + 9 + length),
    });
    at += 9 + length;
  }
  return out;
}

const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

// HTTP/2 by `Upgrade: h2c` (RFC 7540 §3.2) from an HTTP/1.1 client at the Node router, as well as
// with prior knowledge (grpc.test.ts): the upgraded request is stream 1 of an HTTP/2 connection
// that goes router → queue-proxy → app over h2c.
describe('Upgrade: h2c at the router', () => {
  const cp = new ControlPlaneStub();
  let router: RouterProc;
  let qp: QueueProxyProc;
  let http1Qp: QueueProxyProc;

  async function h2cAppPort(): Promise<number> {
    const port = await freePort();
    await start(process.execPath, [h2cApp], { PORT: String(port) }, /h2c app listening/);
    return port;
  }

  /** The snapshot; `cold` (an h2c revision) has the replicas in `coldEndpoints` (none at first). */
  function publish(coldEndpoints: string[]): void {
    cp.publish({
      routes: [
        contractRoute('h2', [{ revisionName: 'h2-00001', percent: 100 }], { hosts: ['h2.example'] }),
        contractRoute('plain', [{ revisionName: 'plain-00001', percent: 100 }], { hosts: ['plain.example'] }),
        contractRoute('cold', [{ revisionName: 'cold-00001', percent: 100 }], { hosts: ['cold.example'] }),
      ],
      revisions: [
        revision('h2-00001', [qp.url], { protocol: 'h2c' }),
        revision('plain-00001', [http1Qp.url]),
        revision('cold-00001', coldEndpoints, { protocol: 'h2c' }),
      ],
    });
  }

  beforeAll(async () => {
    qp = await startQueueProxy(await h2cAppPort(), { SERVING_REVISION: 'h2-00001' });
    http1Qp = await startQueueProxy((await startApp({ TARGET: 'plain' })).port, { SERVING_REVISION: 'plain-00001' });
    await cp.start();
    publish([]);
    router = await startRouter('node', { SKIFF_CONTROL_PLANE_URL: cp.url, SKIFF_ROUTER_TOKEN: cp.token });
    await waitFor(
      async () => (await get(`${router.url}/`, { headers: { host: 'plain.example' } })).status === 200,
      10_000,
      'the route',
    );
  });

  afterAll(async () => {
    await cp.stop();
    await stopRouters();
    await stopAll();
  });

  it('switches to HTTP/2 for a revision whose port is named h2c, and keeps the connection for more streams', async () => {
    const r = await curlHttp2('h2.example', [`${router.url}/first?x=1`, `${router.url}/second`]);
    expect(r.versions).toEqual(['2', '2']);
    const [first, second] = r.bodies.map((b) => JSON.parse(b));
    expect(first).toMatchObject({ httpVersion: '2.0', method: 'GET', path: '/first?x=1', authority: 'h2.example' });
    // The client, then the router (added by the queue-proxy).
    expect(first.forwardedFor).toBe('127.0.0.1, 127.0.0.1');
    expect(second).toMatchObject({ httpVersion: '2.0', path: '/second' });
    // The same with prior knowledge (no Upgrade): the same answer.
    const known = await curlHttp2('h2.example', [`${router.url}/first?x=1`], '--http2-prior-knowledge');
    expect(known.versions).toEqual(['2']);
    expect(JSON.parse(known.bodies[0] as string)).toEqual(first);
  });

  it('answers 101 with the upgrade and then HTTP/2 frames on the same connection', async () => {
    // HTTP2-Settings: an empty SETTINGS payload.
    const out = await raw(
      router.port,
      'GET / HTTP/1.1\r\nHost: h2.example\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: \r\n\r\n',
    );
    expect(out).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(out).toMatch(/\r\nupgrade: h2c\r\n/i);
    // Then the server's preface: a SETTINGS frame (type 4 on stream 0) right after the 101's head.
    const frames = Buffer.from(out.slice(out.indexOf('\r\n\r\n') + 4), 'latin1');
    expect(frames[3]).toBe(4);
    expect(frames.readUInt32BE(5)).toBe(0);
  });

  it("applies the client's HTTP2-Settings: stream 1's response waits for the window they set, with no ACK of them", async () => {
    // SETTINGS_INITIAL_WINDOW_SIZE (0x4) = 8 bytes.
    const settings = Buffer.from([0, 4, 0, 0, 0, 8]).toString('base64url');
    const socket = connect(router.port, '127.0.0.1');
    let got = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
    });
    socket.write(
      'GET /windowed HTTP/1.1\r\nHost: h2.example\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n' +
        `HTTP2-Settings: ${settings}\r\n\r\n`,
    );
    try {
      await waitFor(() => got.indexOf('\r\n\r\n') > 0, 5_000, 'the 101');
      expect(got.toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
      // The client's preface and an empty SETTINGS frame, as after any 101.
      socket.write(Buffer.concat([preface, frame(4, 0, 0)]));
      const after = () => frames(got.subarray(got.indexOf('\r\n\r\n') + 4));
      const data = () => after().filter((f) => f.type === 0 && f.stream === 1);
      await waitFor(() => after().some((f) => f.type === 1 && f.stream === 1), 5_000, "stream 1's response");
      await new Promise((r) => setTimeout(r, 300));
      // Eight bytes of the body, no more, and the stream not ended: the window holds the rest.
      expect(data().reduce((n, f) => n + f.payload.length, 0)).toBe(8);
      expect(data().some((f) => f.flags & 1)).toBe(false);
      // One SETTINGS ACK: for the client's SETTINGS frame; the 101 acknowledged its HTTP2-Settings.
      expect(after().filter((f) => f.type === 4 && f.flags & 1)).toHaveLength(1);
      const increment = Buffer.alloc(4);
      increment.writeUInt32BE(1_000_000);
      socket.write(frame(8, 0, 1, increment));
      await waitFor(() => data().some((f) => f.flags & 1), 5_000, 'the rest of the body');
      const body = Buffer.concat(data().map((f) => f.payload)).toString();
      expect(JSON.parse(body)).toMatchObject({ httpVersion: '2.0', method: 'GET', path: '/windowed' });
    } finally {
      socket.destroy();
    }
  });

  it('holds an upgraded request for a revision at zero until a replica is ready', async () => {
    const reply = curlHttp2('cold.example', [`${router.url}/cold`]);
    await waitFor(() => cp.pokes.some((p) => p.revision === 'cold-00001'), 5_000, 'a poke');
    const woken = await startQueueProxy(await h2cAppPort(), { SERVING_REVISION: 'cold-00001' });
    publish([woken.url]);
    const r = await reply;
    expect(r.versions).toEqual(['2']);
    expect(JSON.parse(r.bodies[0] as string)).toMatchObject({ httpVersion: '2.0', path: '/cold' });
  });

  it('serves the request over HTTP/1.1 when the revision speaks HTTP/1.1 (the Upgrade is ignored)', async () => {
    const r = await curlHttp2('plain.example', [`${router.url}/`]);
    expect(r.versions).toEqual(['1.1']);
    expect(r.bodies[0]).toContain('plain');
  });

  it('keeps a request with a body on HTTP/1.1 (no switch before the body is read)', async () => {
    const out = await raw(
      router.port,
      'POST / HTTP/1.1\r\nHost: plain.example\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: \r\nContent-Length: 5\r\n\r\nhello',
    );
    expect(out).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('closes the connection when what follows the 101 is not the HTTP/2 preface', async () => {
    const out = await raw(
      router.port,
      'GET / HTTP/1.1\r\nHost: h2.example\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: \r\n\r\nGET / HTTP/1.1\r\nHost: h2.example\r\n\r\n',
      3000,
    );
    expect(out).toMatch(/^HTTP\/1\.1 101 /);
    expect(out).not.toContain('HTTP/1.1 200');
  });
});
