import type { ActivateRequest, AutoscalerConfig, RouterStats, Stat } from '@skiff/shared';
import { apiVersion } from '@skiff/shared';
import type { WorkloadBackend } from '../backends/backend.ts';
import type { RoutingPublisher } from '../routing/publisher.ts';
import type { Store } from '../store/store.ts';
import type { ApiMetrics } from './metrics.ts';
import type { RolloutApi } from './resources/rollout.ts';

/** What the API needs from the rest of the control plane. */
export interface ApiDeps {
  store: Store;
  publisher: RoutingPublisher;
  tokens: { user: string; router: string };
  metrics: ApiMetrics;
  /** Something changed for a service: reconcile it. */
  changed(namespace: string, name: string): void;
  /** A Route created directly was written or deleted: resolve its traffic (or stop routing it). */
  routeChanged?(namespace: string, name: string): void;
  /** A DomainMapping was written or deleted: route its domain (or stop). */
  domainMappingsChanged?(): void;
  /** A revision was deleted: stop what runs for it. */
  revisionDeleted(namespace: string, name: string): void;
  /** A router holds requests for a revision. */
  activate(request: ActivateRequest): void;
  /** A router's stats for the second that ended (held, in flight, answers), over its stats stream. */
  routerStats(stats: RouterStats): void;
  /** One replica's stats for the second that ended, pushed by its queue-proxy. */
  replicaStat?(stat: Stat): void;
  /** Whether the control plane is ready to serve (store open, reconciler started). */
  ready(): boolean;
  /** Autoscaler settings the annotations are validated against. */
  autoscaler?: AutoscalerConfig;
  /** The autoscaler's recent decisions for a revision, newest last. */
  scaling?(namespace: string, revision: string): unknown[];
  /** More metric lines for `/metrics` (the autoscaler's gauges). */
  extraMetrics?(): string[];
  /** Recent output of a revision's replicas (see `WorkloadBackend.logs`). */
  logs?: WorkloadBackend['logs'];
  /** How often a watch that allows bookmarks gets one (kube-apiserver: about a minute). */
  watchBookmarkMs?: number;
  /** The workload backend's own checks of a template (see `WorkloadBackend.validate`). */
  validateTemplate?: WorkloadBackend['validate'];
  /** The services' rollouts (the `rollout` subresource). */
  rollouts?: RolloutApi;
}

/** Where the serving group's resources live. */
export const groupPath = `/apis/${apiVersion}`;
/** Namespaced resource paths (`:ns` is the namespace). */
export const namespacedPath = `${groupPath}/namespaces/:ns`;

/** Answers a watch request on a resource (see `watch.ts`). */
export type Watch = (req: Request, namespace: string | undefined) => Response;

/** Whether a list request is a watch (`?watch=true`, as client-go sends it, or `1`). */
export function isWatch(req: Request): boolean {
  const v = new URL(req.url).searchParams.get('watch');
  return v === 'true' || v === '1';
}
