import { describe, expect, it } from 'vitest';
import { coldStartBreakdown, serverTiming } from './cold-start.ts';

describe('cold-start breakdown', () => {
  const times = { decidedAt: 1_020, spawnedAt: 1_050, listeningAt: 1_300, readyAt: 1_340 };

  it('splits the wait at the router into the control plane phases, which add up to it', () => {
    const p = coldStartBreakdown(1_000, 1_400, 1_410, times);
    expect(p).toEqual({ held: 400, decision: 20, spawn: 30, listening: 250, ready: 40, routed: 60, 'first-byte': 10 });
    const { held, 'first-byte': _, ...rest } = p;
    expect(Object.values(rest).reduce((a, b) => a + (b ?? 0), 0)).toBe(held);
  });

  it('counts a decision made before the request arrived (a burst) as no decision time', () => {
    expect(coldStartBreakdown(1_030, 1_400, 1_400, times)).toMatchObject({ decision: 0, spawn: 20, held: 370 });
  });

  it("clamps marks to the hold (another machine's clock may run ahead)", () => {
    const p = coldStartBreakdown(1_000, 1_200, 1_250, { decidedAt: 990, readyAt: 1_500 });
    expect(p).toEqual({ held: 200, decision: 0, ready: 200, routed: 0, 'first-byte': 50 });
  });

  it('gives only held and first-byte for a wait for capacity, when the replica was ready before', () => {
    expect(coldStartBreakdown(2_000, 2_050, 2_060, times)).toEqual({ held: 50, 'first-byte': 10 });
    expect(coldStartBreakdown(2_000, 2_050, 2_060, undefined)).toEqual({ held: 50, 'first-byte': 10 });
  });

  it('writes Server-Timing in phase order with durations in ms', () => {
    const header = serverTiming(coldStartBreakdown(1_000, 1_400, 1_410.46, times));
    expect(header).toBe(
      'held;dur=400, decision;dur=20, spawn;dur=30, listening;dur=250, ready;dur=40, routed;dur=60, first-byte;dur=10.5',
    );
  });
});
