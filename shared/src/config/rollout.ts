import { parseDuration } from './duration.ts';

/**
 * How a Service's new revision takes over its `latestRevision` traffic: at once (Knative's
 * default), over Knative's `serving.knative.dev/rollout-duration`, or in Skiff's SLO-gated steps
 * (`rollout.skiff.dev/*` annotations on the Service's metadata; these names are the contract).
 */
export const rolloutDurationKey = 'serving.knative.dev/rollout-duration';
export const rolloutAnnotationPrefix = 'rollout.skiff.dev/';
export const rolloutAnnotations = {
  steps: 'rollout.skiff.dev/steps',
  stepDuration: 'rollout.skiff.dev/step-duration',
  minRequests: 'rollout.skiff.dev/min-requests',
  maxErrorRate: 'rollout.skiff.dev/max-error-rate',
  maxLatencyIncrease: 'rollout.skiff.dev/max-latency-increase',
} as const;

export interface GatedRolloutPolicy {
  kind: 'gated';
  /** Percent of the `latestRevision` traffic the new revision gets at each step, increasing. */
  steps: number[];
  /** The least time a step lasts. */
  stepDurationMs: number;
  /** Requests the new revision must have answered in a step before it is judged. */
  minRequests: number;
  /** How many points the new revision's 5xx percent may exceed the old one's. */
  maxErrorRate: number;
  /** How much the new revision's p99 may exceed the old one's. */
  maxLatencyIncreaseMs: number;
}

export type RolloutPolicy =
  | { kind: 'immediate' }
  /** Knative's gradual rollout over this many seconds (`pkg/reconciler/route/traffic/rollout.go`). */
  | { kind: 'knative'; durationSeconds: number }
  | GatedRolloutPolicy;

/** What a gated rollout uses for any `rollout.skiff.dev/*` annotation left out. */
export const gatedRolloutDefaults: Omit<GatedRolloutPolicy, 'kind'> = {
  steps: [5, 25, 50, 100],
  stepDurationMs: 30_000,
  minRequests: 100,
  maxErrorRate: 1,
  maxLatencyIncreaseMs: 200,
};

type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

export function parseRolloutSteps(text: string): Parsed<number[]> {
  const parts = text.split(',').map((s) => s.trim());
  const steps: number[] = [];
  for (const p of parts) {
    if (!/^\d+$/.test(p))
      return { ok: false, message: 'must be a comma-separated list of whole percents, e.g. "5,25,50,100"' };
    const n = Number(p);
    if (n < 1 || n > 100) return { ok: false, message: `each step must be between 1 and 100, not ${p}` };
    if (steps.length > 0 && n <= (steps.at(-1) as number)) return { ok: false, message: 'steps must increase' };
    steps.push(n);
  }
  return { ok: true, value: steps };
}

function parsePositiveDuration(text: string, allowZero: boolean): Parsed<number> {
  const ms = parseDuration(text);
  if (ms === undefined || ms < 0 || (!allowZero && ms === 0)) {
    return {
      ok: false,
      message: `must be a ${allowZero ? 'non-negative' : 'positive'} duration such as "30s" or "200ms"`,
    };
  }
  return { ok: true, value: ms };
}

/** Each `rollout.skiff.dev/*` annotation's parser; an unknown name under the prefix is an error. */
export const rolloutAnnotationParsers: Record<string, (text: string) => Parsed<number | number[]>> = {
  [rolloutAnnotations.steps]: parseRolloutSteps,
  [rolloutAnnotations.stepDuration]: (t) => parsePositiveDuration(t, false),
  [rolloutAnnotations.minRequests]: (t) =>
    /^\d+$/.test(t.trim()) && Number(t) <= 1_000_000_000
      ? { ok: true, value: Number(t) }
      : { ok: false, message: 'must be a whole number of requests, 0 or more' },
  [rolloutAnnotations.maxErrorRate]: (t) => {
    const n = Number(t);
    return t.trim() !== '' && Number.isFinite(n) && n >= 0 && n <= 100
      ? { ok: true, value: n }
      : { ok: false, message: 'must be a percent between 0 and 100, e.g. "1" or "0.5"' };
  },
  [rolloutAnnotations.maxLatencyIncrease]: (t) => parsePositiveDuration(t, true),
};

function value<T>(annotations: Record<string, string>, key: string, fallback: T): T {
  const text = annotations[key];
  if (text === undefined) return fallback;
  const parsed = rolloutAnnotationParsers[key]?.(text);
  return parsed?.ok ? (parsed.value as T) : fallback;
}

/**
 * The rollout a Service asks for: gated when any `rollout.skiff.dev/*` annotation is set (the rest
 * from `gatedRolloutDefaults`), else Knative's over the annotation's or the platform's
 * `rollout-duration`, else at once. Annotations are validated on write; a bad one reads as unset.
 */
export function rolloutPolicy(
  annotations: Record<string, string> | undefined,
  platformDurationSeconds = 0,
): RolloutPolicy {
  const a = annotations ?? {};
  if (Object.keys(a).some((k) => k.startsWith(rolloutAnnotationPrefix))) {
    const d = gatedRolloutDefaults;
    return {
      kind: 'gated',
      steps: value(a, rolloutAnnotations.steps, d.steps),
      stepDurationMs: value(a, rolloutAnnotations.stepDuration, d.stepDurationMs),
      minRequests: value(a, rolloutAnnotations.minRequests, d.minRequests),
      maxErrorRate: value(a, rolloutAnnotations.maxErrorRate, d.maxErrorRate),
      maxLatencyIncreaseMs: value(a, rolloutAnnotations.maxLatencyIncrease, d.maxLatencyIncreaseMs),
    };
  }
  const text = a[rolloutDurationKey];
  const ms = text === undefined ? undefined : parseDuration(text);
  const seconds = ms !== undefined && ms >= 0 ? Math.floor(ms / 1000) : platformDurationSeconds;
  return seconds > 0 ? { kind: 'knative', durationSeconds: seconds } : { kind: 'immediate' };
}
