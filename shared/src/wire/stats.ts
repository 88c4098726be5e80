import { z } from 'zod';
import { ColdStartReportSchema } from './cold-start.ts';

/**
 * What a queue-proxy reports for one replica each second (Knative's `Stat`,
 * `pkg/autoscaler/metrics/stat.proto`), served as JSON for the autoscaler to scrape.
 * "Proxied" counts requests the router held and marked with `K-Proxy-Request: activator`;
 * the autoscaler subtracts them because the router reports those itself.
 */
export const StatSchema = z.object({
  namespace: z.string(),
  revision: z.string(),
  pod: z.string(),
  /** Time-weighted average of in-flight requests over the period. */
  averageConcurrency: z.number().nonnegative(),
  averageProxiedConcurrency: z.number().nonnegative(),
  /** Requests that arrived during the period, per second. */
  requestsPerSecond: z.number().nonnegative(),
  proxiedRequestsPerSecond: z.number().nonnegative(),
  processUptimeSeconds: z.number().nonnegative(),
  /** Length of the period these figures cover, in milliseconds. */
  periodMs: z.number().positive(),
  /** End of the period, Unix milliseconds. */
  timestamp: z.number(),
});
export type Stat = z.infer<typeof StatSchema>;

/** The path a queue-proxy serves its latest `Stat` at, on its metrics port. */
export const statsPath = '/stats';

// statsPushPath and maxStatLineBytes are in stats-push.ts: the queue-proxy imports them, and this
// module's schemas would bring zod (730 KB of bundle, ~5 MiB of RSS) into its bundle.

/** One router's view of one revision, sent every second (a `RouterStats` line of its stats stream, `statsPushPath`). */
export const RouterRevisionStatSchema = z.object({
  namespace: z.string(),
  revision: z.string(),
  /** Requests waiting in the router for capacity (time-weighted average over the period). */
  averageHeld: z.number().nonnegative(),
  /** Requests the router has forwarded and not yet seen answered (time-weighted average). */
  averageInFlight: z.number().nonnegative(),
  requestsPerSecond: z.number().nonnegative(),
  /** Responses the router finished in the period (from the app or its own: 502, 503, 504). */
  responses: z.int().nonnegative().optional(),
  /** Of those, how many had a 5xx status. */
  serverErrors: z.int().nonnegative().optional(),
  /**
   * Time from arrival to the end of the response, as `[bucket, count]` pairs over
   * `latencyBucketBoundsMs` (sparse): histograms from every router add up, so a rollout's gate can
   * take a p99 over all of them.
   */
  latency: z.array(z.tuple([z.int().nonnegative(), z.int().positive()])).optional(),
});
export type RouterRevisionStat = z.infer<typeof RouterRevisionStatSchema>;

export const RouterStatsSchema = z.object({
  router: z.string(),
  timestamp: z.number(),
  periodMs: z.number().positive(),
  revisions: z.array(RouterRevisionStatSchema),
  /** Cold starts whose first held request this router answered in the period (one per start). */
  coldStarts: z.array(ColdStartReportSchema).optional(),
});
export type RouterStats = z.infer<typeof RouterStatsSchema>;

/** A router holds requests for a revision with no capacity: scale it from zero now. */
export const ActivateRequestSchema = z.object({
  namespace: z.string(),
  revision: z.string(),
  /** Requests held at the moment of the poke. */
  held: z.int().nonnegative().optional(),
});
export type ActivateRequest = z.infer<typeof ActivateRequestSchema>;

/**
 * Upper bounds, in milliseconds, of the latency histogram's buckets: 1 ms × 1.1^i up to ~70 s, so a
 * quantile read from it is within 10% of the true one; the last bucket is unbounded.
 */
export const latencyBucketBoundsMs: readonly number[] = Array.from({ length: 118 }, (_, i) =>
  i === 117 ? Number.POSITIVE_INFINITY : Math.round(1.1 ** i * 100) / 100,
);

/** The bucket a latency falls in (first bound ≥ ms). */
export function latencyBucket(ms: number): number {
  if (!(ms > 1)) return 0;
  const i = Math.ceil(Math.log(ms) / Math.log(1.1) - 1e-9);
  const last = latencyBucketBoundsMs.length - 1;
  if (i >= last) return last;
  // The bounds are rounded: ms may sit just above bound i, or at or below bound i - 1.
  if (ms > (latencyBucketBoundsMs[i] as number)) return i + 1;
  return i > 0 && ms <= (latencyBucketBoundsMs[i - 1] as number) ? i - 1 : i;
}

/** The `q` quantile (0..1) of a histogram given as counts per bucket: the bound of its bucket. */
export function latencyQuantile(counts: ReadonlyMap<number, number>, q: number): number | undefined {
  let total = 0;
  for (const c of counts.values()) total += c;
  if (total === 0) return undefined;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const i of [...counts.keys()].sort((a, b) => a - b)) {
    seen += counts.get(i) as number;
    if (seen >= rank) {
      const bound = latencyBucketBoundsMs[i] as number;
      // The unbounded bucket reads as its lower edge.
      return Number.isFinite(bound) ? bound : (latencyBucketBoundsMs[i - 1] as number);
    }
  }
  return undefined;
}
