import { latencyBucket } from '@skiff/shared';
import { describe, expect, it } from 'vitest';
import { routerFigures } from './live.ts';
import { SeriesRing } from './ring.ts';
import { seriesFields } from './series.ts';

const row = (rps: number) => seriesFields.map((f) => (f === 'rps' ? rps : null));

describe('series ring', () => {
  it('keeps the last `capacity` seconds, oldest first', () => {
    const ring = new SeriesRing(5);
    for (let s = 100; s < 108; s++) ring.write(s, row(s));
    expect(ring.read().map((x) => x[0])).toEqual([103, 104, 105, 106, 107]);
    expect(ring.read(105).map((x) => x[1])).toEqual([106, 107]);
  });

  it('leaves a gap for seconds nobody wrote', () => {
    const ring = new SeriesRing(10);
    ring.write(1, row(1));
    ring.write(12, row(12)); // slot 2 is reused; slots of 2..11 are cleared
    expect(ring.read().map((x) => x[0])).toEqual([12]);
  });

  it('ignores a second older than the ring', () => {
    const ring = new SeriesRing(3);
    ring.write(10, row(10));
    ring.write(5, row(5));
    expect(ring.read().map((x) => x[0])).toEqual([10]);
  });
});

describe('router figures', () => {
  it('adds held and rate over fresh routers and drops stale reports', () => {
    const rev = { namespace: 'default', revision: 'r', averageInFlight: 0 };
    const f = routerFigures(
      [
        {
          router: 'a',
          timestamp: 10_000,
          periodMs: 1000,
          revisions: [{ ...rev, averageHeld: 2, requestsPerSecond: 5 }],
        },
        {
          router: 'b',
          timestamp: 9_500,
          periodMs: 1000,
          revisions: [{ ...rev, averageHeld: 1, requestsPerSecond: 3 }],
        },
        {
          router: 'c',
          timestamp: 1_000,
          periodMs: 1000,
          revisions: [{ ...rev, averageHeld: 9, requestsPerSecond: 9 }],
        },
      ],
      10_000,
    );
    expect(f.get('default/r')).toEqual({ held: 3, rps: 8 });
  });

  it("adds the routers' 5xx per second and takes latency percentiles over their summed histograms", () => {
    const rev = { namespace: 'default', revision: 'r', averageInFlight: 0, averageHeld: 0, requestsPerSecond: 10 };
    const b10 = latencyBucket(10);
    const b200 = latencyBucket(200);
    const f = routerFigures(
      [
        {
          router: 'a',
          timestamp: 10_000,
          periodMs: 1000,
          revisions: [{ ...rev, responses: 90, serverErrors: 2, latency: [[b10, 90]] }],
        },
        {
          router: 'b',
          timestamp: 10_000,
          periodMs: 2000,
          revisions: [{ ...rev, responses: 10, serverErrors: 4, latency: [[b200, 10]] }],
        },
      ],
      10_000,
    );
    const r = f.get('default/r');
    expect(r?.errors5xx).toBe(4);
    expect(r?.p50).toBeCloseTo(10, -1);
    expect(r?.p95).toBeGreaterThanOrEqual(200);
    expect(r?.p95).toBeLessThan(220);
    expect(r?.p99).toBe(r?.p95);
  });
});
