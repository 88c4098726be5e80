import { autoscalerDefaults, resolveAutoscaling } from '@skiff/shared';
import { describe, expect, it } from 'vitest';
import { WindowBuckets } from './buckets.ts';
import { type DeciderState, decide, newDeciderState } from './decider.ts';
import { sampleSize } from './sample.ts';
import { applyScale, newScalerState, type ScalerState } from './scale.ts';

const cc = (n: number) => n;
const settingsFor = (annotations: Record<string, string> = {}, containerConcurrency = 10) =>
  resolveAutoscaling(
    Object.fromEntries(Object.entries(annotations).map(([k, v]) => [`autoscaling.knative.dev/${k}`, v])),
    containerConcurrency,
  );

/**
 * Simulated time: load (concurrency) recorded every second, a tick every 2 s, ready replicas
 * following the desired count after `startDelay` seconds. Returns desired replicas per tick.
 */
function simulate(o: {
  load: (second: number) => number;
  seconds: number;
  annotations?: Record<string, string>;
  containerConcurrency?: number;
  startReady?: number;
  startDelay?: number;
  routed?: boolean;
  enableScaleToZero?: boolean;
}) {
  const settings = settingsFor(o.annotations, o.containerConcurrency ?? 10);
  const stable = new WindowBuckets(settings.stableWindowMs);
  const panic = new WindowBuckets(settings.panicWindowMs);
  let decider: DeciderState | undefined;
  let scaler: ScalerState = { ...newScalerState(settings) };
  let ready = o.startReady ?? 0;
  if (o.startReady !== undefined) scaler = { initialized: true, desired: o.startReady };
  const pending: { at: number; n: number }[] = [];
  const out: { t: number; desired: number; ready: number; panic: boolean; reason: string }[] = [];
  for (let t = 0; t <= o.seconds; t++) {
    const now = t * 1000;
    while (pending[0] && pending[0].at <= t) ready = (pending.shift() as { n: number }).n;
    const load = o.load(t);
    stable.record(now, load);
    panic.record(now, load);
    if (t % 2 !== 0) continue;
    decider ??= newDeciderState(now, ready);
    const d = decide(decider, {
      now,
      stable: stable.average(now, settings.aggregation),
      panic: panic.average(now, settings.aggregation),
      readyPods: ready,
      reachable: o.routed ?? true,
      settings,
      maxScaleUpRate: autoscalerDefaults.maxScaleUpRate,
      maxScaleDownRate: autoscalerDefaults.maxScaleDownRate,
    });
    decider = d.state;
    const a = applyScale(scaler, {
      now,
      want: d.result.desired,
      readyPods: ready,
      routed: o.routed ?? true,
      wanted: true,
      settings,
      enableScaleToZero: o.enableScaleToZero ?? true,
      scaleToZeroGracePeriodMs: autoscalerDefaults.scaleToZeroGracePeriodMs,
    });
    scaler = a.state;
    if (scaler.desired !== (pending.at(-1)?.n ?? ready))
      pending.push({ at: t + (o.startDelay ?? 1), n: scaler.desired });
    out.push({ t, desired: scaler.desired, ready, panic: d.result.inPanic, reason: a.reason || d.result.reason });
  }
  return out;
}

describe('WindowBuckets', () => {
  it('averages linearly over the buckets from the first write to the last, empty seconds as zero', () => {
    const b = new WindowBuckets(10_000);
    b.record(0, 10);
    b.record(1000, 20);
    expect(b.average(1000)).toBe(15);
    expect(b.average(3000)).toBe(15); // seconds not reported yet do not dilute a young series
    b.record(3000, 6);
    expect(b.average(3000)).toBe(9); // 36 over 4 seconds: the silent second counts as 0
    const long = new WindowBuckets(10_000);
    for (let t = 0; t < 20; t++) long.record(t * 1000, 1);
    expect(long.average(24_000)).toBe(0.5); // 15..19 in a window of 15..24
    expect(b.average(20_000)).toBe(0); // nothing for a whole window
    expect(b.isEmpty(20_000)).toBe(true);
  });

  it('sums values recorded in the same second (replicas and routers add up)', () => {
    const b = new WindowBuckets(6000);
    b.record(5000, 3);
    b.record(5400, 4);
    expect(b.average(5900)).toBe(7);
  });

  it('forgets what fell out of the window', () => {
    const b = new WindowBuckets(3000);
    for (let t = 0; t < 10; t++) b.record(t * 1000, t < 5 ? 100 : 1);
    expect(b.average(9000)).toBe(1);
  });

  it('weights recent seconds exponentially, decaying through seconds without data', () => {
    const b = new WindowBuckets(60_000);
    b.record(0, 100);
    expect(b.average(0, 'weighted-exponential')).toBeCloseTo(20, 6); // α = 0.2 for 60 buckets
    expect(b.average(1000, 'weighted-exponential')).toBeCloseTo(16, 6);
    const p = new WindowBuckets(6000);
    p.record(0, 100);
    const alpha = 1 - 0.0001 ** (1 / 6);
    expect(p.average(0, 'weighted-exponential')).toBeCloseTo(100 * alpha, 4);
  });
});

describe('sampleSize (Knative sample_size.go)', () => {
  it.each([
    [0, 0],
    [1, 1],
    [3, 3],
    [10, 7],
    [100, 14],
    [10_000, 16],
  ])('%i replicas → scrape %i', (n, want) => expect(sampleSize(n)).toBe(want));
});

describe('decide', () => {
  const base = {
    readyPods: 1,
    reachable: true,
    settings: settingsFor(),
    maxScaleUpRate: 1000,
    maxScaleDownRate: 2,
  };

  it('steady load at 3× the target → 3 replicas', () => {
    // containerConcurrency 10 → target 7 per replica.
    const d = decide(newDeciderState(0, 0), { ...base, now: 0, readyPods: 3, stable: 21, panic: 21 });
    expect(d.result).toMatchObject({ desired: 3, inPanic: false });
  });

  it('limits scale-up to 1000× and scale-down to half the ready replicas per tick', () => {
    const up = decide(newDeciderState(0, 1), {
      ...base,
      now: 0,
      stable: 1e9,
      panic: 1e9,
      settings: settingsFor({ 'panic-threshold-percentage': '1000' }),
    });
    expect(up.result.desired).toBe(1000);
    const down = decide(newDeciderState(0, 0), { ...base, now: 0, readyPods: 10, stable: 0, panic: 0 });
    expect(down.result.desired).toBe(5);
    const unreachable = decide(newDeciderState(0, 0), {
      ...base,
      now: 0,
      readyPods: 10,
      reachable: false,
      stable: 0,
      panic: 0,
    });
    expect(unreachable.result.desired).toBe(0);
  });

  it('enters panic at 2× the ready replicas and never scales down while in it', () => {
    const s0 = newDeciderState(0, 1);
    const a = decide(s0, { ...base, now: 0, stable: 7, panic: 14 }); // 2 pods wanted on 1 ready
    expect(a.result).toMatchObject({ inPanic: true, desired: 2 });
    const b = decide(a.state, { ...base, now: 2000, readyPods: 2, stable: 3, panic: 3 });
    expect(b.result).toMatchObject({ inPanic: true, desired: 2 });
    // One stable window (60 s) after the last tick over the threshold, panic ends.
    const c = decide(b.state, { ...base, now: 60_000, readyPods: 2, stable: 3, panic: 3 });
    expect(c.result.inPanic).toBe(true);
    const d = decide(c.state, { ...base, now: 60_001, readyPods: 2, stable: 3, panic: 3 });
    expect(d.result).toMatchObject({ inPanic: false, desired: 1 });
  });

  it('respects the panic threshold annotation', () => {
    const settings = settingsFor({ 'panic-threshold-percentage': '400' });
    const d = decide(newDeciderState(0, 1), { ...base, settings, now: 0, stable: 21, panic: 21 });
    expect(d.result).toMatchObject({ inPanic: false, desired: 3 });
  });

  it('starts in panic at the current scale after a restart with more than one ready replica', () => {
    const s = newDeciderState(0, 4);
    const d = decide(s, { ...base, now: 2000, readyPods: 4, stable: 0, panic: 0 });
    expect(d.result).toMatchObject({ inPanic: true, desired: 4 });
    expect(newDeciderState(0, 1).panicSince).toBeUndefined();
  });

  it('scales to at least activation-scale when there is any load', () => {
    const settings = settingsFor({ 'activation-scale': '3' });
    const d = decide(newDeciderState(0, 0), { ...base, settings, readyPods: 0, now: 0, stable: 1, panic: 1 });
    expect(d.result.desired).toBe(3);
    const idle = decide(newDeciderState(0, 0), { ...base, settings, readyPods: 1, now: 0, stable: 0, panic: 0 });
    expect(idle.result.desired).toBe(0);
  });

  it('holds the largest result within scale-down-delay', () => {
    const settings = settingsFor({ 'scale-down-delay': '10s' });
    let s = newDeciderState(0, 1);
    const at = (now: number, load: number, ready: number) => {
      const d = decide(s, { ...base, settings, now, readyPods: ready, stable: load, panic: load });
      s = d.state;
      return d.result.desired;
    };
    expect(at(0, 21, 3)).toBe(3);
    expect(at(2000, 7, 3)).toBe(3); // wants 1, holds the 3 from t=0
    expect(at(9_999, 7, 3)).toBe(3);
    expect(at(10_000, 7, 3)).toBe(1); // the 3 left the 10 s delay window
  });

  it('computes the excess burst capacity as Knative does', () => {
    // CC=10, TBC 211: 5 ready × 10 − 211 − 7 = −168.
    const d = decide(newDeciderState(0, 0), { ...base, now: 0, readyPods: 5, stable: 7, panic: 7 });
    expect(d.result.excessBurstCapacity).toBe(-168);
    const big = settingsFor({ 'target-burst-capacity': '10' }, 100);
    expect(
      decide(newDeciderState(0, 0), { ...base, settings: big, now: 0, readyPods: 3, stable: 50, panic: 50 }).result
        .excessBurstCapacity,
    ).toBe(240);
    const none = settingsFor({ 'target-burst-capacity': '0' });
    expect(
      decide(newDeciderState(0, 0), { ...base, settings: none, now: 0, stable: 5, panic: 5 }).result
        .excessBurstCapacity,
    ).toBe(0);
    const always = settingsFor({ 'target-burst-capacity': '-1' });
    expect(
      decide(newDeciderState(0, 0), { ...base, settings: always, now: 0, stable: 5, panic: 5 }).result
        .excessBurstCapacity,
    ).toBe(-1);
  });

  it('scales on requests per second with metric: rps (200 × 70% = 140 per replica)', () => {
    const settings = settingsFor({ metric: 'rps' });
    const d = decide(newDeciderState(0, 4), { ...base, settings, now: 0, readyPods: 4, stable: 560, panic: 560 });
    expect(d.result.desired).toBe(4);
  });
});

describe('applyScale', () => {
  const settings = settingsFor({ 'min-scale': '2', 'max-scale': '5' });
  const input = {
    now: 0,
    readyPods: 2,
    routed: true,
    wanted: true,
    settings,
    enableScaleToZero: true,
    scaleToZeroGracePeriodMs: 30_000,
  };
  const ready: ScalerState = { initialized: true, desired: 2 };

  it('keeps min-scale while routed and ignores it when not', () => {
    expect(applyScale(ready, { ...input, want: 0 }).state.desired).toBe(2);
    // Wanted but not routed (the newest revision, not ready yet): its initial scale, not min-scale.
    expect(applyScale(ready, { ...input, want: 0, routed: false, readyPods: 0 }).state.desired).toBe(1);
    expect(applyScale(ready, { ...input, want: 0, wanted: false }).state.desired).toBe(0);
  });

  it('caps at max-scale', () => {
    const a = applyScale(ready, { ...input, want: 50 });
    expect(a.state.desired).toBe(5);
    expect(a.reason).toMatch(/max-scale 5/);
  });

  it('runs the initial scale until it was reached once', () => {
    const s = settingsFor({ 'initial-scale': '3' });
    const fresh = newScalerState(s);
    const a = applyScale(fresh, { ...input, settings: s, readyPods: 1, want: 1 });
    expect(a.state).toMatchObject({ initialized: false, desired: 3 });
    const b = applyScale(a.state, { ...input, settings: s, readyPods: 3, want: 1 });
    expect(b.state).toMatchObject({ initialized: true, desired: 1 });
  });

  it('keeps what runs when there is no data yet', () => {
    expect(applyScale({ initialized: true, desired: 4 }, { ...input, want: undefined }).state.desired).toBe(4);
  });

  it('scales to zero only after the grace period (or the retention period, if longer)', () => {
    const s = settingsFor();
    let st: ScalerState = { initialized: true, desired: 1 };
    const at = (now: number) => {
      st = applyScale(st, { ...input, settings: s, now, want: 0, readyPods: 1 }).state;
      return st.desired;
    };
    expect(at(0)).toBe(1);
    expect(at(29_999)).toBe(1);
    expect(at(30_000)).toBe(0);
    const r = settingsFor({ 'scale-to-zero-pod-retention-period': '45s' });
    let st2: ScalerState = { initialized: true, desired: 1 };
    st2 = applyScale(st2, { ...input, settings: r, now: 0, want: 0 }).state;
    st2 = applyScale(st2, { ...input, settings: r, now: 40_000, want: 0 }).state;
    expect(st2.desired).toBe(1);
    st2 = applyScale(st2, { ...input, settings: r, now: 45_000, want: 0 }).state;
    expect(st2.desired).toBe(0);
  });

  it('never goes to zero when scale to zero is disabled', () => {
    const s = settingsFor();
    expect(applyScale(ready, { ...input, settings: s, want: 0, enableScaleToZero: false }).state.desired).toBe(1);
  });
});

describe('the KPA over simulated time (buckets + decide + applyScale)', () => {
  it('steady load at 3× target settles at 3 replicas', () => {
    const r = simulate({ load: () => 21, seconds: 120, startReady: 1 });
    expect(r.at(-1)?.desired).toBe(3);
    expect(r.slice(-20).every((x) => x.desired === 3)).toBe(true);
  });

  it('a 10× step enters panic and scales within one tick', () => {
    // 7 in flight (1 replica at target), then 70 from t=30.
    const r = simulate({ load: (t) => (t < 30 ? cc(7) : 70), seconds: 40, startReady: 1 });
    // The first tick after the step: panic, and a scale-up on the 6 s panic window rather
    // than the 60 s stable one ((5×7 + 70)/6 = 17.5 → 3 replicas; the stable window says 2).
    const first = r.find((x) => x.t >= 30);
    expect(first).toMatchObject({ t: 30, panic: true, desired: 3 });
    // Once the panic window has seen only the new load: 70 / 7 = 10 replicas.
    expect(r.find((x) => x.t === 36)?.desired).toBe(10);
  });

  it('a load drop in panic does not scale down for a stable window', () => {
    // 70 in flight on one replica at t=0 (10× target): panic, 10 replicas. The load falls to 1
    // at t=20; panic (last over the threshold at t=0) holds the 10 until t=60 has passed.
    const r = simulate({ load: (t) => (t < 20 ? 70 : 1), seconds: 100, startReady: 1 });
    expect(r[0]).toMatchObject({ t: 0, panic: true, desired: 10 });
    for (const x of r.filter((x) => x.t <= 60)) expect(x).toMatchObject({ panic: true, desired: 10 });
    expect(r.find((x) => x.t === 62)).toMatchObject({ panic: false, desired: 5 }); // ÷2 per tick
    expect(r.at(-1)?.desired).toBeLessThan(5);
  });

  it('idle goes to zero after the stable window and the grace period', () => {
    const r = simulate({ load: (t) => (t < 5 ? 5 : 0), seconds: 200, startReady: 1 });
    const zeroAt = r.find((x) => x.desired === 0)?.t ?? Number.NaN;
    // Load leaves the 60 s stable window at ~65 s, then 30 s of grace.
    expect(zeroAt).toBeGreaterThanOrEqual(94);
    expect(zeroAt).toBeLessThanOrEqual(98);
    expect(r.find((x) => x.desired === 0)?.reason).toMatch(/grace/);
  });

  it('min-scale is a floor and max-scale a ceiling', () => {
    const idle = simulate({ load: () => 0, seconds: 200, startReady: 2, annotations: { 'min-scale': '2' } });
    expect(idle.every((x) => x.desired === 2)).toBe(true);
    const busy = simulate({ load: () => 700, seconds: 30, startReady: 1, annotations: { 'max-scale': '4' } });
    expect(Math.max(...busy.map((x) => x.desired))).toBe(4);
  });

  it('weighted-exponential reacts faster to a drop than linear', () => {
    const shape = (t: number) => (t < 60 ? 35 : 7);
    const lin = simulate({ load: shape, seconds: 90, startReady: 5 });
    const exp = simulate({
      load: shape,
      seconds: 90,
      startReady: 5,
      annotations: { 'metric-aggregation-algorithm': 'weighted-exponential' },
    });
    const when = (r: typeof lin) => r.find((x) => x.t > 60 && x.desired < 5)?.t ?? 999;
    expect(when(exp)).toBeLessThan(when(lin));
  });
});
