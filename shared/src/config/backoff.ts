/**
 * Exponential backoff: the one rule for retrying after failures (router snapshots, ACME orders,
 * restarts of crashed processes and replicas, Kubernetes watches).
 */
export interface Backoff {
  initialMs: number;
  maxMs: number;
  /** Failures retried at once before the delays start (a crashed process is replaced at once); 0 if absent. */
  immediate?: number;
  /**
   * The share of each delay that is random, so that many clients failing at once do not return in
   * step: 0.5 if absent; 0 for one retrier alone (a supervisor's child), whose schedule is exact.
   */
  jitter?: number;
}

/**
 * Delay before retry number `attempt` (0-based): none for the first `immediate` ones, then doubling
 * from `initialMs` up to `maxMs`, with its `jitter` share random (`random` in [0, 1)).
 */
export function backoffDelay(attempt: number, backoff: Backoff, random: () => number = Math.random): number {
  const n = attempt - (backoff.immediate ?? 0);
  if (n < 0) return 0;
  const full = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(n, 30));
  const jitter = backoff.jitter ?? 0.5;
  return jitter === 0 ? full : full * (1 - jitter) + random() * full * jitter;
}
