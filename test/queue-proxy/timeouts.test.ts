import { afterEach, describe, expect, it } from 'vitest';
import { get } from '../helpers/http.ts';
import { sleep, startApp, startQueueProxy, stopAll } from '../helpers/processes.ts';

afterEach(stopAll);

describe('queue-proxy timeouts', () => {
  it('answers 504 when the app takes longer than timeoutSeconds', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port, { REVISION_TIMEOUT_SECONDS: '2' });
    const r = await get(`${qp.url}/sleep?ms=4000`);
    expect(r.status).toBe(504);
    expect(r.body).toBe('request timeout\n');
    expect(r.ms).toBeGreaterThanOrEqual(1950);
    expect(r.ms).toBeLessThan(2600);
    expect((await get(`${qp.url}/sleep?ms=500`)).status).toBe(200);
  });

  it('counts time spent waiting in the queue toward the timeout', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port, { REVISION_TIMEOUT_SECONDS: '2', CONTAINER_CONCURRENCY: '1' });
    const first = get(`${qp.url}/sleep?ms=1500`);
    await sleep(50);
    const second = await get(`${qp.url}/sleep?ms=1000`); // waits 1.45 s, then would need 1 s more
    expect(second.status).toBe(504);
    expect(second.ms).toBeLessThan(2600);
    expect((await first).status).toBe(200);
  });

  it('answers 504 when the response does not start within responseStartTimeoutSeconds', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port, { REVISION_RESPONSE_START_TIMEOUT_SECONDS: '1' });
    const late = await get(`${qp.url}/slow-start?ms=2500`);
    expect(late.status).toBe(504);
    expect(late.ms).toBeGreaterThanOrEqual(950);
    expect(late.ms).toBeLessThan(1600);
    // A response that starts at once may take longer than that to finish.
    const started = await get(`${qp.url}/stall?ms=2000`);
    expect(started.status).toBe(200);
    expect(started.body).toBe('first\nlast\n');
  });

  it('cuts a response off once it is idle for idleTimeoutSeconds', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port, { REVISION_IDLE_TIMEOUT_SECONDS: '1' });
    const idle = await get(`${qp.url}/stall?ms=3000`);
    expect(idle.status).toBe(200);
    expect(idle.body).toBe('first\n');
    expect(idle.error).toBeDefined();
    expect(idle.ms).toBeGreaterThanOrEqual(950);
    expect(idle.ms).toBeLessThan(1700);
    const brief = await get(`${qp.url}/stall?ms=300`);
    expect(brief.body).toBe('first\nlast\n');
  });

  it('cuts a started response off at the total timeout rather than answering 504', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port, { REVISION_TIMEOUT_SECONDS: '1' });
    const r = await get(`${qp.url}/stall?ms=3000`);
    expect(r.status).toBe(200);
    expect(r.error).toBeDefined();
    expect(r.ms).toBeLessThan(1700);
  });
});
