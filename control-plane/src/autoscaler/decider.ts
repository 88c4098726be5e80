import type { RevisionAutoscaling } from '@skiff/shared';

/**
 * The KPA's decision for one revision, as a pure function of the observed load, the ready
 * replicas and the decider's own memory (Knative's `pkg/autoscaler/scaling/autoscaler.go`).
 * Time is passed in, so every rule is testable with simulated time.
 */
export interface DeciderState {
  /** When the panic window was last over the threshold; undefined when not in panic. */
  panicSince?: number;
  panicLastOver?: number;
  /** The most replicas wanted since panic began: panic never scales down. */
  maxPanicPods: number;
  /** Recent results, for `scale-down-delay` (the largest within the delay wins). */
  recent: { at: number; pods: number }[];
}

export interface DeciderInput {
  now: number;
  /** Observed load over the stable and panic windows (concurrency, or requests per second). */
  stable: number;
  panic: number;
  readyPods: number;
  /** Traffic points at the revision (otherwise scale-down is unrestricted). */
  reachable: boolean;
  settings: RevisionAutoscaling;
  maxScaleUpRate: number;
  maxScaleDownRate: number;
}

export interface DeciderResult {
  desired: number;
  /** Spare capacity beyond the burst allowance, in the metric's unit; -1 = unlimited burst capacity wanted. */
  excessBurstCapacity: number;
  stableWant: number;
  panicWant: number;
  inPanic: boolean;
  /** Why the result is what it is, in a few words (for the audit log and `revision describe`). */
  reason: string;
}

export function newDeciderState(now: number, readyPods: number): DeciderState {
  // After a restart, a revision already running more than one replica starts in panic at its
  // current scale: lost history must not scale it down.
  return readyPods > 1
    ? { panicSince: now, panicLastOver: now, maxPanicPods: readyPods, recent: [] }
    : { maxPanicPods: 0, recent: [] };
}

export function decide(state: DeciderState, input: DeciderInput): { state: DeciderState; result: DeciderResult } {
  const { now, settings: s } = input;
  const ready = Math.max(1, input.readyPods);
  const maxUp = Math.ceil(input.maxScaleUpRate * ready);
  const maxDown = input.reachable ? Math.floor(ready / input.maxScaleDownRate) : 0;
  const dspc = Math.ceil(input.stable / s.target);
  const dppc = Math.ceil(input.panic / s.target);
  let stableWant = clamp(dspc, maxDown, maxUp);
  let panicWant = clamp(dppc, maxDown, maxUp);
  if (s.activationScale > 1) {
    if (dspc > 0) stableWant = Math.max(stableWant, s.activationScale);
    if (dppc > 0) panicWant = Math.max(panicWant, s.activationScale);
  }

  const overPanic = dppc / ready >= s.panicThreshold;
  let { panicSince, panicLastOver, maxPanicPods } = state;
  let reason: string;
  if (overPanic) {
    panicSince ??= now;
    panicLastOver = now;
  } else if (panicSince !== undefined && (panicLastOver ?? panicSince) + s.stableWindowMs < now) {
    panicSince = undefined;
    panicLastOver = undefined;
    maxPanicPods = 0;
  }

  let desired: number;
  if (panicSince !== undefined) {
    const want = Math.max(stableWant, panicWant);
    maxPanicPods = Math.max(maxPanicPods, want);
    desired = maxPanicPods;
    reason =
      want < maxPanicPods
        ? `panic: holding ${maxPanicPods} (wants ${want}; no scale-down in panic)`
        : `panic: panic-window load ${input.panic} needs ${want}`;
  } else {
    desired = stableWant;
    reason = `stable-window load ${input.stable} / target ${s.target} → ${dspc}`;
    if (stableWant !== dspc) reason += `, limited to ${stableWant} by the rate limits`;
  }

  let recent = state.recent;
  if (s.scaleDownDelayMs > 0 && input.reachable) {
    recent = [...recent.filter((r) => r.at > now - s.scaleDownDelayMs), { at: now, pods: desired }];
    const delayed = Math.max(...recent.map((r) => r.pods));
    if (delayed > desired) reason += `; scale-down delayed: ${delayed} within the last ${s.scaleDownDelayMs / 1000}s`;
    desired = delayed;
  } else if (recent.length > 0) {
    recent = [];
  }

  const excessBurstCapacity =
    s.targetBurstCapacity === 0
      ? 0
      : s.targetBurstCapacity < 0
        ? -1
        : Math.floor(input.readyPods * s.totalTarget - s.targetBurstCapacity - input.panic);

  return {
    state: {
      ...(panicSince !== undefined ? { panicSince, panicLastOver: panicLastOver ?? now } : {}),
      maxPanicPods,
      recent,
    },
    result: { desired, excessBurstCapacity, stableWant, panicWant, inPanic: panicSince !== undefined, reason },
  };
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(Math.max(x, lo), hi);
}
