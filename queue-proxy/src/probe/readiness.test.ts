import { describe, expect, it } from 'vitest';
import { Readiness } from './readiness.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('readiness', () => {
  it('probes every 50 ms with a 100 ms budget until the app passes', async () => {
    const calls: { at: number; timeoutMs: number }[] = [];
    let passing = false;
    const started = Date.now();
    const r = new Readiness({ tcpSocket: {} }, async (timeoutMs) => {
      calls.push({ at: Date.now() - started, timeoutMs });
      return passing;
    });
    r.start();
    await sleep(280);
    expect(r.ready).toBe(false);
    expect(calls.length).toBeGreaterThanOrEqual(4);
    expect(calls.every((c) => c.timeoutMs === 100)).toBe(true);
    passing = true;
    await r.whenReady();
    expect(r.ready).toBe(true);
    r.stop();
  });

  it('needs successThreshold passes in a row', async () => {
    let n = 0;
    const r = new Readiness({ tcpSocket: {}, successThreshold: 3 }, async () => {
      n++;
      return true;
    });
    r.start();
    await r.whenReady();
    expect(n).toBe(3);
    r.stop();
  });

  it('takes a ready app out after failureThreshold failures, then probes fast again', async () => {
    let passing = true;
    const changes: boolean[] = [];
    const r = new Readiness(
      { tcpSocket: {}, periodSeconds: 1, failureThreshold: 2, timeoutSeconds: 1 },
      async () => passing,
      (ready) => changes.push(ready),
    );
    r.start();
    await r.whenReady();
    passing = false;
    await sleep(2300);
    expect(changes).toEqual([true, false]);
    r.stop();
  });

  it('waits initialDelaySeconds before the first probe', async () => {
    let first = 0;
    const started = Date.now();
    const r = new Readiness({ tcpSocket: {}, initialDelaySeconds: 1 }, async () => {
      first ||= Date.now() - started;
      return true;
    });
    r.start();
    await r.whenReady();
    expect(first).toBeGreaterThanOrEqual(990);
    r.stop();
  });
});
