import type { RoutingSnapshot } from '@skiff/shared';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.ts';
import type { ControlPlane } from './control-plane.ts';
import { SnapshotSource } from './source.ts';

const snap = (version: number): RoutingSnapshot => ({ version, generatedAt: '', routes: [], revisions: [] });

describe('backoff', () => {
  it('doubles from the initial delay up to the cap, half of it random', () => {
    const b = { initialMs: 100, maxMs: 1000 };
    expect([0, 1, 2, 3, 10].map((n) => backoffDelay(n, b, () => 0))).toEqual([50, 100, 200, 400, 500]);
    expect(backoffDelay(10, b, () => 0.999)).toBeLessThanOrEqual(1000);
  });
});

describe('snapshot source', () => {
  it('long-polls from the version it has, keeps the last snapshot through failures and backs off', async () => {
    const calls: (number | undefined)[] = [];
    const sleeps: number[] = [];
    const answers: (() => RoutingSnapshot | undefined)[] = [
      () => snap(3),
      () => {
        throw new Error('connection refused');
      },
      () => {
        throw new Error('connection refused');
      },
      () => snap(4),
    ];
    const applied: number[] = [];
    const errors: number[] = [];
    let source: SnapshotSource | undefined;
    const controlPlane: ControlPlane = {
      routing: async (since) => {
        calls.push(since);
        const next = answers.shift();
        if (!next) {
          source?.stop();
          return undefined;
        }
        return next();
      },
      activate: async () => undefined,
      reportStats: async () => undefined,
    };
    source = new SnapshotSource(controlPlane, {
      waitSeconds: 30,
      random: () => 0,
      onUpdate: (a) => applied.push(a.version),
      onError: (_e, retryIn) => errors.push(retryIn),
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      now: () => 0,
      backoff: { initialMs: 200, maxMs: 5000 },
    });
    source.start();
    await source.ready;
    await new Promise((r) => setTimeout(r, 10));
    expect(applied).toEqual([3, 4]);
    expect(calls).toEqual([undefined, 3, 3, 3, 4]);
    expect(errors).toEqual([100, 200]);
    expect(sleeps.slice(0, 2)).toEqual([100, 200]);
  });
});
