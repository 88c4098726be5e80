import { backoffDelay } from '@skiff/shared';
import { describe, expect, it } from 'vitest';
import { childRestartBackoff } from '../cli/supervisor.ts';
import { applyRetryBackoff, rejectedApplyBackoff } from './kubernetes/kubernetes-backend.ts';
import { watchBackoff } from './kubernetes/reflector.ts';
import { replicaCrashBackoff } from './local/local-backend.ts';

// The schedules each retrier had before they shared `backoffDelay`, failure by failure (0-based).
describe('the control plane’s backoff schedules', () => {
  const n = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  it.each([
    {
      what: 'skiff up restarts a child at once, then after 100 ms doubling to 5 s',
      b: childRestartBackoff,
      want: [0, 100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000],
    },
    {
      what: 'a crashed replica is replaced at once, then a revision crashing again waits 200 ms doubling to 10 s',
      b: replicaCrashBackoff,
      want: [0, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000, 10_000],
    },
    {
      what: 'a failed Kubernetes list or watch is retried after 200 ms doubling to 30 s',
      b: watchBackoff,
      want: [200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000, 30_000],
    },
    {
      what: 'a rejected apply is retried after 5 s doubling to 5 min',
      b: rejectedApplyBackoff,
      want: [5000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000, 300_000, 300_000],
    },
  ])('$what', ({ b, want }) => {
    // Exact schedules: no draw changes them.
    for (const r of [0, 0.5, 0.999]) expect(n.map((i) => backoffDelay(i, b, () => r))).toEqual(want);
  });

  it('a failed API call is retried after 50–150 ms, doubling to 1–3 s', () => {
    const low = n.slice(0, 7).map((i) => Math.round(backoffDelay(i, applyRetryBackoff, () => 0)));
    const high = n.slice(0, 7).map((i) => Math.round(backoffDelay(i, applyRetryBackoff, () => 1)));
    expect(low).toEqual([50, 100, 200, 400, 800, 1000, 1000]);
    expect(high).toEqual([150, 300, 600, 1200, 2400, 3000, 3000]);
  });
});
