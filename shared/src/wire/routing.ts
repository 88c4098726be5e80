import { z } from 'zod';
import { httpProtocols } from '../config/network.ts';
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
  httpProtocol: z.enum(httpProtocols).optional(),
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
  /**
   * The control plane run that made it (random per start): a version means nothing under another
   * epoch (another database may count the same numbers), so a router sends it back with `since`.
   */
  epoch: z.string().optional(),
  generatedAt: z.string(),
  routes: z.array(SnapshotRouteSchema),
  revisions: z.array(SnapshotRevisionSchema),
  /** Certificates for the router's TLS listener (absent: none besides its own sources). */
  certificates: z.array(SnapshotCertificateSchema).optional(),
  challenges: z.array(SnapshotChallengeSchema).optional(),
});
export type RoutingSnapshot = z.infer<typeof RoutingSnapshotSchema>;

/**
 * One service's part of the snapshot: its route (none when no traffic is routed) and the revisions
 * its traffic reaches. Revisions belong to one service (traffic names only the service's own), so
 * the snapshot is exactly the union of its services' parts.
 */
export const RoutingServiceSchema = z.object({
  namespace: z.string(),
  name: z.string(),
  route: SnapshotRouteSchema.optional(),
  revisions: z.array(SnapshotRevisionSchema),
});
export type RoutingService = z.infer<typeof RoutingServiceSchema>;

/**
 * What changed from snapshot version `since` to `version`: each changed service's whole part
 * (an empty one when it is gone). A router asks for it with `delta=true` and applies it only to a
 * snapshot at exactly `since` of the same `epoch`; otherwise (first contact, too far behind, another epoch) the control
 * plane answers a full `RoutingSnapshot`.
 */
export const RoutingDeltaSchema = z.object({
  kind: z.literal('delta'),
  since: z.int().nonnegative(),
  version: z.int().nonnegative(),
  epoch: z.string(),
  generatedAt: z.string(),
  services: z.array(RoutingServiceSchema),
  /** The snapshot's TLS material, whole (it is not per service and small): as in `RoutingSnapshot`. */
  certificates: z.array(SnapshotCertificateSchema).optional(),
  challenges: z.array(SnapshotChallengeSchema).optional(),
});
export type RoutingDelta = z.infer<typeof RoutingDeltaSchema>;

/** A routing answer: a delta (it has `kind: "delta"`) or a full snapshot. */
export type RoutingUpdate = RoutingSnapshot | RoutingDelta;

export function isRoutingDelta(update: RoutingUpdate): update is RoutingDelta {
  return (update as RoutingDelta).kind === 'delta';
}

/**
 * Snapshot versions are `e × 10⁹ + n`, `e` counted durably once per start, so versions from one
 * database keep growing across restarts (the `epoch` string tells databases apart).
 */
export const routingEpochSize = 1e9;

export function routingEpoch(version: number): number {
  return Math.floor(version / routingEpochSize);
}

/** Key of a service's part, and of a revision: `namespace/name`. */
export function routingKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** Splits a full snapshot into its services' parts (routes without traffic have none). */
export function routingServices(snapshot: Pick<RoutingSnapshot, 'routes' | 'revisions'>): Map<string, RoutingService> {
  const out = new Map<string, RoutingService>();
  const part = (namespace: string, name: string): RoutingService => {
    const key = routingKey(namespace, name);
    let p = out.get(key);
    if (p === undefined) {
      p = { namespace, name, revisions: [] };
      out.set(key, p);
    }
    return p;
  };
  for (const route of snapshot.routes) part(route.namespace, route.name).route = route;
  for (const revision of snapshot.revisions) part(revision.namespace, revision.service).revisions.push(revision);
  return out;
}

/**
 * The snapshot made of services' parts, in key order (routes, then each service's revisions in
 * the order of its part): the same parts always give the same document.
 */
export function snapshotOf(
  version: number,
  epoch: string | undefined,
  generatedAt: string,
  services: ReadonlyMap<string, RoutingService>,
  tls: RoutingTls = {},
): RoutingSnapshot {
  const routes: SnapshotRoute[] = [];
  const revisions: SnapshotRevision[] = [];
  for (const key of [...services.keys()].sort()) {
    const p = services.get(key) as RoutingService;
    if (p.route) routes.push(p.route);
    revisions.push(...p.revisions);
  }
  return { version, ...(epoch === undefined ? {} : { epoch }), generatedAt, routes, revisions, ...routingTls(tls) };
}

/** The snapshot's parts that are not per service: certificates and ACME challenges. */
export type RoutingTls = Pick<RoutingSnapshot, 'certificates' | 'challenges'>;

/** `tls` without absent fields (so documents compare equal whether a field is absent or undefined). */
export function routingTls(tls: RoutingTls): RoutingTls {
  return {
    ...(tls.certificates === undefined ? {} : { certificates: tls.certificates }),
    ...(tls.challenges === undefined ? {} : { challenges: tls.challenges }),
  };
}

export const routingPath = '/internal/v1/routing';
export const activatePath = '/internal/v1/activate';
