import { afterEach, describe, expect, it } from 'vitest';
import { get } from '../helpers/http.ts';
import { sleep, startApp, startQueueProxy, stopAll } from '../helpers/processes.ts';

afterEach(stopAll);

describe('queue-proxy breaker', () => {
  it('with containerConcurrency 1, ten clients for three seconds never overlap at the app and all get 200', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port, { CONTAINER_CONCURRENCY: '1' });
    const statuses: number[] = [];
    const until = Date.now() + 3000;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (Date.now() < until) statuses.push((await get(`${qp.url}/exclusive?ms=10`)).status);
      }),
    );
    expect(statuses.length).toBeGreaterThan(50);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    const counters = JSON.parse((await get(`${app.url}/counters`)).body);
    expect(counters).toMatchObject({ overlaps: 0, maxConcurrent: 1 });
  });

  it('queues ten per slot and refuses the rest at once with 503', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port, { CONTAINER_CONCURRENCY: '1' });
    // One in flight and ten waiting fill the queue; five more are refused.
    const first = get(`${qp.url}/sleep?ms=300`);
    await sleep(100);
    const queued = Array.from({ length: 10 }, () => get(`${qp.url}/sleep?ms=150`));
    await sleep(200);
    const refused = await Promise.all(Array.from({ length: 5 }, () => get(`${qp.url}/sleep?ms=150`)));
    for (const r of refused) {
      expect(r.status).toBe(503);
      expect(r.body).toBe('pending request queue full\n');
      expect(r.ms).toBeLessThan(150);
    }
    const served = await Promise.all([first, ...queued]);
    expect(served.map((r) => r.status)).toEqual(Array(11).fill(200));
  });

  it('with containerConcurrency 0 lets every request through at once', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port);
    const replies = await Promise.all(Array.from({ length: 30 }, () => get(`${qp.url}/sleep?ms=300`)));
    expect(replies.every((r) => r.status === 200 && r.ms < 1500)).toBe(true);
  });
});
