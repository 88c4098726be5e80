import type { Condition, ConditionStatus } from '@skiff/shared';

/** A condition as decided, before its transition time is known. */
export interface Decided {
  type: string;
  status: ConditionStatus;
  reason?: string;
  message?: string;
}

export const isTrue = (c: Decided | undefined): boolean => c?.status === 'True';

/** Knative's `Ready` = AND(dependents): the first False wins, then the first Unknown, else True. */
export function and(type: string, deps: Decided[]): Decided {
  const bad = deps.find((d) => d.status === 'False') ?? deps.find((d) => d.status === 'Unknown');
  if (!bad) return { type, status: 'True' };
  return {
    type,
    status: bad.status,
    ...(bad.reason ? { reason: bad.reason } : {}),
    ...(bad.message ? { message: bad.message } : {}),
  };
}

/**
 * Stamps conditions with `lastTransitionTime`, keeping the previous time when a condition's status
 * did not change, so the time says when it last flipped. Sorted by type, `Ready` first.
 */
export function stamp(decided: Decided[], previous: Condition[] | undefined, now: string): Condition[] {
  const out = decided.map((d) => {
    const prev = previous?.find((p) => p.type === d.type);
    const condition: Condition = {
      type: d.type,
      status: d.status,
      lastTransitionTime: prev && prev.status === d.status && prev.lastTransitionTime ? prev.lastTransitionTime : now,
    };
    if (d.reason) condition.reason = d.reason;
    if (d.message) condition.message = d.message;
    return condition;
  });
  return out.sort((a, b) => (a.type === 'Ready' ? -1 : b.type === 'Ready' ? 1 : a.type.localeCompare(b.type)));
}
