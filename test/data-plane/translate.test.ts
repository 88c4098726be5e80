import { execFile } from 'node:child_process';
import { connect as connectHttp2, type IncomingHttpHeaders } from 'node:http2';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { route as contractRoute, revision } from '../edge-router/contract.ts';
import { ControlPlaneStub } from '../helpers/control-plane-stub.ts';
import { type RouterProc, startRouter, stopRouters } from '../helpers/edge-router.ts';
import { get } from '../helpers/http.ts';
import { freePort, start, startApp, startQueueProxy, stopAll, waitFor } from '../helpers/processes.ts';

const h2cApp = fileURLToPath(new URL('../apps/h2c.mjs', import.meta.url));

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
    await cp.start();
    cp.publish({
      routes: [
        contractRoute('h2', [{ revisionName: 'h2-00001', percent: 100 }], { hosts: ['h2.example'] }),
        contractRoute('plain', [{ revisionName: 'plain-00001', percent: 100 }], { hosts: ['plain.example'] }),
      ],
      revisions: [revision('h2-00001', [h2Qp.url], { protocol: 'h2c' }), revision('plain-00001', [plainQp.url])],
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
});
