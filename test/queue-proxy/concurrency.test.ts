import { afterEach, describe, expect, it } from 'vitest';
import { get } from '../helpers/http.ts';
import { startApp, startQueueProxy, stopAll, waitFor } from '../helpers/processes.ts';

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
    const metricsUrl = `http://127.0.0.1:${qp.metricsPort}/metrics`;
    /** The breaker's figures as the queue-proxy reports them on its metrics port. */
    const breaker = async () => {
      const text = (await get(metricsUrl)).body;
      const gauge = (name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1]);
      return {
        inFlight: gauge('skiff_queue_in_flight_requests'),
        waiting: gauge('kn_serving_queue_depth'),
        rejected: gauge('skiff_queue_rejected_requests_total'),
      };
    };
    // The request at the app holds its slot until the queue is full and the extra ones are
    // refused: long enough for a loaded machine to get there, as every step waits for the state
    // it needs (reported by the queue-proxy) instead of sleeping.
    let firstEndedAt = 0;
    const first = get(`${qp.url}/sleep?ms=4000`).then((r) => {
      firstEndedAt = Date.now();
      return r;
    });
    await waitFor(async () => (await breaker()).inFlight === 1, 3000, 'the first request at the app');
    const queued = Array.from({ length: 10 }, () => get(`${qp.url}/sleep?ms=50`));
    await waitFor(async () => (await breaker()).waiting === 10, 3000, 'ten requests in the queue');
    // The queue is full: five more are refused, each at once (while the first still holds the slot).
    const refused = await Promise.all(
      Array.from({ length: 5 }, () => get(`${qp.url}/sleep?ms=50`).then((r) => ({ ...r, endedAt: Date.now() }))),
    );
    expect(await breaker()).toEqual({ inFlight: 1, waiting: 10, rejected: 5 });
    for (const r of refused) {
      expect(r.status).toBe(503);
      expect(r.body).toBe('pending request queue full\n');
    }
    const served = await Promise.all([first, ...queued]);
    expect(served.map((r) => r.status)).toEqual(Array(11).fill(200));
    for (const r of refused) expect(r.endedAt).toBeLessThan(firstEndedAt);
    const counters = JSON.parse((await get(`${app.url}/counters`)).body);
    expect(counters).toMatchObject({ aborted: 0 });
  });

  it('with containerConcurrency 0 lets every request through at once', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port);
    const replies = await Promise.all(Array.from({ length: 30 }, () => get(`${qp.url}/sleep?ms=300`)));
    expect(replies.every((r) => r.status === 200 && r.ms < 1500)).toBe(true);
  });
});
