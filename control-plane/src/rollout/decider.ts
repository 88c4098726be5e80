import { formatDuration, type GatedRolloutPolicy, type RolloutPolicy } from '@skiff/shared';
import { adjustShares, type Share, startShares, stepParams, stepShares } from './knative.ts';

/** A manual command, applied by the next decision. */
export type RolloutCommand = 'pause' | 'resume' | 'promote' | 'abort';

/** How the last rollout ended. */
export interface RolloutOutcome {
  result: 'Succeeded' | 'RolledBack' | 'Aborted';
  revision: string;
  message: string;
  at: number;
}

/**
 * A Service's rollout, as stored (one row per Service): the shares of its untagged
 * `latestRevision` traffic, oldest first, adding up to `percent`. More than one share means a
 * rollout is in progress (Knative's `ConfigurationRollout`).
 */
export interface RolloutState {
  percent: number;
  shares: Share[];
  mode?: 'knative' | 'gated';
  /** Knative: when the rollout began; step size and period once the first 1% was served. */
  startTime?: number;
  stepSize?: number;
  stepDurationMs?: number;
  nextStepTime?: number;
  /** Gated: when it began, the revision judged against, the step index and when the step began. */
  startedAt?: number;
  stable?: string;
  step?: number;
  stepStartedAt?: number;
  paused?: boolean;
  commands?: RolloutCommand[];
  outcome?: RolloutOutcome;
  /** Rolled back: not rolled out again unless a user says so (promote, resume, or a new template). */
  failedRevision?: string;
}

/** One revision's answers through every router since a moment. */
export interface Figures {
  responses: number;
  serverErrors: number;
  /** Undefined without responses. */
  p99Ms: number | undefined;
  /** Lower quantiles, judged while too few answers back the p99 (see `latencyQuantileFor`). */
  p95Ms?: number | undefined;
  p90Ms?: number | undefined;
  p50Ms?: number | undefined;
}

/**
 * The least answers a verdict rests on: a latency quantile is judged only when at least this many
 * answers lie beyond it (the p99 needs 1,000 answers), and an error-rate breach only when the new
 * revision's 5xx beyond the old one's rate number at least this many. Fewer, and a machine stall or
 * two stray 5xx would decide the rollout (bench/rollout.mjs once rolled back a good revision on
 * "p99 304ms vs 34ms over 198 requests": its p99 was its second-slowest answer).
 */
export const minAnswersBeyond = 10;

/**
 * While a gate's figures rest on too few answers the step waits, neither passing nor failing, for
 * at most this many step durations; then the gates decide on what there is (the latency gate on
 * the highest quantile with enough answers beyond it, none under 20 answers).
 */
export const sampleWaitSteps = 3;

const quantiles = [
  { name: 'p99', q: 0.99, key: 'p99Ms' },
  { name: 'p95', q: 0.95, key: 'p95Ms' },
  { name: 'p90', q: 0.9, key: 'p90Ms' },
  { name: 'p50', q: 0.5, key: 'p50Ms' },
] as const;

/** The highest of p99, p95, p90 and p50 with `minAnswersBeyond` answers beyond it among `answers`. */
export function latencyQuantileFor(answers: number): (typeof quantiles)[number] | undefined {
  // Integer arithmetic: answers beyond the quantile q are (1 - q) * answers.
  return quantiles.find((x) => Math.round((1 - x.q) * 100) * answers >= minAnswersBeyond * 100);
}

export interface RolloutInput {
  now: number;
  policy: RolloutPolicy;
  /** The untagged `latestRevision` targets' percent. */
  percent: number;
  latestReady: string | undefined;
  /** A revision that is Ready (not failed, not gone). */
  healthy: (revision: string) => boolean;
  /** When a replica of the revision last crashed or lost readiness (Unix ms), if ever. */
  troubleAt?: (revision: string) => number | undefined;
  previous: RolloutState | undefined;
  /** A revision's figures since `since` (gated rollouts). */
  figures: (revision: string, since: number) => Figures;
}

export interface RolloutEvent {
  action:
    | 'rollout-start'
    | 'rollout-step'
    | 'rollout-succeeded'
    | 'rollout-rolled-back'
    | 'rollout-aborted'
    | 'rollout-promoted'
    | 'rollout-paused'
    | 'rollout-resumed';
  detail: Record<string, unknown>;
}

export interface RolloutDecision {
  state: RolloutState;
  events: RolloutEvent[];
  /** When to decide again (Unix ms), while a rollout runs. */
  nextCheckAt: number | undefined;
}

/** How often a gated step is judged while it waits for figures. */
export const gateCheckMs = 1_000;

export function inProgress(state: RolloutState | undefined): boolean {
  return (state?.shares.length ?? 0) > 1;
}

export function candidateOf(state: RolloutState): string | undefined {
  return state.shares.at(-1)?.revision;
}

/**
 * Decides a Service's rollout for now: starts one when a new revision is ready, moves Knative's
 * steps on time, judges gated steps by the figures and rolls back on a breach or a failed new
 * revision, applies manual commands, and follows changes of the total percent.
 */
export function decideRollout(input: RolloutInput): RolloutDecision {
  const { percent, latestReady } = input;
  const events: RolloutEvent[] = [];
  let state: RolloutState = clone(input.previous) ?? { percent, shares: [] };
  const commands = state.commands ?? [];
  delete state.commands;

  // The total may have changed (Knative's adjustPercentage); revisions that stopped being healthy
  // give their share to the newest healthy one, unless it is the gated candidate (judged below).
  state.shares = adjustShares(state.shares, percent);
  state.percent = percent;
  if (percent === 0 || latestReady === undefined) {
    return finish(state, events);
  }
  const candidate = candidateOf(state);
  const gated = state.mode === 'gated' && inProgress(state) && candidate !== undefined;
  // A replica that crashed or lost readiness since the rollout began fails the candidate, even if
  // it came back (the local backend restarts it, and the revision stays Ready).
  const troubled =
    gated && (input.troubleAt?.(candidate) ?? Number.NEGATIVE_INFINITY) > (state.startedAt ?? state.stepStartedAt ?? 0);
  const gatedCandidateFailed = gated && (!input.healthy(candidate) || troubled);
  if (!gatedCandidateFailed) state.shares = dropUnhealthy(state.shares, input.healthy);

  // Manual commands.
  for (const command of commands) state = applyCommand(state, command, input, events);

  if (state.shares.length === 0) {
    state = settle(state, latestReady, percent);
    return finish(state, events);
  }

  if (gatedCandidateFailed && inProgress(state)) {
    const step = state.step ?? 0;
    const what =
      troubled && input.healthy(candidate as string) ? 'had a replica crash or fail its readiness probe' : 'failed';
    const at = `at step ${step + 1} (${state.shares.at(-1)?.percent ?? 0}% of the traffic)`;
    state = rollBack(state, `revision "${candidate}" ${what} ${at}`, input, events);
    return finish(state, events);
  }

  // A newer revision is ready.
  const newest = candidateOf(state) as string;
  if (latestReady !== newest && latestReady !== state.failedRevision) {
    state = start(state, latestReady, input, events);
    return finish(state, events, input);
  }

  if (state.mode === 'knative' && inProgress(state) && !state.paused) state = knativeStep(state, input, events);
  else if (state.mode === 'gated' && inProgress(state)) state = gatedStep(state, input, events);
  return finish(state, events, input);
}

function clone(state: RolloutState | undefined): RolloutState | undefined {
  return state === undefined ? undefined : (JSON.parse(JSON.stringify(state)) as RolloutState);
}

function dropUnhealthy(shares: Share[], healthy: (r: string) => boolean): Share[] {
  const kept = shares.filter((s) => healthy(s.revision));
  if (kept.length === 0 || kept.length === shares.length) return shares;
  const lost = shares.filter((s) => !healthy(s.revision)).reduce((n, s) => n + s.percent, 0);
  (kept.at(-1) as Share).percent += lost;
  return kept;
}

/** No rollout: all the traffic on one revision. */
function settle(state: RolloutState, revision: string, percent: number): RolloutState {
  const out: RolloutState = { percent, shares: [{ revision, percent }] };
  if (state.outcome) out.outcome = state.outcome;
  if (state.failedRevision) out.failedRevision = state.failedRevision;
  return out;
}

function start(state: RolloutState, revision: string, input: RolloutInput, events: RolloutEvent[]): RolloutState {
  const { policy, percent, now } = input;
  // Knative rolls only a configuration with more than 1% (a 1% A/B target moves at once); with
  // nothing healthy serving, there is nothing to roll from.
  const serving = state.shares.some((s) => input.healthy(s.revision));
  if (policy.kind === 'immediate' || percent <= 1 || !serving) {
    const out = settle(state, revision, percent);
    delete out.failedRevision;
    return out;
  }
  if (policy.kind === 'knative') {
    const out: RolloutState = {
      percent,
      shares: startShares(state.shares, revision),
      mode: 'knative',
      startTime: now,
    };
    events.push({ action: 'rollout-start', detail: { revision, mode: 'knative', shares: out.shares } });
    return out;
  }
  // Gated: a newer revision replaces a candidate still being judged; the stable one stays.
  const stable =
    state.mode === 'gated' && inProgress(state) && state.stable !== undefined
      ? state.stable
      : (candidateOf(state) as string);
  const abandoned = state.mode === 'gated' && inProgress(state) ? candidateOf(state) : undefined;
  const out: RolloutState = {
    percent,
    shares: gatedShares(stable, revision, percent, policy.steps[0] as number),
    mode: 'gated',
    startedAt: now,
    stable,
    step: 0,
    stepStartedAt: now,
  };
  events.push({
    action: 'rollout-start',
    detail: {
      revision,
      mode: 'gated',
      stable,
      step: 0,
      shares: out.shares,
      ...(abandoned ? { replaced: abandoned } : {}),
    },
  });
  return out;
}

/** The stable and the candidate revision's shares when the candidate has `stepPercent` of `percent`. */
function gatedShares(stable: string, candidate: string, percent: number, stepPercent: number): Share[] {
  const moved = Math.min(percent, Math.max(1, Math.round((percent * stepPercent) / 100)));
  if (moved >= percent) return [{ revision: candidate, percent }];
  return [
    { revision: stable, percent: percent - moved },
    { revision: candidate, percent: moved },
  ];
}

function knativeStep(state: RolloutState, input: RolloutInput, events: RolloutEvent[]): RolloutState {
  const { now, policy } = input;
  const durationSecs = policy.kind === 'knative' ? policy.durationSeconds : 0;
  if (state.stepSize === undefined) {
    // `ObserveReady`: the first 1% is served (routers hear of it within moments of the decision
    // that made it); the time that took, at least 1 s, is the least step time, and the first
    // step comes after it, as in Knative, so the whole rollout takes the duration.
    const startTime = state.startTime ?? now;
    if (now <= startTime) return state;
    const minStepSec = Math.max(1, Math.ceil((now - startTime) / 1000));
    const p = stepParams(state.percent, minStepSec, durationSecs, now);
    const observed = Math.max(now, startTime + minStepSec * 1000);
    return { ...state, ...p, nextStepTime: observed + p.stepDurationMs };
  }
  if (now < (state.nextStepTime ?? 0)) return state;
  const shares = stepShares(state.shares, state.stepSize, state.percent);
  const revision = candidateOf(state) as string;
  if (shares.length < 2) {
    const out = settle(state, revision, state.percent);
    delete out.failedRevision;
    out.outcome = {
      result: 'Succeeded',
      revision,
      message: `revision "${revision}" serves 100% of its traffic`,
      at: now,
    };
    events.push({ action: 'rollout-succeeded', detail: { revision, mode: 'knative' } });
    return out;
  }
  events.push({ action: 'rollout-step', detail: { revision, mode: 'knative', shares } });
  return { ...state, shares, nextStepTime: now + (state.stepDurationMs ?? 0) };
}

function gatedStep(state: RolloutState, input: RolloutInput, events: RolloutEvent[]): RolloutState {
  const policy = gatedPolicy(input.policy);
  const { now } = input;
  const candidate = candidateOf(state) as string;
  const stable = state.stable ?? (state.shares[0] as Share).revision;
  const since = state.stepStartedAt ?? now;
  const cand = input.figures(candidate, since);
  const base = input.figures(stable, since);
  const waitedOut = now - since >= sampleWaitSteps * policy.stepDurationMs;
  let judged = false;
  if (cand.responses >= policy.minRequests && cand.responses > 0) {
    const verdict = judge(cand, base, policy, waitedOut);
    judged = verdict.judged;
    const breach = verdict.breaches;
    if (breach.length > 0) {
      const step = state.step ?? 0;
      const message =
        `revision "${candidate}" breached at step ${step + 1} (${policy.steps[step]}%): ${breach.join('; ')} ` +
        `over ${cand.responses} requests`;
      return rollBack(state, message, input, events, { candidate: cand, stable: base });
    }
  }
  if (state.paused) return state;
  if (now - since < policy.stepDurationMs || cand.responses < policy.minRequests || !judged) return state;
  const next = (state.step ?? 0) + 1;
  const stepPercent = policy.steps[next] ?? 100;
  const shares = gatedShares(stable, candidate, state.percent, stepPercent);
  const figures = { candidate: cand, stable: base };
  if (shares.length < 2) {
    const out = settle(state, candidate, state.percent);
    delete out.failedRevision;
    out.outcome = {
      result: 'Succeeded',
      revision: candidate,
      message: `revision "${candidate}" passed every step and serves 100% of its traffic`,
      at: now,
    };
    events.push({ action: 'rollout-succeeded', detail: { revision: candidate, mode: 'gated', figures } });
    return out;
  }
  events.push({ action: 'rollout-step', detail: { revision: candidate, mode: 'gated', step: next, shares, figures } });
  return { ...state, shares, step: next, stepStartedAt: now };
}

function gatedPolicy(policy: RolloutPolicy): GatedRolloutPolicy {
  if (policy.kind === 'gated') return policy;
  // The annotations were removed mid-rollout: finish it with the defaults' gates, one step to 100%.
  return {
    kind: 'gated',
    steps: [100],
    stepDurationMs: 0,
    minRequests: 0,
    maxErrorRate: 100,
    maxLatencyIncreaseMs: 1e9,
  };
}

/**
 * The gates' verdict on a step's figures: the breaches, worded for the condition's message, and
 * whether the figures rest on enough answers to pass the step (`judged`). A breach is reported only
 * on figures that rest on enough answers (`minAnswersBeyond`), or on what there is once the step
 * has `waitedOut` (`sampleWaitSteps`).
 */
export function judge(
  cand: Figures,
  base: Figures,
  policy: GatedRolloutPolicy,
  waitedOut = false,
): { breaches: string[]; judged: boolean } {
  const out: string[] = [];
  let judged = true;
  const candRate = (100 * cand.serverErrors) / cand.responses;
  const baseRate = base.responses > 0 ? (100 * base.serverErrors) / base.responses : 0;
  if (candRate - baseRate > policy.maxErrorRate) {
    // The 5xx beyond what the old revision's rate would give over as many answers.
    const excess = cand.serverErrors - (baseRate / 100) * cand.responses;
    if (excess >= minAnswersBeyond || waitedOut) {
      out.push(`5xx ${fmt(candRate)}% vs ${fmt(baseRate)}% (max +${policy.maxErrorRate} points)`);
    } else judged = false;
  }
  // A baseline without answers (it serves nothing) has nothing to compare with.
  if (base.responses > 0) {
    const quantile = latencyQuantileFor(Math.min(cand.responses, base.responses));
    if (quantile === undefined || (quantile.name !== 'p99' && !waitedOut)) judged = waitedOut;
    const c = quantile && cand[quantile.key];
    const b = quantile && base[quantile.key];
    if (quantile && c !== undefined && b !== undefined && c - b > policy.maxLatencyIncreaseMs) {
      out.push(
        `${quantile.name} ${Math.round(c)}ms vs ${Math.round(b)}ms (max +${formatDuration(policy.maxLatencyIncreaseMs)})`,
      );
    }
  }
  return { breaches: out, judged: judged || out.length > 0 };
}

function fmt(n: number): string {
  return (Math.round(n * 10) / 10).toString();
}

function rollBack(
  state: RolloutState,
  message: string,
  input: RolloutInput,
  events: RolloutEvent[],
  figures?: Record<string, Figures>,
): RolloutState {
  const candidate = candidateOf(state) as string;
  const stable = state.stable ?? (state.shares[0] as Share).revision;
  const out: RolloutState = {
    percent: state.percent,
    shares: [{ revision: stable, percent: state.percent }],
    failedRevision: candidate,
    outcome: { result: 'RolledBack', revision: candidate, message, at: input.now },
  };
  events.push({
    action: 'rollout-rolled-back',
    detail: { revision: candidate, stable, message, ...(figures ? { figures } : {}) },
  });
  return out;
}

function applyCommand(
  state: RolloutState,
  command: RolloutCommand,
  input: RolloutInput,
  events: RolloutEvent[],
): RolloutState {
  const { now, latestReady } = input;
  const running = inProgress(state);
  switch (command) {
    case 'pause':
      if (!running || state.paused) return state;
      events.push({ action: 'rollout-paused', detail: { revision: candidateOf(state) } });
      return { ...state, paused: true };
    case 'resume': {
      if (running && state.paused) {
        events.push({ action: 'rollout-resumed', detail: { revision: candidateOf(state) } });
        const out: RolloutState = { ...state, paused: false };
        // The step's time starts again.
        if (out.mode === 'gated') out.stepStartedAt = now;
        if (out.mode === 'knative' && out.stepDurationMs !== undefined) out.nextStepTime = now + out.stepDurationMs;
        return out;
      }
      // Retry a rolled-back revision from the first step.
      if (!running && state.failedRevision !== undefined && state.failedRevision === latestReady) {
        events.push({ action: 'rollout-resumed', detail: { revision: state.failedRevision, retry: true } });
        const out = { ...state };
        delete out.failedRevision;
        return out;
      }
      return state;
    }
    case 'promote': {
      const revision = running ? (candidateOf(state) as string) : state.failedRevision;
      if (revision === undefined || (!running && revision !== latestReady)) return state;
      const out = settle(state, revision, state.percent);
      delete out.failedRevision;
      out.outcome = { result: 'Succeeded', revision, message: `revision "${revision}" promoted by a user`, at: now };
      events.push({ action: 'rollout-promoted', detail: { revision } });
      return out;
    }
    case 'abort': {
      if (!running) return state;
      const candidate = candidateOf(state) as string;
      const stable = state.stable ?? (state.shares[0] as Share).revision;
      events.push({ action: 'rollout-aborted', detail: { revision: candidate, stable } });
      return {
        percent: state.percent,
        shares: [{ revision: stable, percent: state.percent }],
        failedRevision: candidate,
        outcome: {
          result: 'Aborted',
          revision: candidate,
          message: `rollout of "${candidate}" aborted by a user`,
          at: now,
        },
      };
    }
  }
}

function finish(state: RolloutState, events: RolloutEvent[], input?: RolloutInput): RolloutDecision {
  let nextCheckAt: number | undefined;
  if (input && inProgress(state)) {
    if (state.mode === 'knative') {
      nextCheckAt = state.paused
        ? undefined
        : state.stepSize === undefined
          ? (state.startTime ?? input.now) + 1
          : state.nextStepTime;
    } else nextCheckAt = input.now + gateCheckMs;
  }
  return { state, events, nextCheckAt };
}
