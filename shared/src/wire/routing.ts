import { z } from 'zod';
import { ColdStartTimesSchema } from './cold-start.ts';

/**
 * The routing snapshot: everything a router needs to serve, as one versioned document it fetches
 * with long-poll (`GET /internal/v1/routing?since=V&waitSeconds=S`). Hosts are precomputed by the
 * control plane so routers never apply domain templates themselves.
 */

export const SnapshotEndpointSchema = z.object({
  /** The replica (pod) name, for stats and logs. */
  pod: z.string(),
  /** Base URL of the replica's queue-proxy, e.g. `http://127.0.0.1:40123`. */
  url: z.string(),
});
export type SnapshotEndpoint = z.infer<typeof SnapshotEndpointSchema>;

export const SnapshotRevisionSchema = z.object({
  namespace: z.string(),
  name: z.string(),
  service: z.string(),
  containerConcurrency: z.int().nonnegative(),
  timeoutSeconds: z.int().nonnegative(),
  responseStartTimeoutSeconds: z.int().nonnegative().optional(),
  idleTimeoutSeconds: z.int().nonnegative().optional(),
  /** How routers reach the revision: `h2c` when its port is named so (HTTP/2 on every hop), else HTTP/1.1. */
  protocol: z.enum(['http1', 'h2c']).optional(),
  /** Replicas that are ready to take requests now. */
  endpoints: z.array(SnapshotEndpointSchema),
  /** When its latest start from zero happened, step by step, for held requests' `Server-Timing`. */
  coldStart: ColdStartTimesSchema.optional(),
});
export type SnapshotRevision = z.infer<typeof SnapshotRevisionSchema>;

export const SnapshotTargetSchema = z.object({
  revisionName: z.string(),
  percent: z.int().min(0).max(100),
  tag: z.string().optional(),
  /** Hosts that reach only this target (tag hosts). */
  hosts: z.array(z.string()).optional(),
});
export type SnapshotTarget = z.infer<typeof SnapshotTargetSchema>;

export const SnapshotRouteSchema = z.object({
  namespace: z.string(),
  name: z.string(),
  visibility: z.enum(['public', 'cluster-local']),
  /** Hosts that reach the route's weighted split, lower case, without port. */
  hosts: z.array(z.string()),
  traffic: z.array(SnapshotTargetSchema),
  /**
   * What plain HTTP does for these hosts (Knative's `networking.knative.dev/http-protocol`):
   * served (`enabled`, the default), answered with a redirect to HTTPS, or refused (`disabled`).
   */
  httpProtocol: z.enum(['enabled', 'redirected', 'disabled']).optional(),
});
export type SnapshotRoute = z.infer<typeof SnapshotRouteSchema>;

/** A certificate the control plane chose for some hosts (a TLS Secret's or one issued by ACME). */
export const SnapshotCertificateSchema = z.object({
  /** Lower-case host names; `*.example.com` covers one label. */
  hosts: z.array(z.string()),
  /** PEM chain, leaf first. */
  cert: z.string(),
  /** PEM private key. */
  key: z.string(),
});
export type SnapshotCertificate = z.infer<typeof SnapshotCertificateSchema>;

/** An ACME HTTP-01 challenge the router answers at `/.well-known/acme-challenge/<token>`. */
export const SnapshotChallengeSchema = z.object({ token: z.string(), keyAuthorization: z.string() });
export type SnapshotChallenge = z.infer<typeof SnapshotChallengeSchema>;

export const RoutingSnapshotSchema = z.object({
  /** Increases with every change; routers ask for anything newer than the one they hold. */
  version: z.int().nonnegative(),
  generatedAt: z.string(),
  routes: z.array(SnapshotRouteSchema),
  revisions: z.array(SnapshotRevisionSchema),
  /** Certificates for the router's TLS listener (absent: none besides its own sources). */
  certificates: z.array(SnapshotCertificateSchema).optional(),
  challenges: z.array(SnapshotChallengeSchema).optional(),
});
export type RoutingSnapshot = z.infer<typeof RoutingSnapshotSchema>;

export const routingPath = '/internal/v1/routing';
export const activatePath = '/internal/v1/activate';
export const routerStatsPath = '/internal/v1/router-stats';
