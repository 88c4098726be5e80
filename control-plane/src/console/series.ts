/**
 * The per-second figures the console charts for a revision, in the order a sample carries them.
 * Shared by the control plane's rings and the browser's charts (this file has no imports).
 */
export const seriesFields = [
  /** Requests per second (the larger of the replicas' and the routers' counts). */
  'rps',
  /** Latency percentiles at the router, milliseconds. */
  'p50',
  'p95',
  'p99',
  /** Requests in flight at the replicas (time-weighted average over the second). */
  'concurrency',
  /** The autoscaler's target concurrency (or rps) per replica times the ready replicas. */
  'target',
  'desired',
  'actual',
  /** Requests held in routers waiting for capacity. */
  'held',
  /** Responses with a 5xx status per second. */
  'errors5xx',
] as const;
export type SeriesField = (typeof seriesFields)[number];

/** One second of one revision: Unix seconds, then `seriesFields` in order (null: not known). */
export type Sample = [number, ...(number | null)[]];

/** Seconds kept per revision: the last hour at 1 s. */
export const ringSeconds = 3600;
