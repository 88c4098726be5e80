/** Exponential backoff: the one rule for retrying after failures (router snapshots, ACME orders). */
export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/**
 * Delay before retry number `attempt` (0-based): doubling from `initialMs` up to `maxMs`, with half
 * of it random (`random` in [0, 1)) so that many clients failing at once do not return in step.
 */
export function backoffDelay(attempt: number, backoff: Backoff, random: () => number): number {
  const full = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 30));
  return full / 2 + random() * (full / 2);
}
