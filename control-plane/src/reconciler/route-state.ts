import { type Condition, clusterLocalUrl, routeUrl, type TrafficTarget, type UrlOptions } from '@skiff/shared';
import { and, type Decided, stamp } from './conditions.ts';
import type { ResolvedTarget } from './service-state.ts';

/** What the reconciler knows of the revisions and configurations a Route's traffic names. */
export interface RouteFacts {
  revision(name: string): { ready: boolean; failed?: Condition | undefined } | undefined;
  /** A configuration (a Service's own, or one created directly) and its latest revisions. */
  configuration(name: string): { latestReady?: string | undefined; latestCreatedFailed: boolean } | undefined;
}

export interface RouteStatusInput {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  generation: number;
  traffic: TrafficTarget[];
  facts: RouteFacts;
  previous: { conditions?: Condition[]; traffic?: ResolvedTarget[] } | undefined;
  urls: UrlOptions;
  now: string;
  /** `CertificateProvisioned` when the platform orders certificates for the route's hosts (ACME). */
  certificate?: Decided;
}

export interface RouteStatus {
  observedGeneration: number;
  conditions: Condition[];
  url: string;
  address: { url: string };
  traffic: ResolvedTarget[];
}

/**
 * A Route's status (`route_lifecycle.go`): each target resolved — `revisionName` to that revision
 * once it is ready, `configurationName` to that configuration's latest ready revision —
 * `AllTrafficAssigned` with Knative's reasons when one cannot be, the route's URL and each tag's.
 * While a target cannot be served the previous assignment stays, as in Knative.
 */
export function routeStatus(input: RouteStatusInput): RouteStatus {
  const targets: ResolvedTarget[] = [];
  const problems: Decided[] = [];
  for (const t of input.traffic) {
    const percent = t.percent ?? 0;
    let revision: string | undefined;
    if (t.revisionName) {
      const rev = input.facts.revision(t.revisionName);
      if (!rev || rev.failed) {
        problems.push({
          type: 'AllTrafficAssigned',
          status: 'False',
          reason: 'RevisionMissing',
          message: rev
            ? `Revision "${t.revisionName}" failed: ${rev.failed?.message ?? rev.failed?.reason ?? ''}`.trim()
            : `Revision "${t.revisionName}" referenced in traffic not found.`,
        });
      } else if (!rev.ready) {
        problems.push({
          type: 'AllTrafficAssigned',
          status: 'Unknown',
          reason: 'RevisionMissing',
          message: `Revision "${t.revisionName}" is not ready yet.`,
        });
      } else revision = t.revisionName;
    } else if (t.configurationName) {
      const cfg = input.facts.configuration(t.configurationName);
      if (!cfg) {
        problems.push({
          type: 'AllTrafficAssigned',
          status: 'False',
          reason: 'ConfigurationMissing',
          message: `Configuration "${t.configurationName}" referenced in traffic not found.`,
        });
      } else if (!cfg.latestReady) {
        problems.push({
          type: 'AllTrafficAssigned',
          status: cfg.latestCreatedFailed ? 'False' : 'Unknown',
          reason: 'RevisionMissing',
          message: cfg.latestCreatedFailed
            ? `Configuration "${t.configurationName}" does not have any ready Revision.`
            : `Configuration "${t.configurationName}" is waiting for a Revision to become ready.`,
        });
      } else revision = cfg.latestReady;
    }
    if (revision === undefined) continue;
    const resolved: ResolvedTarget = { revisionName: revision, latestRevision: !t.revisionName, percent };
    if (t.tag !== undefined) resolved.tag = t.tag;
    targets.push(resolved);
  }
  const assigned: Decided =
    problems.length > 0 ? and('AllTrafficAssigned', problems) : { type: 'AllTrafficAssigned', status: 'True' };
  const served = problems.length === 0 ? targets : (input.previous?.traffic ?? []);
  const traffic = served.map((t) => {
    const out: ResolvedTarget = { ...t };
    delete out.url;
    if (t.tag !== undefined) out.url = routeUrl(input.name, input.namespace, input.urls, input.labels, t.tag);
    return out;
  });
  // The router serves whatever was assigned: its ingress is ready once something is.
  const ingress: Decided =
    traffic.length > 0 || input.traffic.length === 0
      ? { type: 'IngressReady', status: 'True' }
      : {
          type: 'IngressReady',
          status: 'Unknown',
          reason: 'Uninitialized',
          message: 'Waiting for traffic to be assigned.',
        };
  return {
    observedGeneration: input.generation,
    conditions: stamp(
      input.certificate
        ? [and('Ready', [assigned, ingress, input.certificate]), assigned, ingress, input.certificate]
        : [and('Ready', [assigned, ingress]), assigned, ingress],
      input.previous?.conditions,
      input.now,
    ),
    url: routeUrl(input.name, input.namespace, input.urls, input.labels),
    address: { url: clusterLocalUrl(input.name, input.namespace) },
    traffic,
  };
}
