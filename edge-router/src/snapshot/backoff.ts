import type { Random } from '../routing/random.ts';

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

export const snapshotBackoff: Backoff = { initialMs: 200, maxMs: 5_000 };

/**
 * Delay before retry number `attempt` (0-based): doubling from `initialMs` up to `maxMs`, with half
 * of it random so that many routers losing the control plane at once do not return in step.
 */
export function backoffDelay(attempt: number, backoff: Backoff, random: Random): number {
  const full = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 30));
  return full / 2 + random() * (full / 2);
}
