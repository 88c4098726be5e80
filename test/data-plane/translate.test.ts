import { execFile } from 'node:child_process';
import { connect as connectHttp2, type IncomingHttpHeaders } from 'node:http2';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { route as contractRoute, revision } from '../edge-router/contract.ts';
import { ControlPlaneStub } from '../helpers/control-plane-stub.ts';
import { type RouterProc, startRouter, stopRouters } from '../helpers/edge-router.ts';
import { get } from '../helpers/http.ts';
import { freePort, start, startApp, startQueueProxy, stopAll, waitFor } from '../helpers/processes.ts';

const h2cApp = fileURLToPath(new URL('../apps/h2c.mjs', import.meta.url));
const grpcApp = fileURLToPath(new URL('../apps/grpc.mjs', import.meta.url));

/** What the server writes back to `text` (raw HTTP/1.x) until it closes, or `ms` passes. */
function raw(port: number, text: string | Buffer, ms = 3000): Promise<string> {
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

/** A gRPC message frame (uncompressed), JSON as test/apps/grpc.mjs speaks. */
function grpcFrame(value: unknown): Buffer {
  const message = Buffer.from(JSON.stringify(value));
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

/** Runs a command, never throwing: its exit code and output. */
function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 15_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
    );
  });
}

interface H2Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  trailers: IncomingHttpHeaders | undefined;
}

/** One request over HTTP/2 with prior knowledge (h2c), as node:http2's client sends it. */
function h2(port: number, authority: string, path: string, method = 'GET', body?: string): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const session = connectHttp2(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const req = session.request({ ':method': method, ':path': path, ':authority': authority });
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    req.on('response', (h) => {
      headers = h;
    });
    req.on('trailers', (t) => {
      trailers = t;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      session.close();
      resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks).toString(), trailers });
    });
    req.on('error', reject);
    req.end(body);
  });
}

// Any client reaches any revision: HTTP/2 clients (prior knowledge here, TLS by ALPN in
// test/edge-router/tls.test.ts) a revision that speaks HTTP/1.1, and HTTP/1.1 clients a revision
// whose port is named h2c. The router translates; each revision is reached in its own protocol on
// both hops (router → queue-proxy → app).
describe('protocol translation at the router', () => {
  const cp = new ControlPlaneStub();
  let router: RouterProc;

  beforeAll(async () => {
    const h2Port = await freePort();
    await start(process.execPath, [h2cApp], { PORT: String(h2Port) }, /h2c app listening/);
    const h2Qp = await startQueueProxy(h2Port, { SERVING_REVISION: 'h2-00001' });
    const plainQp = await startQueueProxy((await startApp({ TARGET: 'plain' })).port, {
      SERVING_REVISION: 'plain-00001',
    });
    const rpcPort = await freePort();
    await start(process.execPath, [grpcApp], { PORT: String(rpcPort) }, /grpc app listening/);
    const rpcQp = await startQueueProxy(rpcPort, { SERVING_REVISION: 'rpc-00001' });
    await cp.start();
    cp.publish({
      routes: [
        contractRoute('h2', [{ revisionName: 'h2-00001', percent: 100 }], { hosts: ['h2.example'] }),
        contractRoute('plain', [{ revisionName: 'plain-00001', percent: 100 }], { hosts: ['plain.example'] }),
        contractRoute('rpc', [{ revisionName: 'rpc-00001', percent: 100 }], { hosts: ['rpc.example'] }),
      ],
      revisions: [
        revision('h2-00001', [h2Qp.url], { protocol: 'h2c' }),
        revision('plain-00001', [plainQp.url]),
        revision('rpc-00001', [rpcQp.url], { protocol: 'h2c' }),
      ],
    });
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

  it('serves an HTTP/2 client from a revision that speaks HTTP/1.1', async () => {
    const r = await h2(router.port, 'plain.example', '/');
    expect(r.status).toBe(200);
    expect(r.body).toBe('Hello plain!\n');
    expect(r.headers['skiff-revision']).toBe('plain-00001');
    // No HTTP/1.1 connection-specific field reaches an HTTP/2 client (RFC 9113 §8.2.2).
    for (const name of ['connection', 'keep-alive', 'transfer-encoding']) expect(r.headers[name]).toBeUndefined();
  });

  it('passes bodies both ways and tells the HTTP/1.1 app the authority as Host, without pseudo-headers', async () => {
    const body = 'y'.repeat(70_000);
    const echo = await h2(router.port, 'plain.example', '/echo', 'POST', body);
    expect(echo.status).toBe(200);
    expect(echo.body).toBe(body);
    const h = await h2(router.port, 'plain.example', '/headers?a=1');
    const seen = JSON.parse(h.body) as { method: string; url: string; headers: Record<string, string> };
    expect(seen).toMatchObject({ method: 'GET', url: '/headers?a=1' });
    expect(seen.headers.host).toBe('plain.example');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(Object.keys(seen.headers).filter((n) => n.startsWith(':'))).toEqual([]);
  });

  it('streams an HTTP/1.1 response to an HTTP/2 client as it is sent (server-sent events)', async () => {
    const r = await h2(router.port, 'plain.example', '/events?n=3&ms=20');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/event-stream');
    expect(r.body).toBe('data: 0\n\ndata: 1\n\ndata: 2\n\n');
  });

  it('answers every stream of h2load on one connection to an HTTP/1.1 revision', async () => {
    const load = await run('h2load', [
      '-n',
      '300',
      '-c',
      '1',
      '-m',
      '20',
      '-H',
      ':authority: plain.example',
      `http://127.0.0.1:${router.port}/`,
    ]);
    expect(load.out).toContain('Application protocol: h2c');
    expect(load.out).toMatch(/requests: 300 total, 300 started, 300 done, 300 succeeded, 0 failed/);
    expect(load.out).toMatch(/status codes: 300 2xx, 0 3xx, 0 4xx, 0 5xx/);
  });

  it('serves an HTTP/1.1 client from a revision that speaks only h2c, over h2c on both hops', async () => {
    const r = await get(`${router.url}/first?x=1`, { headers: { host: 'h2.example' } });
    expect(r.status).toBe(200);
    expect(r.headers['skiff-revision']).toBe('h2-00001');
    const seen = JSON.parse(r.body);
    // The app saw HTTP/2: the request went router → queue-proxy → app over h2c.
    expect(seen).toMatchObject({ httpVersion: '2.0', method: 'GET', path: '/first?x=1', authority: 'h2.example' });
    expect(seen.forwardedFor).toBe('127.0.0.1, 127.0.0.1');
  });

  it('passes a request body with a length or in chunks, decoded into DATA frames', async () => {
    const long = 'z'.repeat(100_000);
    const sized = await get(`${router.url}/upload`, { method: 'POST', headers: { host: 'h2.example' }, body: long });
    expect(sized.status).toBe(200);
    expect(JSON.parse(sized.body).body).toBe(long);
    const chunked = await raw(
      router.port,
      'POST /c HTTP/1.1\r\nHost: h2.example\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
        '5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: t\r\n\r\n',
    );
    expect(chunked).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    // The h2c app gave no length: the answer comes in chunks, and the connection closes as asked.
    expect(chunked.toLowerCase()).toContain('transfer-encoding: chunked\r\n');
    expect(chunked).toContain('"body":"hello world"');
    expect(chunked).toMatch(/\r\n0\r\n\r\n$/);
  });

  it('keeps the connection for the next request, to either kind of revision', async () => {
    const out = await raw(
      router.port,
      'GET /one HTTP/1.1\r\nHost: h2.example\r\n\r\nGET / HTTP/1.1\r\nHost: plain.example\r\n\r\n' +
        'GET /three HTTP/1.1\r\nHost: h2.example\r\nConnection: close\r\n\r\n',
    );
    const statuses = [...out.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
    expect(statuses).toEqual(['200', '200', '200']);
    expect(out).toContain('"path":"/one"');
    expect(out).toContain('Hello plain!');
    expect(out).toContain('"path":"/three"');
  });

  it('passes 2 MiB each way between an HTTP/1.1 client and an h2c revision, through the HTTP/2 windows', async () => {
    // Past a stream's window (256 KiB) and a connection's (1 MiB) at every hop, both ways.
    const long = 'y'.repeat(2 * 1024 * 1024);
    const r = await get(`${router.url}/big`, { method: 'POST', headers: { host: 'h2.example' }, body: long });
    expect(r.status).toBe(200);
    const seen = JSON.parse(r.body);
    expect(seen.httpVersion).toBe('2.0');
    expect(seen.body.length).toBe(long.length);
    expect(seen.body === long).toBe(true);
  });

  it('frames an h2c answer for HTTP/1.0 by closing, and sends no body for HEAD', async () => {
    const old = await raw(router.port, 'GET /ten HTTP/1.0\r\nHost: h2.example\r\n\r\n');
    expect(old).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(old.toLowerCase()).not.toContain('transfer-encoding');
    expect(old.toLowerCase()).toContain('connection: close\r\n');
    expect(old).toMatch(/"path":"\/ten"[^\r\n]*$/);
    const head = await raw(
      router.port,
      'HEAD /h HTTP/1.1\r\nHost: h2.example\r\n\r\nGET /after HTTP/1.1\r\nHost: h2.example\r\nConnection: close\r\n\r\n',
    );
    const [first, second] = head.split(/(?=HTTP\/1\.1 )/);
    expect(first).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n$/);
    expect(second).toContain('"path":"/after"');
  });

  it('answers a gRPC call made over HTTP/1.1 with its status in the chunked trailers', async () => {
    const body = grpcFrame({ name: 'http1' });
    const out = await raw(
      router.port,
      Buffer.concat([
        Buffer.from(
          'POST /skiff.Test/Unary HTTP/1.1\r\nHost: rpc.example\r\ncontent-type: application/grpc\r\nTE: trailers\r\n' +
            `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
        ),
        body,
      ]),
    );
    expect(out).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(out).toContain('hello http1');
    // HTTP/2 trailers become the last chunk's trailer section.
    expect(out).toMatch(/\r\n0\r\n(?:[^\r]*\r\n)*grpc-status: 0\r\n(?:[^\r]*\r\n)*\r\n$/);
    expect(out).toContain('x-served-by: ');
    // Without `TE: trailers` the client did not say it takes trailers: the last chunk has none.
    const bare = await raw(
      router.port,
      Buffer.concat([
        Buffer.from(
          'POST /skiff.Test/Unary HTTP/1.1\r\nHost: rpc.example\r\ncontent-type: application/grpc\r\n' +
            `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
        ),
        body,
      ]),
    );
    expect(bare).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(bare).toContain('hello http1');
    expect(bare).toMatch(/\r\n0\r\n\r\n$/);
    expect(bare).not.toContain('grpc-status');
    // curl --http1.1 to the gRPC app's plain HTTP path: grpc-js's own answer, not a 502.
    const curl = await run('curl', [
      '-sS',
      '--http1.1',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %{http_version}',
      '-H',
      'host: rpc.example',
      `${router.url}/`,
    ]);
    expect(curl.code).toBe(0);
    expect(curl.out).not.toMatch(/^502/);
    expect(curl.out).toMatch(/ 1\.1$/);
  });
});
