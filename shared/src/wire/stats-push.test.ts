import { describe, expect, it } from 'vitest';
import type { RouterStats } from './stats.ts';
import { RouterStatsSchema } from './stats.ts';
import { maxStatLineBytes, routerStatLines } from './stats-push.ts';

const revision = (i: number) => ({
  namespace: 'default',
  revision: `svc-${i}-00001`,
  averageHeld: i % 3,
  averageInFlight: 1,
  requestsPerSecond: 10,
  responses: 10,
  serverErrors: 0,
  latency: Array.from({ length: 40 }, (_, b) => [b, 1] as [number, number]),
});

describe('routerStatLines', () => {
  it('sends a report that fits as one line', () => {
    const stats: RouterStats = { router: 'r', timestamp: 1, periodMs: 1000, revisions: [revision(1)] };
    expect(routerStatLines(stats)).toEqual([`${JSON.stringify(stats)}\n`]);
  });

  it('spreads a large report over lines that each fit, losing no revision or cold start', () => {
    const stats: RouterStats = {
      router: 'r',
      timestamp: 1,
      periodMs: 1000,
      revisions: Array.from({ length: 500 }, (_, i) => revision(i)),
      coldStarts: [{ namespace: 'default', revision: 'svc-1-00001', at: 5, phases: { held: 12 } }],
    };
    const lines = routerStatLines(stats);
    expect(lines.length).toBeGreaterThan(1);
    const parsed = lines.map((l) => {
      expect(new TextEncoder().encode(l).length).toBeLessThanOrEqual(maxStatLineBytes);
      expect(l.endsWith('\n') && !l.slice(0, -1).includes('\n')).toBe(true);
      return RouterStatsSchema.parse(JSON.parse(l));
    });
    expect(parsed.every((p) => p.router === 'r' && p.timestamp === 1 && p.periodMs === 1000)).toBe(true);
    expect(parsed.flatMap((p) => p.revisions)).toEqual(stats.revisions);
    expect(parsed.flatMap((p) => p.coldStarts ?? [])).toEqual(stats.coldStarts);
  });
});
