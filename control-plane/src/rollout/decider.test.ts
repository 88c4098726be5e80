import { type GatedRolloutPolicy, type RolloutPolicy, rolloutPolicy } from '@skiff/shared';
import { describe, expect, it } from 'vitest';
import { decideRollout, type Figures, type RolloutInput, type RolloutState } from './decider.ts';
import { adjustShares, startShares, stepParams, stepShares } from './knative.ts';

describe("Knative's gradual rollout formulas (rollout.go)", () => {
  // computeProperties: duration less the first step, equal steps of at least 1%, round(remaining / steps).
  it.each([
    // percent, minStepSec, durationSecs, stepSize, stepDurationMs
    [100, 1, 100, 1, 1000], // 99 steps of 1% over 99 s
    [100, 1, 5, 25, 1000], // 1% -> 26 -> 51 -> 76 -> 100 (4 steps)
    [100, 2, 120, 2, 2000], // 59 steps of 2 s, round(99 / 59) = 2
    [100, 1, 1, 99, 1000], // less time than one step: one step of the rest
    [50, 1, 200, 1, 199_000 / 49], // more steps than percents: 49 steps of 1%
    [10, 3, 60, 1, 57_000 / 9],
    [100, 10, 30, 50, 10_000], // 2 steps of 10 s
  ])('percent %i, first step %is, duration %is: step %i%% every %f ms', (percent, minStep, duration, size, ms) => {
    const p = stepParams(percent, minStep, duration, 1_000_000);
    const d = Math.max(1, duration - minStep);
    const steps = Math.min(percent - 1, Math.max(1, d / minStep));
    // The reference's formulas, restated.
    expect(p.stepSize).toBe(Math.round((percent - 1) / steps));
    expect(p.stepDurationMs).toBeCloseTo((d / steps) * 1000, 6);
    expect(p.stepSize).toBe(size);
    expect(p.stepDurationMs).toBeCloseTo(ms, 6);
    expect(p.nextStepTime).toBeCloseTo(1_000_000 + p.stepDurationMs, 6);
  });

  it('starts a new revision at 1%, taken from the newest revision with traffic', () => {
    expect(startShares([{ revision: 'a', percent: 100 }], 'b')).toEqual([
      { revision: 'a', percent: 99 },
      { revision: 'b', percent: 1 },
    ]);
    // A newer revision mid-rollout: the in-flight one gives up 1%; the oldest keeps its share.
    expect(
      startShares(
        [
          { revision: 'a', percent: 60 },
          { revision: 'b', percent: 40 },
        ],
        'c',
      ),
    ).toEqual([
      { revision: 'a', percent: 60 },
      { revision: 'b', percent: 39 },
      { revision: 'c', percent: 1 },
    ]);
    // A 1% revision drained to 0 leaves.
    expect(
      startShares(
        [
          { revision: 'a', percent: 99 },
          { revision: 'b', percent: 1 },
        ],
        'c',
      ),
    ).toEqual([
      { revision: 'a', percent: 99 },
      { revision: 'c', percent: 1 },
    ]);
  });

  it('steps take from the next newest revision first, and drop drained ones', () => {
    const shares = [
      { revision: 'a', percent: 60 },
      { revision: 'b', percent: 10 },
      { revision: 'c', percent: 30 },
    ];
    expect(stepShares(shares, 25, 100)).toEqual([
      { revision: 'a', percent: 45 },
      { revision: 'c', percent: 55 },
    ]);
    expect(
      stepShares(
        [
          { revision: 'a', percent: 24 },
          { revision: 'b', percent: 76 },
        ],
        25,
        100,
      ),
    ).toEqual([{ revision: 'b', percent: 100 }]);
  });

  it('follows a change of the total: more to the newest, less from the oldest', () => {
    const shares = [
      { revision: 'a', percent: 40 },
      { revision: 'b', percent: 10 },
    ];
    expect(adjustShares(shares, 60)).toEqual([
      { revision: 'a', percent: 40 },
      { revision: 'b', percent: 20 },
    ]);
    expect(adjustShares(shares, 15)).toEqual([
      { revision: 'a', percent: 5 },
      { revision: 'b', percent: 10 },
    ]);
    expect(adjustShares(shares, 8)).toEqual([{ revision: 'b', percent: 8 }]);
    expect(adjustShares(shares, 0)).toEqual([]);
  });
});

const none: Figures = { responses: 0, serverErrors: 0, p99Ms: undefined };

function run(
  policy: RolloutPolicy,
  steps: {
    at: number;
    latestReady: string;
    figures?: Record<string, Figures>;
    unhealthy?: string[];
    /** When a replica of each revision last crashed or lost readiness. */
    trouble?: Record<string, number>;
    percent?: number;
  }[],
  initial?: RolloutState,
) {
  let state = initial;
  const out: { state: RolloutState; events: string[]; next: number | undefined }[] = [];
  for (const s of steps) {
    const input: RolloutInput = {
      now: s.at,
      policy,
      percent: s.percent ?? 100,
      latestReady: s.latestReady,
      healthy: (r) => !(s.unhealthy ?? []).includes(r),
      troubleAt: (r) => s.trouble?.[r],
      previous: state,
      figures: (r) => s.figures?.[r] ?? none,
    };
    const d = decideRollout(input);
    state = d.state;
    out.push({ state: d.state, events: d.events.map((e) => e.action), next: d.nextCheckAt });
  }
  return out;
}

describe('decideRollout: Knative mode', () => {
  const policy: RolloutPolicy = { kind: 'knative', durationSeconds: 5 };

  it('moves 1% at once, then equal steps on time, to 100%', () => {
    const r = run(policy, [
      { at: 0, latestReady: 'a' },
      { at: 10_000, latestReady: 'b' },
      { at: 10_050, latestReady: 'b' }, // the 1% is served: it counts as 1 s, then 4 steps of 25% every 1 s
      { at: 12_000, latestReady: 'b' },
      { at: 13_000, latestReady: 'b' },
      { at: 14_000, latestReady: 'b' },
      { at: 15_000, latestReady: 'b' },
    ]);
    expect(r[0]?.state.shares).toEqual([{ revision: 'a', percent: 100 }]);
    expect(r[1]?.state.shares.map((s) => s.percent)).toEqual([99, 1]);
    expect(r[1]?.next).toBe(10_001);
    expect(r[2]?.state).toMatchObject({ stepSize: 25, stepDurationMs: 1000, nextStepTime: 12_000 });
    expect(r.slice(3).map((x) => x.state.shares.at(-1)?.percent)).toEqual([26, 51, 76, 100]);
    expect(r[6]?.state.shares).toEqual([{ revision: 'b', percent: 100 }]);
    expect(r[6]?.state.outcome?.result).toBe('Succeeded');
    expect(r[6]?.events).toEqual(['rollout-succeeded']);
    expect(r[6]?.next).toBeUndefined();
  });

  it('waits for the step time, whenever it is asked', () => {
    const r = run(policy, [
      { at: 0, latestReady: 'a' },
      { at: 10_000, latestReady: 'b' },
      { at: 10_500, latestReady: 'b' },
      { at: 11_000, latestReady: 'b' },
      { at: 11_999, latestReady: 'b' },
      { at: 12_000, latestReady: 'b' },
    ]);
    expect(r[1]?.state.stepSize).toBeUndefined();
    expect(r[2]?.state).toMatchObject({ stepSize: 25, nextStepTime: 12_000 });
    expect(r[4]?.state.shares.at(-1)?.percent).toBe(1);
    expect(r[5]?.state.shares.at(-1)?.percent).toBe(26);
  });

  it('a newer revision mid-rollout takes 1% from the one rolling out; steps drain it first', () => {
    const r = run(policy, [
      { at: 0, latestReady: 'a' },
      { at: 10_000, latestReady: 'b' },
      { at: 10_100, latestReady: 'b' },
      { at: 12_000, latestReady: 'b' },
      { at: 12_500, latestReady: 'c' },
    ]);
    expect(r[3]?.state.shares).toEqual([
      { revision: 'a', percent: 74 },
      { revision: 'b', percent: 26 },
    ]);
    expect(r[4]?.state.shares).toEqual([
      { revision: 'a', percent: 74 },
      { revision: 'b', percent: 25 },
      { revision: 'c', percent: 1 },
    ]);
    expect(r[4]?.state.stepSize).toBeUndefined();
  });

  it('moves at once without a duration, or for a 1% target (Knative skips those)', () => {
    const immediate = run({ kind: 'immediate' }, [
      { at: 0, latestReady: 'a' },
      { at: 1, latestReady: 'b' },
    ]);
    expect(immediate[1]?.state.shares).toEqual([{ revision: 'b', percent: 100 }]);
    const one = run(policy, [
      { at: 0, latestReady: 'a', percent: 1 },
      { at: 1, latestReady: 'b', percent: 1 },
    ]);
    expect(one[1]?.state.shares).toEqual([{ revision: 'b', percent: 1 }]);
  });
});

describe('decideRollout: SLO-gated steps', () => {
  const policy: GatedRolloutPolicy = {
    kind: 'gated',
    steps: [10, 50, 100],
    stepDurationMs: 5000,
    minRequests: 100,
    maxErrorRate: 1,
    maxLatencyIncreaseMs: 200,
  };
  const good = (n: number): Figures => ({ responses: n, serverErrors: 0, p99Ms: 20, p95Ms: 15, p90Ms: 12, p50Ms: 5 });

  it('moves through the steps after each dwell once enough requests were judged, then succeeds', () => {
    const r = run(policy, [
      { at: 0, latestReady: 'a' },
      { at: 1000, latestReady: 'b' },
      { at: 6000, latestReady: 'b', figures: { b: good(50), a: good(500) } }, // dwell over, too few requests
      { at: 7000, latestReady: 'b', figures: { b: good(1000), a: good(9000) } },
      { at: 12_000, latestReady: 'b', figures: { b: good(1000), a: good(1000) } },
    ]);
    expect(r[1]?.state.shares).toEqual([
      { revision: 'a', percent: 90 },
      { revision: 'b', percent: 10 },
    ]);
    expect(r[1]?.events).toEqual(['rollout-start']);
    expect(r[1]?.next).toBe(2000);
    expect(r[2]?.state.step).toBe(0);
    expect(r[3]?.state).toMatchObject({ step: 1, stepStartedAt: 7000 });
    expect(r[3]?.state.shares.map((s) => s.percent)).toEqual([50, 50]);
    expect(r[4]?.state.shares).toEqual([{ revision: 'b', percent: 100 }]);
    expect(r[4]?.state.outcome?.result).toBe('Succeeded');
  });

  it('rolls back at once on the error-rate gate, names the figures, and never retries the revision', () => {
    const r = run(policy, [
      { at: 0, latestReady: 'a' },
      { at: 1000, latestReady: 'b' },
      {
        at: 3000,
        latestReady: 'b',
        figures: {
          b: { responses: 120, serverErrors: 24, p99Ms: 20 },
          a: { responses: 1000, serverErrors: 1, p99Ms: 20 },
        },
      },
      { at: 60_000, latestReady: 'b' },
    ]);
    expect(r[2]?.state.shares).toEqual([{ revision: 'a', percent: 100 }]);
    expect(r[2]?.events).toEqual(['rollout-rolled-back']);
    expect(r[2]?.state.outcome?.result).toBe('RolledBack');
    expect(r[2]?.state.outcome?.message).toBe(
      'revision "b" breached at step 1 (10%): 5xx 20% vs 0.1% (max +1 points) over 120 requests',
    );
    expect(r[3]?.state.shares).toEqual([{ revision: 'a', percent: 100 }]);
    expect(r[3]?.events).toEqual([]);
  });

  it('rolls back on the latency gate', () => {
    const r = run(policy, [
      { at: 0, latestReady: 'a' },
      { at: 1000, latestReady: 'b' },
      {
        at: 3000,
        latestReady: 'b',
        figures: {
          b: { responses: 1000, serverErrors: 0, p99Ms: 330 },
          a: { responses: 9000, serverErrors: 0, p99Ms: 12 },
        },
      },
    ]);
    expect(r[2]?.state.outcome?.message).toContain('p99 330ms vs 12ms (max +200ms)');
    expect(r[2]?.state.shares).toEqual([{ revision: 'a', percent: 100 }]);
  });

  // One verdict per row, on a step that began at 1000 (dwell 5 s, so the sample wait ends at 16 s).
  // bench/rollout.mjs once rolled back a good revision on "p99 304ms vs 34ms over 198 requests".
  const slowTail = (n: number, slow: number, ms: number, fast = 34): Figures => {
    // n answers of which `slow` took `ms` and the rest `fast`: each quantile as the histogram gives it.
    const at = (q: number) => (n - Math.max(1, Math.ceil(q * n)) < slow ? ms : fast);
    return { responses: n, serverErrors: 0, p99Ms: at(0.99), p95Ms: at(0.95), p90Ms: at(0.9), p50Ms: at(0.5) };
  };
  const errors = (n: number, e: number): Figures => ({ ...good(n), serverErrors: e });
  it.each([
    // name, at, candidate, stable, outcome
    [
      '198 answers, 2 stalled: p99 is a stall, not judged; the step waits',
      7000,
      slowTail(198, 2, 304),
      slowTail(3800, 10, 34),
      'waits',
    ],
    [
      'the same after the sample wait: judged on p90, which 19 answers back, and passes',
      16_000,
      slowTail(198, 2, 304),
      slowTail(3800, 10, 34),
      'steps',
    ],
    [
      '198 answers all 300 ms slower: p90 breaches before the dwell ends',
      3000,
      slowTail(198, 198, 334),
      slowTail(3800, 0, 34),
      'p90 334ms vs 34ms',
    ],
    [
      '1,000 answers, 9 stalled: p99 within bounds, the step moves on',
      7000,
      slowTail(1000, 9, 304),
      slowTail(9000, 0, 34),
      'steps',
    ],
    [
      '1,000 answers, 11 slow: a p99 breach resting on 10 answers beyond it',
      7000,
      slowTail(1000, 11, 304),
      slowTail(9000, 0, 34),
      'p99 304ms vs 34ms',
    ],
    [
      '15 answers beyond min-requests 10 but under 20: no quantile, waits',
      7000,
      slowTail(15, 15, 900),
      slowTail(300, 0, 34),
      'waits',
    ],
    [
      'a baseline with few answers limits the quantile too',
      7000,
      slowTail(5000, 40, 304),
      slowTail(150, 0, 34),
      'waits',
    ],
    [
      '2 stray 5xx of 100 (2%): under 10 answers beyond the baseline, waits',
      7000,
      errors(100, 2),
      errors(9000, 0),
      'waits',
    ],
    ['the same after the sample wait: breaches', 16_000, errors(100, 2), errors(9000, 0), '5xx 2% vs 0%'],
    [
      '20% 5xx over 100: 20 answers beyond, breaches at once',
      3000,
      errors(100, 20),
      errors(9000, 9),
      '5xx 20% vs 0.1%',
    ],
  ] as const)('latency and error gates judge only figures resting on 10 answers: %s', (_, at, b, a, outcome) => {
    const p: GatedRolloutPolicy = { ...policy, minRequests: 10 };
    const r = run(p, [
      { at: 0, latestReady: 'a' },
      { at: 1000, latestReady: 'b' },
      { at, latestReady: 'b', figures: { a, b } },
    ]);
    const state = r[2]?.state as RolloutState;
    if (outcome === 'waits') {
      expect(state).toMatchObject({
        step: 0,
        shares: [
          { revision: 'a', percent: 90 },
          { revision: 'b', percent: 10 },
        ],
      });
      expect(r[2]?.events).toEqual([]);
    } else if (outcome === 'steps') {
      expect(state.step).toBe(1);
      expect(r[2]?.events).toEqual(['rollout-step']);
    } else {
      expect(state.shares).toEqual([{ revision: 'a', percent: 100 }]);
      expect(state.outcome?.result).toBe('RolledBack');
      expect(state.outcome?.message).toContain(outcome);
    }
  });

  it('rolls back when the new revision fails readiness or crashes', () => {
    const r = run(policy, [
      { at: 0, latestReady: 'a' },
      { at: 1000, latestReady: 'b' },
      { at: 2000, latestReady: 'a', unhealthy: ['b'] },
    ]);
    expect(r[2]?.state.shares).toEqual([{ revision: 'a', percent: 100 }]);
    expect(r[2]?.state.outcome?.result).toBe('RolledBack');
    expect(r[2]?.state.outcome?.message).toBe('revision "b" failed at step 1 (10% of the traffic)');
    expect(r[2]?.state.failedRevision).toBe('b');
  });

  it('rolls back a new revision whose replica crashed or lost readiness since the rollout began, even if it came back', () => {
    const r = run(policy, [
      { at: 0, latestReady: 'a' },
      // Its replicas crashed while it started, before it was ever Ready: that does not count.
      { at: 1000, latestReady: 'b', trouble: { b: 400 } },
      { at: 2000, latestReady: 'b', trouble: { b: 400, a: 1500 } },
      { at: 3000, latestReady: 'b', trouble: { b: 2500 } },
      { at: 60_000, latestReady: 'b', trouble: { b: 2500 } },
    ]);
    expect(r[1]?.state.shares.map((s) => s.percent)).toEqual([90, 10]);
    // Trouble on the stable revision is not the candidate's.
    expect(r[2]?.state.shares.map((s) => s.percent)).toEqual([90, 10]);
    expect(r[3]?.state.shares).toEqual([{ revision: 'a', percent: 100 }]);
    expect(r[3]?.state.outcome).toMatchObject({
      result: 'RolledBack',
      message: 'revision "b" had a replica crash or fail its readiness probe at step 1 (10% of the traffic)',
    });
    expect(r[4]?.state.shares).toEqual([{ revision: 'a', percent: 100 }]);
    expect(r[4]?.events).toEqual([]);
  });

  it('waits past the dwell until min-requests are served', () => {
    const r = run(policy, [
      { at: 0, latestReady: 'a' },
      { at: 1000, latestReady: 'b' },
      { at: 100_000, latestReady: 'b', figures: { b: good(99) } },
    ]);
    expect(r[2]?.state.step).toBe(0);
  });

  it('a newer revision replaces the one being judged; the stable one stays', () => {
    const r = run(policy, [
      { at: 0, latestReady: 'a' },
      { at: 1000, latestReady: 'b' },
      { at: 7000, latestReady: 'b', figures: { b: good(100) } },
      { at: 8000, latestReady: 'c' },
    ]);
    expect(r[3]?.state.shares).toEqual([
      { revision: 'a', percent: 90 },
      { revision: 'c', percent: 10 },
    ]);
    expect(r[3]?.state).toMatchObject({ stable: 'a', step: 0 });
  });

  it('pause holds the step, resume restarts its dwell, promote and abort end it', () => {
    const start = run(policy, [
      { at: 0, latestReady: 'a' },
      { at: 1000, latestReady: 'b' },
    ]);
    const running = start[1]?.state as RolloutState;
    const paused = run(policy, [{ at: 7000, latestReady: 'b', figures: { b: good(200) } }], {
      ...running,
      commands: ['pause'],
    });
    expect(paused[0]?.state).toMatchObject({ paused: true, step: 0 });
    expect(paused[0]?.events).toEqual(['rollout-paused']);
    const resumed = run(policy, [{ at: 9000, latestReady: 'b', figures: { b: good(200) } }], {
      ...(paused[0]?.state as RolloutState),
      commands: ['resume'],
    });
    expect(resumed[0]?.state).toMatchObject({ paused: false, step: 0, stepStartedAt: 9000 });
    const promoted = run(policy, [{ at: 9000, latestReady: 'b' }], { ...running, commands: ['promote'] });
    expect(promoted[0]?.state.shares).toEqual([{ revision: 'b', percent: 100 }]);
    expect(promoted[0]?.state.outcome?.result).toBe('Succeeded');
    const aborted = run(policy, [{ at: 9000, latestReady: 'b' }], { ...running, commands: ['abort'] });
    expect(aborted[0]?.state.shares).toEqual([{ revision: 'a', percent: 100 }]);
    expect(aborted[0]?.state.outcome?.result).toBe('Aborted');
    // Resume after a roll-back retries the revision from its first step.
    const retried = run(policy, [{ at: 10_000, latestReady: 'b' }], {
      ...(aborted[0]?.state as RolloutState),
      commands: ['resume'],
    });
    expect(retried[0]?.state.shares.map((s) => s.percent)).toEqual([90, 10]);
  });

  it('resumes from the stored step (a restarted control plane has only the stored state)', () => {
    const r = run(policy, [
      { at: 0, latestReady: 'a' },
      { at: 1000, latestReady: 'b' },
      { at: 7000, latestReady: 'b', figures: { b: good(100) } },
    ]);
    const stored = JSON.parse(JSON.stringify(r[2]?.state)) as RolloutState;
    const after = run(policy, [{ at: 8000, latestReady: 'b' }], stored);
    expect(after[0]?.state.shares.map((s) => s.percent)).toEqual([50, 50]);
    expect(after[0]?.state.step).toBe(1);
  });
});

describe('rolloutPolicy', () => {
  it('is gated with any rollout.skiff.dev annotation, Knative with a duration, else immediate', () => {
    expect(rolloutPolicy({ 'rollout.skiff.dev/steps': '5,50' })).toMatchObject({
      kind: 'gated',
      steps: [5, 50],
      stepDurationMs: 30_000,
      minRequests: 100,
      maxErrorRate: 1,
      maxLatencyIncreaseMs: 200,
    });
    expect(rolloutPolicy({ 'serving.knative.dev/rollout-duration': '120s' })).toEqual({
      kind: 'knative',
      durationSeconds: 120,
    });
    expect(rolloutPolicy({}, 30)).toEqual({ kind: 'knative', durationSeconds: 30 });
    expect(rolloutPolicy({ 'serving.knative.dev/rollout-duration': '0s' }, 30)).toEqual({ kind: 'immediate' });
    expect(rolloutPolicy(undefined)).toEqual({ kind: 'immediate' });
  });
});
