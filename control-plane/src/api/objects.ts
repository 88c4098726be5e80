import { createHash } from 'node:crypto';
import { apiVersion, type Condition, type Configuration, type Revision, type Route, type Service } from '@skiff/shared';
import type { RevisionRow, RouteRow, ServiceRow } from '../store/schema.ts';

/**
 * Store rows as the Knative objects users read. A Service's own Configuration and Route are views
 * of its row, owned by it (`ownerReferences`); those created directly are rows of their own.
 */

function meta(row: { namespace: string; name: string; uid: string; resourceVersion: number; createdAt: string }) {
  return {
    name: row.name,
    namespace: row.namespace,
    uid: row.uid,
    resourceVersion: String(row.resourceVersion),
    creationTimestamp: row.createdAt,
  };
}

export function serviceObject(row: ServiceRow): Service {
  return {
    apiVersion,
    kind: 'Service',
    metadata: {
      ...meta(row),
      generation: row.generation,
      labels: row.labels,
      annotations: row.annotations,
      ...(row.managedFields.length > 0 ? { managedFields: row.managedFields } : {}),
    },
    spec: row.spec,
    status: row.status,
  };
}

type Status = Record<string, unknown> & { conditions?: Condition[] };

function pickConditions(status: Status, types: Record<string, string>): Condition[] {
  return (status.conditions ?? []).filter((c) => c.type in types).map((c) => ({ ...c, type: types[c.type] as string }));
}

/** The owner reference a Service's Configuration and Route carry (Knative's `kmeta.NewControllerRef`). */
function ownedBy(row: ServiceRow) {
  return [{ apiVersion, kind: 'Service', name: row.name, uid: row.uid, controller: true, blockOwnerDeletion: true }];
}

/** A stable UID for a view of a Service (its own differs from the Service's, as every object's does). */
function viewUid(row: ServiceRow, kind: string): string {
  const h = createHash('sha256').update(`${row.uid}/${kind}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** A Configuration: the view of a Service's template, or one created directly. */
export function configurationObject(row: ServiceRow): Configuration {
  const s = row.status as Status;
  if (row.kind === 'Configuration') {
    const { revisions: _replicas, ...status } = s;
    return {
      apiVersion,
      kind: 'Configuration',
      metadata: {
        ...meta(row),
        generation: row.generation,
        labels: row.labels,
        annotations: row.annotations,
        ...(row.managedFields.length > 0 ? { managedFields: row.managedFields } : {}),
      },
      spec: { template: row.spec.template },
      status,
    } as Configuration;
  }
  return {
    apiVersion,
    kind: 'Configuration',
    metadata: {
      ...meta(row),
      uid: viewUid(row, 'Configuration'),
      generation: row.configGeneration,
      labels: { ...row.labels, 'serving.knative.dev/service': row.name },
      annotations: row.annotations,
      ownerReferences: ownedBy(row),
    },
    spec: { template: row.spec.template },
    status: {
      observedGeneration: row.configGeneration,
      conditions: pickConditions(s, { ConfigurationsReady: 'Ready' }),
      ...(s.latestCreatedRevisionName ? { latestCreatedRevisionName: s.latestCreatedRevisionName as string } : {}),
      ...(s.latestReadyRevisionName ? { latestReadyRevisionName: s.latestReadyRevisionName as string } : {}),
    },
  } as Configuration;
}

export function routeObject(row: ServiceRow): Route {
  const s = row.status as Status;
  return {
    apiVersion,
    kind: 'Route',
    metadata: {
      ...meta(row),
      uid: viewUid(row, 'Route'),
      generation: row.generation,
      labels: { ...row.labels, 'serving.knative.dev/service': row.name },
      annotations: row.annotations,
      ownerReferences: ownedBy(row),
    },
    spec: {
      traffic: (row.spec.traffic ?? []).map((t) => (t.revisionName ? t : { ...t, configurationName: row.name })),
    },
    status: {
      observedGeneration: row.generation,
      conditions: pickConditions(s, { RoutesReady: 'Ready', CertificateProvisioned: 'CertificateProvisioned' }),
      ...(s.url ? { url: s.url as string } : {}),
      ...(s.address ? { address: s.address as { url: string } } : {}),
      ...(s.traffic ? { traffic: s.traffic as Route['spec']['traffic'] } : {}),
    },
  } as Route;
}

/** A Route created directly. */
export function standaloneRouteObject(row: RouteRow): Route {
  return {
    apiVersion,
    kind: 'Route',
    metadata: {
      ...meta(row),
      generation: row.generation,
      labels: row.labels,
      annotations: row.annotations,
      ...(row.managedFields.length > 0 ? { managedFields: row.managedFields } : {}),
    },
    spec: row.spec,
    status: row.status,
  } as Route;
}

export function revisionObject(row: RevisionRow, routingState: 'active' | 'reserve'): Revision {
  const { everReady: _hidden, ...status } = row.status as Record<string, unknown>;
  return {
    apiVersion,
    kind: 'Revision',
    metadata: {
      ...meta(row),
      generation: 1,
      labels: { ...row.labels, 'serving.knative.dev/routingState': routingState },
      annotations: row.annotations,
    },
    spec: row.spec,
    status: { observedGeneration: 1, ...status },
  } as Revision;
}
