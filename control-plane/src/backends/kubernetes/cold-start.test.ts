import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { podColdStart } from './cold-start.ts';

const t0 = Date.parse('2026-12-01T05:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

/** A pod as the API server sends it over a watch: times as RFC 3339 strings, whole seconds. */
function pod(name: string, created: number, conditions: Record<string, number | 'False'>): V1Pod {
  return {
    metadata: { name, creationTimestamp: iso(created) as unknown as Date },
    status: {
      conditions: Object.entries(conditions).map(([type, at]) => ({
        type,
        status: at === 'False' ? 'False' : 'True',
        lastTransitionTime: (at === 'False' ? iso(created) : iso(at)) as unknown as Date,
      })),
    },
  };
}

describe('podColdStart', () => {
  it('times spawn, listening and ready from PodScheduled, Initialized and ContainersReady', () => {
    const p = pod('a', t0 + 1000, { PodScheduled: t0 + 2000, Initialized: t0 + 4000, ContainersReady: t0 + 7000 });
    expect(podColdStart(t0 + 300, [p])).toEqual({
      decidedAt: t0 + 300,
      spawnedAt: t0 + 2000,
      listeningAt: t0 + 4000,
      readyAt: t0 + 7000,
    });
  });

  it('reads the typed list’s Date objects as well as a watch’s strings', () => {
    const p = pod('a', t0, { PodScheduled: t0 + 1000, Initialized: t0 + 1000, ContainersReady: t0 + 2000 });
    for (const c of p.status?.conditions ?? [])
      c.lastTransitionTime = new Date(c.lastTransitionTime as unknown as string);
    expect(podColdStart(t0, [p]).readyAt).toBe(t0 + 2000);
  });

  it('stops at the first condition not yet True (a start still under way)', () => {
    const p = pod('a', t0, { PodScheduled: t0 + 1000, Initialized: 'False', ContainersReady: 'False' });
    expect(podColdStart(t0, [p])).toEqual({ decidedAt: t0, spawnedAt: t0 + 1000 });
  });

  it('keeps marks in order and never before the decision (whole-second times)', () => {
    // Decided at .700 of a second; the pod was scheduled and ready within that same second.
    const p = pod('a', t0, { PodScheduled: t0, Initialized: t0, ContainersReady: t0 });
    expect(podColdStart(t0 + 700, [p])).toEqual({
      decidedAt: t0 + 700,
      spawnedAt: t0 + 700,
      listeningAt: t0 + 700,
      readyAt: t0 + 700,
    });
  });

  it('is answered by the first pod to become ready, not the first created', () => {
    const slow = pod('a', t0, { PodScheduled: t0 + 1000, Initialized: t0 + 1000, ContainersReady: 'False' });
    const fast = pod('b', t0 + 1000, { PodScheduled: t0 + 1000, Initialized: t0 + 2000, ContainersReady: t0 + 3000 });
    expect(podColdStart(t0, [slow, fast]).readyAt).toBe(t0 + 3000);
    expect(podColdStart(t0, [slow]).spawnedAt).toBe(t0 + 1000);
  });

  it('ignores pods created before the decision (an earlier start) and has only the decision without pods', () => {
    const old = pod('a', t0 - 60_000, {
      PodScheduled: t0 - 59_000,
      Initialized: t0 - 59_000,
      ContainersReady: t0 - 58_000,
    });
    expect(podColdStart(t0 + 500, [old])).toEqual({ decidedAt: t0 + 500 });
    expect(podColdStart(t0, [])).toEqual({ decidedAt: t0 });
  });
});
