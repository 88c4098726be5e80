/**
 * Knative's gradual rollout (`pkg/reconciler/route/traffic/rollout.go`), for one configuration's
 * `latestRevision` traffic, in whole percents of the route. Pure: time is passed in (Unix ms).
 */

/** One revision's share of the route's traffic during a rollout, oldest revision first. */
export interface Share {
  revision: string;
  percent: number;
}

export interface StepParams {
  /** How many percent move to the newest revision at each step. */
  stepSize: number;
  stepDurationMs: number;
  nextStepTime: number;
}

/**
 * `computeProperties`: the step size and time between steps once the first 1% is served, which
 * took `minStepSec` (at least 1). Steps are equal; a step is at least 1%; the whole rollout takes
 * `durationSecs` (less the first step).
 */
export function stepParams(percent: number, minStepSec: number, durationSecs: number, now: number): StepParams {
  const duration = Math.max(1, durationSecs - minStepSec);
  let numSteps = Math.max(1, duration / minStepSec);
  // 1% has already moved.
  const remaining = percent - 1;
  if (remaining < numSteps) numSteps = remaining;
  const stepSize = Math.round(remaining / numSteps);
  const stepDurationMs = (duration / numSteps) * 1000;
  return { stepSize, stepDurationMs, nextStepTime: now + stepDurationMs };
}

/**
 * `stepConfig` for a new revision: it gets 1%, taken from the newest revision that has any
 * (Knative drains the newest first); revisions left at 0% are dropped.
 */
export function startShares(previous: Share[], candidate: string): Share[] {
  const out = previous.map((s) => ({ ...s }));
  for (let i = out.length - 1; i >= 0; i--) {
    const s = out[i] as Share;
    if (s.percent > 0) {
      s.percent--;
      break;
    }
  }
  return [...out.filter((s) => s.percent > 0), { revision: candidate, percent: 1 }];
}

/**
 * `adjustPercentage`: the configuration's total changed to `goal`; more goes to the newest
 * revision, less is taken from the oldest first.
 */
export function adjustShares(shares: Share[], goal: number): Share[] {
  const out = shares.map((s) => ({ ...s }));
  const total = out.reduce((n, s) => n + s.percent, 0);
  if (goal === 0) return [];
  if (out.length === 0 || goal === total) return out;
  if (goal > total) {
    (out.at(-1) as Share).percent += goal - total;
    return out;
  }
  let diff = total - goal;
  let i = 0;
  while (diff > 0 && i < out.length) {
    const s = out[i] as Share;
    if (s.percent > diff) {
      s.percent -= diff;
      break;
    }
    diff -= s.percent;
    i++;
  }
  return out.slice(i);
}

/**
 * `stepRevisions`: moves `stepSize` to the newest revision, taken from the next newest first;
 * revisions drained to 0% leave, and the newest never gets more than `total`.
 */
export function stepShares(shares: Share[], stepSize: number, total: number): Share[] {
  if (shares.length < 2) return shares.map((s) => ({ ...s }));
  const out = shares.map((s) => ({ ...s }));
  const newest = out.at(-1) as Share;
  let remaining = stepSize;
  let readPos = out.length - 2;
  let writePos = out.length - 1;
  while (remaining > 0 && readPos >= 0) {
    const s = out[readPos] as Share;
    if (s.percent > remaining) {
      s.percent -= remaining;
      break;
    }
    remaining -= s.percent;
    writePos--;
    readPos--;
  }
  out[writePos] = { revision: newest.revision, percent: Math.min(total, newest.percent + stepSize) };
  return out.slice(0, writePos + 1);
}
