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

/** mulberry32: a seeded generator, so a failing case is named by its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('series ring in runs', () => {
  it('holds an idle hour as one run and reads it back second by second', () => {
    const ring = new SeriesRing();
    const idle = seriesFields.map((f) => (f === 'desired' || f === 'actual' ? 0 : null));
    for (let s = 1_000_000; s < 1_000_000 + 3 * 3600; s++) ring.write(s, idle);
    expect(ring.runs).toBe(1);
    const read = ring.read();
    expect(read).toHaveLength(3600);
    expect(read[0]?.[0]).toBe(1_000_000 + 2 * 3600);
    expect(read.at(-1)).toEqual([1_000_000 + 3 * 3600 - 1, ...idle]);
  });

  it('reads what a second-per-slot ring reads, whatever the writes (500 random cases)', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const r = prng(seed);
      const capacity = 1 + Math.floor(r() * 40);
      const ring = new SeriesRing(capacity);
      // The reference: every second written, kept while inside the window of the newest.
      const ref = new Map<number, (number | null)[]>();
      let last: number | undefined;
      let s = 1_700_000_000 + Math.floor(r() * 1000);
      const rows = [row(1), row(2), seriesFields.map(() => null), seriesFields.map((_, i) => i)];
      for (let k = 0; k < 200; k++) {
        const step = r();
        s +=
          step < 0.7 ? 1 : step < 0.85 ? 2 + Math.floor(r() * capacity * 1.5) : step < 0.95 ? 0 : -Math.floor(r() * 5);
        const values =
          r() < 0.8 ? (rows[k % 2 === 0 ? 0 : Math.floor(r() * rows.length)] as (number | null)[]) : row(r());
        ring.write(s, values);
        if (last === undefined || s >= last - capacity + 1) {
          ref.set(
            s,
            values.map((v) => (v === null ? null : Math.fround(v))),
          );
          last = Math.max(last ?? s, s);
        }
      }
      const since = (last as number) - Math.floor(r() * capacity * 1.2);
      for (const from of [undefined, since]) {
        const expected = [...ref]
          .filter(
            ([t, v]) =>
              t > (last as number) - capacity && (from === undefined || t > from) && v.some((x) => x !== null),
          )
          .sort((a, b) => a[0] - b[0])
          .map(([t, v]) => [t, ...v]);
        expect([seed, from, ring.read(from)]).toEqual([seed, from, expected]);
      }
      expect(ring.runs).toBeLessThanOrEqual(capacity);
    }
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
