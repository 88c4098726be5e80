import { afterEach, describe, expect, it } from 'vitest';
import { get } from '../helpers/http.ts';
import { sleep, startApp, startQueueProxy, stopAll } from '../helpers/processes.ts';

afterEach(stopAll);

describe('queue-proxy draining', () => {
  it('on SIGTERM keeps serving everything under load, reports not ready, then exits after the quiet period', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port, { QUEUE_DRAIN_QUIET_PERIOD: '1s' });
    const statuses: number[] = [];
    let stop = false;
    const clients = Array.from({ length: 8 }, async () => {
      while (!stop) statuses.push((await get(`${qp.url}/sleep?ms=30`)).status);
    });
    await sleep(300);
    qp.proc.kill('SIGTERM');
    await sleep(100);
    const probe = await get(`${qp.url}/`, { headers: { 'K-Network-Probe': 'queue' } });
    expect(probe.status).toBe(503);
    expect(probe.body).toBe('shutting down\n');
    await sleep(1500); // still loaded, so the quiet period keeps restarting
    expect(qp.proc.child.exitCode).toBeNull();
    stop = true;
    await Promise.all(clients);
    const lastRequestAt = Date.now();
    const code = await qp.proc.exited;
    expect(code).toBe(0);
    expect(Date.now() - lastRequestAt).toBeGreaterThanOrEqual(800);
    expect(statuses.length).toBeGreaterThan(50);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
  });

  it('finishes requests in flight before exiting', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port, { QUEUE_DRAIN_QUIET_PERIOD: '200ms' });
    const slow = get(`${qp.url}/sleep?ms=1500`);
    await sleep(100);
    qp.proc.kill('SIGTERM');
    const r = await slow;
    expect(r.status).toBe(200);
    expect(await qp.proc.exited).toBe(0);
  });

  it('drains on the admin call /wait-for-drain, answering once quiet', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port, { QUEUE_DRAIN_QUIET_PERIOD: '500ms' });
    const drained = await get(`http://127.0.0.1:${qp.adminPort}/wait-for-drain`);
    expect(drained.status).toBe(200);
    expect(drained.ms).toBeGreaterThanOrEqual(450);
    expect((await get(`${qp.url}/`, { headers: { 'K-Network-Probe': 'queue' } })).status).toBe(503);
    expect((await get(`${qp.url}/`)).status).toBe(200);
  });
});
