import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { dropsReusedConnections, get, raw } from '../helpers/http.ts';
import {
  freePort,
  runQueueProxyExpectingExit,
  sleep,
  startApp,
  startQueueProxy,
  stopAll,
  waitFor,
} from '../helpers/processes.ts';

afterEach(stopAll);

describe('queue-proxy forwarding', () => {
  it('forwards Host and adds X-Forwarded-* and Forwarded, dropping hop-by-hop headers', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port);
    const r = await get(`${qp.url}/headers`, {
      headers: {
        Host: 'hello.default.localhost',
        'X-Forwarded-For': '203.0.113.9',
        Connection: 'X-Secret',
        'X-Secret': '1',
        'Keep-Alive': 'timeout=9',
      },
    });
    const seen = JSON.parse(r.body).headers;
    expect(seen.host).toBe('hello.default.localhost');
    expect(seen['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen.forwarded).toBe('for=203.0.113.9;host=hello.default.localhost;proto=http');
    expect(seen['x-secret']).toBeUndefined();
    expect(seen['keep-alive']).toBeUndefined();
  });

  it('serves several requests on one keep-alive connection, pipelined too, in order', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port);
    const one = 'GET /sleep?ms=50 HTTP/1.1\r\nHost: h\r\n\r\n';
    const two = 'GET /status?code=201 HTTP/1.1\r\nHost: h\r\n\r\n';
    const three = 'GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n';
    const r = await raw(qp.port, one + two + three);
    expect(r.closed).toBe(true);
    const statuses = [...r.text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
    expect(statuses).toEqual(['200', '201', '200']);
    expect(r.text.indexOf('slept 50')).toBeLessThan(r.text.indexOf('Hello World!'));
  });

  it('answers HEAD, 204 and HTTP/1.0 requests correctly framed', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port);
    const head = await raw(
      qp.port,
      'HEAD / HTTP/1.1\r\nHost: h\r\n\r\nGET /status?code=204 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n',
    );
    expect([...head.text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1])).toEqual(['200', '204']);
    expect(head.text).not.toContain('Hello');
    const old = await raw(qp.port, 'GET / HTTP/1.0\r\n\r\n');
    expect(old.closed).toBe(true);
    expect(old.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(old.text.endsWith('Hello World!\n')).toBe(true);
  });

  it('sends 100 Continue for Expect: 100-continue and forwards the body', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port);
    const r = await raw(
      qp.port,
      'POST /echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello',
    );
    expect(r.text.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n')).toBe(true);
    expect(r.text.endsWith('hello')).toBe(true);
  });

  it('passes a protocol upgrade (websocket) through both ways', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port);
    const r = await raw(
      qp.port,
      'GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nping-after-upgrade',
      1000,
    );
    expect(r.text.startsWith('HTTP/1.1 101 Switching Protocols\r\n')).toBe(true);
    expect(r.text.toLowerCase()).toContain('upgrade: echo');
    expect(r.text.endsWith('ping-after-upgrade')).toBe(true);
  });

  it('answers 502 when the app is not there', async () => {
    const qp = await startQueueProxy(await freePort());
    const r = await get(`${qp.url}/`);
    expect(r.status).toBe(502);
    expect(r.body).toBe('error reverse proxying\n');
  });

  it('keeps serving a client connection after the app closes its idle keep-alive connection', async () => {
    const app = await startApp({ KEEP_ALIVE_MS: '200' });
    const qp = await startQueueProxy(app.port);
    const socket = connect(qp.port, '127.0.0.1');
    let text = '';
    socket.on('data', (d) => (text += d.toString()));
    const ask = async (n: number) => {
      socket.write('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
      await waitFor(() => (text.match(/Hello World!/g) ?? []).length === n, 3000, `response ${n}`);
    };
    await ask(1);
    await sleep(500); // the app has closed its side of the idle upstream connection by now
    await ask(2);
    await ask(3);
    socket.destroy();
    expect(text.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(3);
  });
});

describe('queue-proxy refuses bad input', () => {
  it.each([
    ['garbage instead of a request line', 'GARBAGE\r\n\r\n', 400],
    [
      'both Content-Length and Transfer-Encoding (request smuggling)',
      'POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
    ],
    [
      'two different Content-Lengths',
      'POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcd',
      400,
    ],
    ['a header with obsolete folding', 'GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  2\r\n\r\n', 400],
    ['a request without Host', 'GET / HTTP/1.1\r\n\r\n', 400],
    ['an unknown transfer coding', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n', 501],
    ['a malformed chunked body', 'POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400],
  ])('answers %s with the right 4xx/5xx and closes', async (_name, request, status) => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port);
    const r = await raw(qp.port, request);
    expect(r.text).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(r.closed).toBe(true);
  });

  it('answers 431 for a header block over 16 KiB', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port);
    const r = await raw(qp.port, `GET / HTTP/1.1\r\nHost: h\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`);
    expect(r.text).toMatch(/^HTTP\/1\.1 431 /);
    const fits = await raw(
      qp.port,
      `GET / HTTP/1.1\r\nHost: h\r\nX-Big: ${'a'.repeat(15 * 1024)}\r\nConnection: close\r\n\r\n`,
    );
    expect(fits.text).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('cuts off a client trickling its headers, without disturbing others', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port, { QUEUE_HEADER_TIMEOUT: '1s' });
    const slow = raw(qp.port, 'GET / HTTP/1.1\r\nHost: h\r\nX-Slow: ', 5000);
    const meanwhile = await get(`${qp.url}/`);
    expect(meanwhile.status).toBe(200);
    const r = await slow;
    expect(r.closed).toBe(true);
    expect(r.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(r.ms).toBeGreaterThanOrEqual(950);
    expect(r.ms).toBeLessThan(2000);
  });

  it.each([
    ['USER_PORT missing', {}, 'USER_PORT: required'],
    [
      'CONTAINER_CONCURRENCY not a number',
      { USER_PORT: '8080', CONTAINER_CONCURRENCY: 'ten' },
      'CONTAINER_CONCURRENCY: must be a whole number from 0 to 1000',
    ],
    [
      'a broken probe',
      { USER_PORT: '8080', SERVING_READINESS_PROBE: 'tcp' },
      'SERVING_READINESS_PROBE: must be a JSON readiness probe',
    ],
  ])('exits at once, naming the variable, when %s', async (_name, env, message) => {
    const { code, output } = await runQueueProxyExpectingExit({
      SERVING_NAMESPACE: 'default',
      SERVING_REVISION: 'r-00001',
      ...env,
    });
    expect(code).toBe(2);
    expect(output.trim().split('\n')).toHaveLength(1);
    expect(output).toContain(message);
  });

  it('sends a request again after a reused app connection dropped it only when the method is idempotent', async () => {
    const app = await dropsReusedConnections();
    const seen = app.seen;
    try {
      const qp = await startQueueProxy(app.port);
      // One client connection: the first request warms the app connection, the second reuses it.
      const post = await raw(
        qp.port,
        'GET /warm HTTP/1.1\r\nHost: a\r\n\r\nPOST /once HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
      );
      expect(post.text).toMatch(/^HTTP\/1\.1 200 [\s\S]*HTTP\/1\.1 502 /);
      expect(seen).toEqual(['POST /once']);
      // GET is idempotent: after the reused connection dropped it, it goes again on a fresh one,
      // whose first request the app answers.
      const again = await raw(
        qp.port,
        'GET /warm HTTP/1.1\r\nHost: a\r\n\r\nGET /twice HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
      );
      expect(again.text).toMatch(/^HTTP\/1\.1 200 [\s\S]*HTTP\/1\.1 200 /);
      expect(seen).toEqual(['POST /once', 'GET /twice']);
    } finally {
      app.close();
    }
  });
});
