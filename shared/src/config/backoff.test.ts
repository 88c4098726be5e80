import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.ts';

describe('backoffDelay', () => {
  const attempts = [0, 1, 2, 3, 4, 10, 100];
  it.each([
    {
      what: 'half random by default (lowest draw)',
      b: { initialMs: 100, maxMs: 1000 },
      r: 0,
      want: [50, 100, 200, 400, 500, 500, 500],
    },
    {
      what: 'half random by default (highest draw)',
      b: { initialMs: 100, maxMs: 1000 },
      r: 1,
      want: [100, 200, 400, 800, 1000, 1000, 1000],
    },
    {
      what: 'exact without jitter',
      b: { initialMs: 100, maxMs: 1000, jitter: 0 },
      r: 0.7,
      want: [100, 200, 400, 800, 1000, 1000, 1000],
    },
    {
      what: 'the first failure retried at once',
      b: { initialMs: 100, maxMs: 1000, immediate: 1, jitter: 0 },
      r: 0,
      want: [0, 100, 200, 400, 800, 1000, 1000],
    },
    {
      what: 'two retried at once',
      b: { initialMs: 10, maxMs: 1000, immediate: 2, jitter: 0 },
      r: 0,
      want: [0, 0, 10, 20, 40, 1000, 1000],
    },
    { what: 'all random', b: { initialMs: 100, maxMs: 1000, jitter: 1 }, r: 0, want: [0, 0, 0, 0, 0, 0, 0] },
  ])('$what', ({ b, r, want }) => {
    expect(attempts.map((n) => backoffDelay(n, b, () => r))).toEqual(want);
  });

  it('stays within [(1 - jitter) × delay, delay] for any draw', () => {
    const b = { initialMs: 150, maxMs: 3000, jitter: 2 / 3 };
    for (let n = 0; n < 12; n++) {
      const full = Math.min(3000, 150 * 2 ** n);
      for (const r of [0, 0.25, 0.5, 0.999]) {
        const d = backoffDelay(n, b, () => r);
        expect(d).toBeGreaterThanOrEqual(full / 3 - 1e-9);
        expect(d).toBeLessThanOrEqual(full);
      }
    }
  });
});
