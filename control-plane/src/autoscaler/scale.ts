import type { RevisionAutoscaling } from '@skiff/shared';

/**
 * From the decider's wish to the replicas a revision gets (Knative's KPA reconciler,
 * `pkg/reconciler/autoscaling/kpa/scaler.go`): min/max bounds, initial scale until first reached,
 * scale to zero only after the grace period, and nothing for a revision no traffic points at.
 */
export interface ScalerState {
  /** The revision once had its initial scale ready; from then on the decider alone decides. */
  initialized: boolean;
  /** When the decider started wanting zero while replicas ran. */
  zeroSince?: number;
  desired: number;
}

export interface ScalerInput {
  now: number;
  /** The decider's result; undefined when there is no data yet (keep what is). */
  want: number | undefined;
  readyPods: number;
  /** Traffic points at the revision. */
  routed: boolean;
  /** The reconciler wants it running at all (routed, or the newest revision becoming ready). */
  wanted: boolean;
  settings: RevisionAutoscaling;
  enableScaleToZero: boolean;
  scaleToZeroGracePeriodMs: number;
}

export function newScalerState(settings: RevisionAutoscaling): ScalerState {
  return { initialized: settings.initialScale === 0, desired: settings.initialScale };
}

export function applyScale(state: ScalerState, input: ScalerInput): { state: ScalerState; reason: string } {
  const s = input.settings;
  if (!input.wanted) return { state: { initialized: state.initialized, desired: 0 }, reason: 'no traffic' };

  const initialized = state.initialized || input.readyPods >= s.initialScale;
  let min = input.routed ? s.minScale : 0;
  if (!initialized) min = Math.max(min, s.initialScale);
  const max = s.maxScale > 0 ? s.maxScale : Number.POSITIVE_INFINITY;

  let want = input.want ?? state.desired;
  let reason = input.want === undefined ? 'no data yet: keeping the current scale' : '';
  if (!input.routed) {
    // The newest revision before it takes traffic: it runs so it can become ready.
    want = Math.max(want, s.initialScale);
  }
  let desired = Math.min(Math.max(want, min), max);
  if (desired !== want) reason = desired > want ? `raised to the minimum ${min}` : `capped at max-scale ${max}`;
  if (desired === 0 && !input.enableScaleToZero) {
    desired = 1;
    reason = 'scale to zero is disabled';
  }

  let zeroSince: number | undefined;
  if (desired === 0 && state.desired > 0) {
    zeroSince = state.zeroSince ?? input.now;
    const wait = Math.max(input.scaleToZeroGracePeriodMs, s.scaleToZeroPodRetentionPeriodMs);
    const left = zeroSince + wait - input.now;
    if (left > 0) {
      desired = state.desired;
      reason = `idle: scaling to zero in ${Math.ceil(left / 1000)}s (grace period)`;
    } else {
      zeroSince = undefined;
      reason = 'idle past the grace period: scaled to zero';
    }
  }
  return {
    state: { initialized, desired, ...(zeroSince !== undefined ? { zeroSince } : {}) },
    reason,
  };
}
