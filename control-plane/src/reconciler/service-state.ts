import {
  type Condition,
  clusterLocalUrl,
  revisionName,
  routeUrl,
  type ServiceSpec,
  type TrafficTarget,
  templateHash,
  type UrlOptions,
} from '@skiff/shared';
import { and, type Decided, stamp } from './conditions.ts';

/** What the reconciler knows of one revision of a service. */
export interface RevisionInfo {
  name: string;
  configGeneration: number;
  ready: boolean;
  /** The revision's failed Ready condition, when it failed. */
  failed?: Condition;
  /** When a replica last crashed or lost readiness (Unix ms), as the backend saw it. */
  troubleAt?: number;
}

export type RevisionPlan =
  | { kind: 'none' }
  | { kind: 'create'; name: string; configGeneration: number; templateHash: string }
  /** The chosen name belongs to a different revision: Knative's `RevisionNameTaken`. */
  | { kind: 'taken'; name: string };

/**
 * Whether the template needs a new revision: exactly when its hash differs from the revision the
 * template made last. The name is the template's own (BYO) or `<service>-<generation>`.
 */
export function planRevision(
  service: { name: string; spec: ServiceSpec; configGeneration: number },
  latest: { name: string; templateHash: string } | undefined,
  existing: (name: string) => { service: string; templateHash: string } | undefined,
): RevisionPlan {
  const hash = templateHash(service.spec.template);
  if (latest && latest.templateHash === hash) return { kind: 'none' };
  const configGeneration = service.configGeneration + 1;
  const name = service.spec.template.metadata?.name || revisionName(service.name, configGeneration);
  const other = existing(name);
  if (other) return { kind: 'taken', name };
  return { kind: 'create', name, configGeneration, templateHash: hash };
}

/** One revision's share of the untagged `latestRevision` traffic while a rollout runs. */
export interface RolloutShare {
  revision: string;
  percent: number;
}

/** What the rollout says for a Service's status (`../rollout/`). */
export interface RolloutView {
  shares: RolloutShare[];
  inProgress: boolean;
  /** `RolloutSucceeded`, once a Service has had a rollout. */
  condition: Decided | undefined;
}

/** The newest ready revision. */
export function latestReadyRevision(revisions: RevisionInfo[]): string | undefined {
  return [...revisions].filter((r) => r.ready).sort((a, b) => b.configGeneration - a.configGeneration)[0]?.name;
}

/** A traffic target with its revision resolved (`status.traffic[]`). */
export interface ResolvedTarget {
  revisionName: string;
  latestRevision: boolean;
  percent: number;
  tag?: string;
  url?: string;
}

export interface TrafficResolution {
  targets: ResolvedTarget[];
  /** Every target could be resolved to a ready revision. */
  complete: boolean;
  /** RoutesReady as this traffic stands. */
  routes: Decided;
}

/**
 * Resolves `spec.traffic` (`pkg/reconciler/route/traffic`): `latestRevision` targets go to the
 * newest *ready* revision; named revisions must exist. While a target cannot be served the
 * previous assignment stays and RoutesReady says why.
 */
export function resolveTraffic(
  serviceName: string,
  traffic: TrafficTarget[],
  revisions: RevisionInfo[],
  latestReady: string | undefined,
  latestCreated: string | undefined,
  rollout?: RolloutShare[],
): TrafficResolution {
  const byName = new Map(revisions.map((r) => [r.name, r]));
  const targets: ResolvedTarget[] = [];
  const problems: Decided[] = [];
  let rolloutPlaced = false;
  for (const t of traffic) {
    const percent = t.percent ?? 0;
    if (t.revisionName) {
      const rev = byName.get(t.revisionName);
      if (!rev) {
        problems.push({
          type: 'RoutesReady',
          status: 'False',
          reason: 'RevisionMissing',
          message: `Revision "${t.revisionName}" referenced in traffic not found.`,
        });
        continue;
      }
      if (rev.failed) {
        problems.push({
          type: 'RoutesReady',
          status: 'False',
          reason: 'RevisionMissing',
          message: `Revision "${t.revisionName}" failed: ${rev.failed.message ?? rev.failed.reason ?? ''}`.trim(),
        });
        continue;
      }
      if (!rev.ready) {
        problems.push({
          type: 'RoutesReady',
          status: 'Unknown',
          reason: 'RevisionMissing',
          message: `Revision "${t.revisionName}" is not ready yet.`,
        });
        continue;
      }
      targets.push(target(t.revisionName, false, percent, t.tag));
      continue;
    }
    if (!latestReady) {
      const latest = latestCreated ? byName.get(latestCreated) : undefined;
      problems.push(
        latest?.failed
          ? {
              type: 'RoutesReady',
              status: 'False',
              reason: 'RevisionMissing',
              message: `Configuration "${serviceName}" does not have any ready Revision.`,
            }
          : {
              type: 'RoutesReady',
              status: 'Unknown',
              reason: 'RevisionMissing',
              message: `Configuration "${serviceName}" is waiting for a Revision to become ready.`,
            },
      );
      continue;
    }
    if (rollout !== undefined && rollout.length > 0 && t.tag === undefined) {
      // The untagged latestRevision targets' traffic, as the rollout shares it (Knative reports each
      // revision of a rollout as its own `latestRevision: true` entry).
      if (!rolloutPlaced) for (const r of rollout) targets.push(target(r.revision, true, r.percent, undefined));
      rolloutPlaced = true;
      continue;
    }
    targets.push(target(latestReady, true, percent, t.tag));
  }
  const complete = problems.length === 0;
  if (complete && latestCreated && latestReady && latestCreated !== latestReady) {
    const latest = byName.get(latestCreated);
    if (!latest?.failed && traffic.some((t) => !t.revisionName)) {
      problems.push({
        type: 'RoutesReady',
        status: 'Unknown',
        reason: 'TrafficNotMigrated',
        message: 'Traffic is not yet migrated to the latest revision.',
      });
    }
  }
  // A target that cannot be served leaves the whole assignment as it was.
  const routes = problems.length > 0 ? and('RoutesReady', problems) : { type: 'RoutesReady', status: 'True' as const };
  return { targets, routes, complete };
}

function target(
  revisionName: string,
  latestRevision: boolean,
  percent: number,
  tag: string | undefined,
): ResolvedTarget {
  const t: ResolvedTarget = { revisionName, latestRevision, percent };
  if (tag !== undefined) t.tag = tag;
  return t;
}

export interface ServiceStatusInput {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  generation: number;
  traffic: TrafficTarget[];
  revisions: RevisionInfo[];
  latestCreated: string | undefined;
  /** Set when the template's chosen revision name is taken. */
  nameTaken?: string;
  previous: { conditions?: Condition[]; traffic?: ResolvedTarget[] } | undefined;
  urls: UrlOptions;
  now: string;
  rollout?: RolloutView;
  /**
   * The Route's `CertificateProvisioned` when its hosts get certificates the platform orders
   * (ACME for service hosts): part of the Route's Ready, so of the Service's RoutesReady (Knative).
   */
  certificate?: Decided;
}

export interface ServiceStatus {
  observedGeneration: number;
  conditions: Condition[];
  latestCreatedRevisionName?: string;
  latestReadyRevisionName?: string;
  url: string;
  address: { url: string };
  traffic: ResolvedTarget[];
}

/**
 * A Service's status (`service_lifecycle.go`): `Ready` = AND(`ConfigurationsReady`, `RoutesReady`),
 * with Knative's reasons, the resolved traffic with tag URLs, and the service URL.
 */
export function serviceStatus(input: ServiceStatusInput): ServiceStatus {
  const { revisions, latestCreated } = input;
  const latestReady = latestReadyRevision(revisions);
  const latest = revisions.find((r) => r.name === latestCreated);

  let configurations: Decided;
  if (latest?.failed) {
    configurations = {
      type: 'ConfigurationsReady',
      status: 'False',
      reason: 'RevisionFailed',
      message: `Revision "${latest.name}" failed with message: ${latest.failed.message ?? latest.failed.reason ?? ''}.`,
    };
  } else if (latestCreated && latestCreated === latestReady) {
    configurations = { type: 'ConfigurationsReady', status: 'True' };
  } else {
    configurations = {
      type: 'ConfigurationsReady',
      status: 'Unknown',
      reason: 'OutOfDate',
      message: latestCreated
        ? `Revision "${latestCreated}" is not ready yet.`
        : 'Waiting for the first revision to be created.',
    };
  }

  const rollout = input.rollout;
  const resolution = resolveTraffic(input.name, input.traffic, revisions, latestReady, latestCreated, rollout?.shares);
  let routes = resolution.routes;
  if (rollout?.inProgress && routes.status === 'True') {
    // Knative's Route while a gradual rollout runs (`MarkIngressRolloutInProgress`).
    routes = {
      type: 'RoutesReady',
      status: 'Unknown',
      reason: 'RolloutInProgress',
      message: 'A gradual rollout of the latest revision(s) is in progress.',
    };
  }
  if (input.nameTaken) {
    routes = {
      type: 'RoutesReady',
      status: 'False',
      reason: 'RevisionNameTaken',
      message: `The revision name "${input.nameTaken}" is taken by another revision; choose a new spec.template.metadata.name.`,
    };
  }
  if (input.certificate) routes = and('RoutesReady', [routes, input.certificate]);
  // While traffic cannot be assigned as asked, keep serving what was assigned before.
  const served = resolution.complete ? resolution.targets : (input.previous?.traffic ?? resolution.targets);
  const traffic = served.map((t) => {
    const out: ResolvedTarget = { ...t };
    delete out.url;
    if (t.tag !== undefined) out.url = routeUrl(input.name, input.namespace, input.urls, input.labels, t.tag);
    return out;
  });

  const ready = and('Ready', [configurations, routes]);
  const decided = [ready, configurations, routes];
  if (rollout?.condition) decided.push(rollout.condition);
  if (input.certificate) decided.push(input.certificate);
  const status: ServiceStatus = {
    observedGeneration: input.generation,
    conditions: stamp(decided, input.previous?.conditions, input.now),
    url: routeUrl(input.name, input.namespace, input.urls, input.labels),
    address: { url: clusterLocalUrl(input.name, input.namespace) },
    traffic,
  };
  if (latestCreated) status.latestCreatedRevisionName = latestCreated;
  if (latestReady) status.latestReadyRevisionName = latestReady;
  return status;
}

/** Revisions that traffic reaches (by percent or by tag). */
export function routedRevisions(traffic: ResolvedTarget[]): Set<string> {
  return new Set(traffic.map((t) => t.revisionName));
}
