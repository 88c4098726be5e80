import { Agent } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { get } from '../helpers/http.ts';
import { sleep, startApp, startQueueProxy, stopAll } from '../helpers/processes.ts';

afterEach(stopAll);

describe('queue-proxy stats', () => {
  it('reports average concurrency 4 ± 0.3 while four requests are in flight', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port);
    const statsUrl = `http://127.0.0.1:${qp.metricsPort}/stats`;
    const started = Date.now();
    const requests = Array.from({ length: 4 }, () => get(`${qp.url}/sleep?ms=2600`));
    // The period reported 2.3 s in began 0.3 s in at the earliest: all of it has the four in flight.
    await sleep(2300 - (Date.now() - started));
    const stat = JSON.parse((await get(statsUrl)).body);
    expect((await Promise.all(requests)).map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(stat.averageConcurrency).toBeGreaterThan(3.7);
    expect(stat.averageConcurrency).toBeLessThan(4.3);
    expect(stat.periodMs).toBeGreaterThan(900);
    expect(stat.periodMs).toBeLessThan(1200);
  });

  it('reports the arrival rate of back-to-back 200 ms requests from four clients', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port);
    const statsUrl = `http://127.0.0.1:${qp.metricsPort}/stats`;
    let stop = false;
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    const clients = Array.from({ length: 4 }, async () => {
      while (!stop) await get(`${qp.url}/sleep?ms=200`, { agent });
    });
    await sleep(2300);
    const stat = JSON.parse((await get(statsUrl)).body);
    stop = true;
    await Promise.all(clients);
    agent.destroy();
    // At most 20/s (4 clients × 5/s); the gaps between one request and the next lower it a little.
    expect(stat.requestsPerSecond).toBeGreaterThan(12);
    expect(stat.requestsPerSecond).toBeLessThanOrEqual(21);
    expect(stat.averageConcurrency).toBeGreaterThan(3);
    expect(stat.averageConcurrency).toBeLessThanOrEqual(4.05);
  });

  it('counts requests marked by the router as proxied, and names its revision and pod', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port);
    let stop = false;
    const client = (async () => {
      while (!stop) await get(`${qp.url}/sleep?ms=100`, { headers: { 'K-Proxy-Request': 'activator' } });
    })();
    await sleep(2200);
    const stat = JSON.parse((await get(`http://127.0.0.1:${qp.metricsPort}/stats`)).body);
    stop = true;
    await client;
    expect(stat).toMatchObject({ namespace: 'default', revision: 'hello-00001', pod: 'hello-00001-pod' });
    expect(stat.averageProxiedConcurrency).toBeGreaterThan(0.8);
    expect(stat.averageProxiedConcurrency).toBeCloseTo(stat.averageConcurrency, 5);
    expect(stat.proxiedRequestsPerSecond).toBe(stat.requestsPerSecond);
  });

  it('exports Prometheus metrics with revision labels', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port);
    await get(`${qp.url}/`);
    await get(`${qp.url}/status?code=404`);
    await get(`${qp.url}/status?code=500`);
    const text = (await get(`http://127.0.0.1:${qp.metricsPort}/metrics`)).body;
    const labels =
      'namespace_name="default",service_name="hello",configuration_name="hello",revision_name="hello-00001",pod_name="hello-00001-pod"';
    expect(text).toContain(`skiff_queue_requests_total{${labels},response_code_class="2xx"} 1`);
    expect(text).toContain(`skiff_queue_requests_total{${labels},response_code_class="4xx"} 1`);
    expect(text).toContain(`skiff_queue_requests_total{${labels},response_code_class="5xx"} 1`);
    expect(text).toContain(`kn_serving_invocation_duration_seconds_count{${labels}} 3`);
    expect(text).toContain(`skiff_queue_app_ready{${labels}} 1`);
  });
});
