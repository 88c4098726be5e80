import type { Stat } from '@skiff/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlaneStub } from '../helpers/control-plane-stub.ts';
import { type RouterProc, startRouter, stopRouters } from '../helpers/edge-router.ts';
import { dropsReusedConnections, get, raw } from '../helpers/http.ts';
import { type App, type QueueProxyProc, startApp, startQueueProxy, stopAll, waitFor } from '../helpers/processes.ts';
import { revision, route } from './contract.ts';

// What only the Node server does (it reads request heads itself), and the router in front of a
// real queue-proxy, as in production.
describe('edge router on node, with a queue-proxy behind it', () => {
  const cp = new ControlPlaneStub();
  let router: RouterProc;
  let app: App;
  let qp: QueueProxyProc;

  beforeAll(async () => {
    app = await startApp({ TARGET: 'qp' });
    qp = await startQueueProxy(app.port, { CONTAINER_CONCURRENCY: '1' });
    await cp.start();
    router = await startRouter('node', {
      SKIFF_CONTROL_PLANE_URL: cp.url,
      SKIFF_ROUTER_TOKEN: cp.token,
      SKIFF_HEADER_TIMEOUT: '1s',
    });
  });

  afterAll(async () => {
    await cp.stop();
    await stopRouters();
    await stopAll();
  });

  const host = 'hello.default.example.com';
  const send = (path: string) => get(`${router.url}${path}`, { headers: { host } });

  it('answers 408 when a client does not finish its request head within the header timeout', async () => {
    const reply = await raw(router.port, `GET / HTTP/1.1\r\nHost: ${host}\r\n`, 4_000);
    expect(reply.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(reply.closed).toBe(true);
    expect(reply.ms).toBeGreaterThanOrEqual(900);
    expect(reply.ms).toBeLessThan(3_000);
  });

  it('never sends a containerConcurrency 1 replica two requests at once: the rest wait in the router', async () => {
    cp.publish({
      routes: [route('hello', [{ revisionName: 'hello-00001', percent: 100 }])],
      revisions: [revision('hello-00001', [qp.url], { containerConcurrency: 1 })],
    });
    await waitFor(async () => (await send('/')).status === 200, 10_000, 'the route');
    const replies = await Promise.all(Array.from({ length: 4 }, () => send('/exclusive?ms=150')));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const counters = JSON.parse((await get(`${app.url}/counters`)).body);
    expect(counters.overlaps).toBe(0);
    expect(Math.max(...replies.map((r) => r.ms))).toBeGreaterThanOrEqual(550);
  });

  it('marks requests it held so the queue-proxy reports them as proxied', async () => {
    const heldHost = 'held.default.example.com';
    cp.publish({
      routes: [route('held', [{ revisionName: 'held-00001', percent: 100 }])],
      revisions: [revision('held-00001', [], { containerConcurrency: 1 })],
    });
    const held = get(`${router.url}/`, { headers: { host: heldHost } });
    await waitFor(() => cp.pokes.some((p) => p.revision === 'held-00001'), 5_000, 'a poke');
    cp.publish({
      routes: [route('held', [{ revisionName: 'held-00001', percent: 100 }])],
      revisions: [revision('held-00001', [qp.url], { containerConcurrency: 1 })],
    });
    expect((await held).status).toBe(200);
    await waitFor(
      async () => {
        const stat = JSON.parse((await get(`http://127.0.0.1:${qp.metricsPort}/stats`)).body) as Stat;
        return stat.proxiedRequestsPerSecond > 0;
      },
      5_000,
      'the queue-proxy to count a proxied request',
    );
  });

  it('sends a request again after a reused connection dropped it only when the method is idempotent', async () => {
    const endpoint = await dropsReusedConnections();
    const seen = endpoint.seen;
    try {
      const staleHost = 'stale.default.example.com';
      cp.publish({
        routes: [route('stale', [{ revisionName: 'stale-00001', percent: 100 }])],
        revisions: [revision('stale-00001', [`http://127.0.0.1:${endpoint.port}`])],
      });
      await waitFor(
        async () => (await get(`${router.url}/warm`, { headers: { host: staleHost } })).status === 200,
        10_000,
        'the route',
      );
      // The pooled connection is reused: POST without a body is dropped once and answered 502.
      const post = await raw(router.port, `POST /once HTTP/1.1\r\nHost: ${staleHost}\r\nConnection: close\r\n\r\n`);
      expect(post.text).toMatch(/^HTTP\/1\.1 502 /);
      expect(seen).toEqual(['POST /once']);
      // GET is idempotent: after the reused connection dropped it, it goes again on a fresh one,
      // whose first request the endpoint answers.
      expect((await get(`${router.url}/warm`, { headers: { host: staleHost } })).status).toBe(200);
      const again = await raw(router.port, `GET /twice HTTP/1.1\r\nHost: ${staleHost}\r\nConnection: close\r\n\r\n`);
      expect(again.text).toMatch(/^HTTP\/1\.1 200 /);
      expect(seen).toEqual(['POST /once', 'GET /twice']);
    } finally {
      endpoint.close();
    }
  });
});
