import { z } from 'zod';

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

/** One router's view of one revision, sent every second (`POST /internal/v1/router-stats`). */
export const RouterRevisionStatSchema = z.object({
  namespace: z.string(),
  revision: z.string(),
  /** Requests waiting in the router for capacity (time-weighted average over the period). */
  averageHeld: z.number().nonnegative(),
  /** Requests the router has forwarded and not yet seen answered (time-weighted average). */
  averageInFlight: z.number().nonnegative(),
  requestsPerSecond: z.number().nonnegative(),
});
export type RouterRevisionStat = z.infer<typeof RouterRevisionStatSchema>;

export const RouterStatsSchema = z.object({
  router: z.string(),
  timestamp: z.number(),
  periodMs: z.number().positive(),
  revisions: z.array(RouterRevisionStatSchema),
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
