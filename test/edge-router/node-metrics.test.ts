import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlaneStub } from '../helpers/control-plane-stub.ts';
import { type RouterProc, startRouter, stopRouters } from '../helpers/edge-router.ts';
import { get } from '../helpers/http.ts';
import { type App, freePort, startApp, stopAll, waitFor } from '../helpers/processes.ts';
import { revision, route } from './contract.ts';

/** One sample's value from Prometheus text, or undefined when the line is absent. */
function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

// The Node router's own /metrics, on its metrics port (SKIFF_ROUTER_METRICS_PORT), scraped
// while it holds requests and after it answered them.
describe('edge router on node: /metrics', () => {
  const cp = new ControlPlaneStub();
  let router: RouterProc;
  let app: App;
  let metricsPort: number;
  const host = 'held.default.example.com';
  const labels = 'namespace_name="default",revision_name="held-00001"';
  const scrape = async () => {
    const r = await get(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(r.status).toBe(200);
    return r.body;
  };

  beforeAll(async () => {
    app = await startApp({ TARGET: 'metrics' });
    await cp.start();
    metricsPort = await freePort();
    router = await startRouter('node', {
      SKIFF_CONTROL_PLANE_URL: cp.url,
      SKIFF_ROUTER_TOKEN: cp.token,
      SKIFF_ROUTER_METRICS_PORT: String(metricsPort),
    });
  });

  afterAll(async () => {
    await cp.stop();
    await stopRouters();
    await stopAll();
  });

  it('says where it serves metrics', () => {
    expect(router.output()).toContain(`metrics on :${metricsPort}`);
  });

  it('counts held requests while they wait, then their answers, 5xx and latency per revision', async () => {
    cp.publish({
      routes: [route('held', [{ revisionName: 'held-00001', percent: 100 }])],
      revisions: [revision('held-00001', [], { containerConcurrency: 1 })],
    });
    await waitFor(async () => (await scrape()) !== undefined, 5_000, 'the metrics port');
    const held = [
      get(`${router.url}/sleep?ms=300`, { headers: { host } }),
      get(`${router.url}/sleep?ms=300`, { headers: { host } }),
      get(`${router.url}/status?code=503`, { headers: { host } }),
    ];
    await waitFor(
      async () => sample(await scrape(), 'kn_revision_request_queued', labels) === 3,
      5_000,
      'three requests held on /metrics',
    );
    const whileHeld = await scrape();
    expect(whileHeld).toContain('# TYPE kn_revision_request_queued gauge');
    expect(sample(whileHeld, 'kn_revision_request_concurrency', labels)).toBe(0);
    expect(sample(whileHeld, 'skiff_router_requests_total', labels)).toBe(3);
    expect(sample(whileHeld, 'skiff_router_responses_total', labels)).toBe(0);

    // Capacity arrives: one request at a time goes to the app (containerConcurrency 1).
    cp.publish({
      routes: [route('held', [{ revisionName: 'held-00001', percent: 100 }])],
      revisions: [revision('held-00001', [app.url], { containerConcurrency: 1 })],
    });
    await waitFor(
      async () => {
        const text = await scrape();
        return (
          sample(text, 'kn_revision_request_concurrency', labels) === 1 &&
          (sample(text, 'kn_revision_request_queued', labels) ?? 0) >= 1
        );
      },
      5_000,
      'one in flight and the rest still held',
    );
    const statuses = (await Promise.all(held)).map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 503]);

    const after = await scrape();
    expect(sample(after, 'kn_revision_request_queued', labels)).toBe(0);
    expect(sample(after, 'kn_revision_request_concurrency', labels)).toBe(0);
    expect(sample(after, 'skiff_router_requests_total', labels)).toBe(3);
    expect(sample(after, 'skiff_router_responses_total', labels)).toBe(3);
    expect(sample(after, 'skiff_router_server_errors_total', labels)).toBe(1);
    expect(sample(after, 'skiff_router_request_duration_seconds_count', labels)).toBe(3);
    // Each waited for the sleeps before it: at least 0.3 s each, and the last about 0.6 s.
    expect(sample(after, 'skiff_router_request_duration_seconds_sum', labels)).toBeGreaterThan(0.6);
    expect(sample(after, 'skiff_router_request_duration_seconds_bucket', `${labels},le="0.25"`)).toBeLessThan(3);
    expect(sample(after, 'skiff_router_request_duration_seconds_bucket', `${labels},le="+Inf"`)).toBe(3);
  });

  it('answers 404 off /metrics and 405 to a POST', async () => {
    expect((await get(`http://127.0.0.1:${metricsPort}/`)).status).toBe(404);
    expect((await get(`http://127.0.0.1:${metricsPort}/metrics`, { method: 'POST' })).status).toBe(405);
  });
});
