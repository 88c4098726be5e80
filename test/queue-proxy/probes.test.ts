import { afterEach, describe, expect, it } from 'vitest';
import { get } from '../helpers/http.ts';
import { freePort, sleep, startApp, startQueueProxy, stopAll, waitFor } from '../helpers/processes.ts';

afterEach(stopAll);

const probe = (url: string, value = 'queue') => get(`${url}/`, { headers: { 'K-Network-Probe': value } });

describe('queue-proxy readiness', () => {
  it('answers 503 until the app listens, then 200 "queue" within moments', async () => {
    const port = await freePort();
    const qp = await startQueueProxy(port);
    const early = await probe(qp.url);
    expect(early.status).toBe(503);
    expect(early.body).toBe('not ready\n');
    await sleep(300);
    expect((await probe(qp.url)).status).toBe(503);
    await startApp({}, true, port);
    const listenedAt = Date.now();
    await waitFor(async () => (await probe(qp.url)).status === 200, 3000, 'ready');
    // Probed every 50 ms while not ready.
    expect(Date.now() - listenedAt).toBeLessThan(500);
    const ready = await probe(qp.url);
    expect(ready.body).toBe('queue\n');
  });

  it('answers 400 for a probe header it does not know', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port);
    expect((await probe(qp.url, 'activator')).status).toBe(400);
  });

  it('follows an httpGet probe with a period: not ready after failureThreshold failures, ready again after', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port, {
      SERVING_READINESS_PROBE: JSON.stringify({ httpGet: { path: '/healthz' }, periodSeconds: 1, failureThreshold: 2 }),
    });
    await waitFor(async () => (await probe(qp.url)).status === 200, 5000, 'ready');
    await get(`${app.url}/unready`, { method: 'POST' });
    const since = Date.now();
    await waitFor(async () => (await probe(qp.url)).status === 503, 5000, 'not ready');
    expect(Date.now() - since).toBeGreaterThan(900);
    await get(`${app.url}/ready`, { method: 'POST' });
    await waitFor(async () => (await probe(qp.url)).status === 200, 5000, 'ready again');
  });

  it('runs exec probes', async () => {
    const app = await startApp();
    const failing = await startQueueProxy(app.port, { SERVING_READINESS_PROBE: '{"exec":{"command":["false"]}}' });
    const passing = await startQueueProxy(app.port, { SERVING_READINESS_PROBE: '{"exec":{"command":["true"]}}' });
    await waitFor(async () => (await probe(passing.url)).status === 200, 5000, 'exec probe to pass');
    await sleep(300);
    expect((await probe(failing.url)).status).toBe(503);
  });

  it('does not count probes as requests', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port);
    await waitFor(async () => (await probe(qp.url)).status === 200, 5000, 'ready');
    for (let i = 0; i < 20; i++) await probe(qp.url);
    await sleep(1100);
    const stat = JSON.parse((await get(`http://127.0.0.1:${qp.metricsPort}/stats`)).body);
    expect(stat.requestsPerSecond).toBe(0);
    const metrics = (await get(`http://127.0.0.1:${qp.metricsPort}/metrics`)).body;
    expect(metrics).toMatch(/skiff_queue_requests_total\{[^}]*response_code_class="2xx"\} 0/);
  });
});
