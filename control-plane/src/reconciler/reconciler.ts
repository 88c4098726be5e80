import { randomUUID } from 'node:crypto';
import {
  type AutoscalerConfig,
  acmeServiceHosts,
  autoscalerDefaults,
  type ColdStartTimes,
  type Condition,
  type DomainCertificate,
  domainMappingStatus,
  type HttpProtocol,
  jsonEqual,
  type MappingCandidate,
  mappingCandidates,
  mappingTarget,
  type RoutingService,
  resolveAutoscaling,
  routeCertificateCondition,
  routingKey,
  type SnapshotCertificate,
  type SnapshotEndpoint,
  type UrlOptions,
  unresolvedMessage,
} from '@skiff/shared';
import type { AcmeCertificates } from '../acme/certificates.ts';
import type { WorkloadBackend } from '../backends/backend.ts';
import { defaultCertificate, mappingCertificate, type TlsSecretSource } from '../certificates/secrets.ts';
import type { Rollouts } from '../rollout/rollouts.ts';
import type { RoutingPublisher } from '../routing/publisher.ts';
import { buildSnapshot, type SnapshotDomain, type SnapshotRevisionInput } from '../routing/snapshot.ts';
import type { DomainMappingRow, RevisionRow, RouteRow, ServiceRow } from '../store/schema.ts';
import type { Store } from '../store/store.ts';
import type { Decided } from './conditions.ts';
import { type RevisionStatus, revisionFailed, revisionReady, revisionStatus } from './revision-status.ts';
import { type RouteStatusInput, routeStatus } from './route-state.ts';
import {
  latestReadyRevision,
  planRevision,
  type ResolvedTarget,
  type RevisionInfo,
  routedRevisions,
  type ServiceStatus,
  serviceStatus,
} from './service-state.ts';
import { WorkQueue } from './work-queue.ts';
import { revisionWorkload } from './workload.ts';

const publishDelayMs = 50;

/** Every service reconciled again (`ReconcilerOptions.resyncMs`): 10 h, as Knative. */
export const defaultResyncMs = 10 * 60 * 60 * 1000;
/** Orphans, unpublished services and DomainMappings (`ReconcilerOptions.sweepMs`). */
export const defaultSweepMs = 30_000;

/**
 * The most passes one reconcile of a service makes while the backend reports changes as it runs
 * (a new revision: it starts, becomes ready, takes the traffic, the old one stops); past them the
 * service is queued again.
 */
const maxPasses = 4;

/** How many replicas a revision should have: the autoscaler (`../autoscaler/`), or a fixed rule. */
export interface ScaleSource {
  /**
   * `wanted`: the revision should run at all (traffic reaches it, or it is the newest revision and
   * not ready yet); `routed`: traffic reaches it.
   */
  desired(revision: RevisionRow, wanted: boolean, routed: boolean): number;
  /** A router holds `held` requests for a revision: it should have a replica now. */
  activate?(namespace: string, revision: string, held?: number): void;
  /** A deleted revision's workload was removed: nothing more to decide for it. */
  forget?(namespace: string, revision: string): void;
}

/**
 * No autoscaling: a revision that traffic reaches (or the newest one, so it can become ready)
 * runs its initial scale within its min/max bounds; every other revision runs none. A revision
 * created at zero (`initial-scale: "0"`) stays there until a router asks for it.
 */
export class StaticScale implements ScaleSource {
  #config: AutoscalerConfig;
  #activated = new Set<string>();
  constructor(config: AutoscalerConfig = autoscalerDefaults) {
    this.#config = config;
  }
  activate(namespace: string, revision: string): void {
    this.#activated.add(`${namespace}/${revision}`);
  }
  desired(revision: RevisionRow, wanted: boolean): number {
    if (!wanted) return 0;
    const a = resolveAutoscaling(revision.annotations, revision.spec.containerConcurrency ?? 0, this.#config);
    const activated = this.#activated.has(`${revision.namespace}/${revision.name}`);
    const want = Math.max(a.minScale, activated ? Math.max(1, a.initialScale) : a.initialScale);
    return a.maxScale > 0 ? Math.min(want, a.maxScale) : want;
  }
}

export interface ReconcilerOptions {
  store: Store;
  backend: WorkloadBackend;
  publisher: RoutingPublisher;
  urls: UrlOptions;
  scale?: ScaleSource;
  autoscaler?: AutoscalerConfig;
  /** Gradual and SLO-gated rollouts; without it a new revision takes its traffic at once. */
  rollouts?: Rollouts;
  /**
   * How the router serves HTTPS, for DomainMappings' `CertificateProvisioned` and URLs: the local
   * CA issues on demand (`skiff up --tls`), or no TLS at all.
   */
  tls?: { caFile: string };
  /**
   * Kubernetes TLS Secrets (the Kubernetes backend): a DomainMapping's `spec.tls.secretName` and the
   * platform's default wildcard Secret supply the routers' certificates.
   */
  secrets?: TlsSecretSource;
  /** Knative's platform-wide `http-protocol` (`config-network`); a Service's annotation overrides it. */
  httpProtocol?: HttpProtocol;
  /**
   * Certificates ordered from an ACME server (`acme/certificates.ts`) for mapped domains without a
   * TLS Secret: told which domains want one, asked what `CertificateProvisioned` says, and what
   * the router serves (certificates held, HTTP-01 answers).
   */
  acme?: Pick<AcmeCertificates, 'want' | 'certificate' | 'tls'>;
  /** ACME certificates for services' own public hosts too (`skiff up --acme-service-hosts`). */
  acmeServiceHosts?: boolean;
  /**
   * Full resync period: every service (and Route created directly) is reconciled again, a safety
   * net for a change whose event was missed. Default 10 h, as Knative's controllers
   * (`controller.DefaultResyncPeriod`): every change reaches the queue as an event (API writes,
   * the backend's watch, the autoscaler, rollouts), and at 10,000 services a resync is 10,000
   * reconciles (~5 s of a core), which every 30 s took ~17% of a core and landed in whatever
   * the API was doing then.
   */
  resyncMs?: number;
  /**
   * Sweep period (default 30 s): the cheap global work, not per service: orphaned workloads
   * removed, services published but no longer stored unpublished, and the DomainMappings settled
   * (a TLS Secret's certificate expires with time, not with an event).
   */
  sweepMs?: number;
  onError?: (key: string, error: unknown) => void;
  /** Called with each reconcile's duration and outcome (for metrics). */
  onReconciled?: (ms: number, ok: boolean) => void;
}

/**
 * Level-triggered: whatever changed (an API write, a replica becoming ready, the resync timer),
 * the service is brought to match the store: its next revision created, traffic resolved, each
 * revision's replicas asked of the backend, status written, and the routing snapshot republished.
 */
export class Reconciler {
  readonly queue: WorkQueue;
  #o: ReconcilerOptions;
  #scale: ScaleSource;
  #endpoints = new Map<string, SnapshotEndpoint[]>();
  /** Each revision's latest start from zero, as last observed (routers time held requests with it). */
  #coldStarts = new Map<string, ColdStartTimes>();
  #unwatch: (() => void) | undefined;
  #resync: ReturnType<typeof setInterval> | undefined;
  #sweep: ReturnType<typeof setInterval> | undefined;
  #publishTimer: ReturnType<typeof setTimeout> | undefined;
  /** Mapped domains that want an ACME certificate (from the last rebuild). */
  #acmeMapped: string[] = [];
  /**
   * Services' and Routes' public hosts that want ACME certificates, by routing key, with the
   * `CertificateProvisioned` last written for them (they are reconciled again when it changes).
   */
  #acmeHosts = new Map<string, AcmeHosts>();
  /** The default TLS Secret's problem last logged (logged again only when it changes). */
  #defaultProblem: string | undefined;
  /** Services published with a domain (DomainMapping) at the last settling of the mappings. */
  #withDomains = new Set<string>();
  /** Services being reconciled, and whether the backend reported a change of theirs since the pass began. */
  #observing = new Map<string, { changed: boolean }>();
  /** What each Route created directly sent traffic to when last reconciled (to scale what it leaves). */
  #routeRevisions = new Map<string, Set<string>>();

  constructor(o: ReconcilerOptions) {
    this.#o = o;
    this.#scale = o.scale ?? new StaticScale(o.autoscaler);
    this.queue = new WorkQueue(
      async (key) => {
        const started = performance.now();
        try {
          await this.#reconcile(key);
          o.onReconciled?.(performance.now() - started, true);
        } catch (e) {
          o.onReconciled?.(performance.now() - started, false);
          throw e;
        }
      },
      4,
      o.onError,
    );
  }

  start(): void {
    this.#unwatch = this.#o.backend.watch((namespace, revision) => {
      const service = this.#o.store.revisionService(namespace, revision);
      if (service === undefined) {
        this.queue.add(`gc/${namespace}/${revision}`);
        return;
      }
      // Being reconciled, before its last observation: that reconcile sees the change.
      const run = this.#observing.get(`${namespace}/${service}`);
      if (run) run.changed = true;
      else this.enqueue(namespace, service);
    });
    this.resyncAll();
    this.#resync = setInterval(() => this.resyncAll(), this.#o.resyncMs ?? defaultResyncMs);
    this.#resync.unref();
    this.#sweep = setInterval(() => this.sweep(), this.#o.sweepMs ?? defaultSweepMs);
    this.#sweep.unref();
  }

  stop(): void {
    this.#unwatch?.();
    clearInterval(this.#resync);
    clearInterval(this.#sweep);
    clearTimeout(this.#publishTimer);
    this.#publishTimer = undefined;
    this.queue.stop();
  }

  /** A router holds requests for a revision: scale it up now. */
  activate(namespace: string, revision: string, held?: number): void {
    this.#scale.activate?.(namespace, revision, held);
    const row = this.#o.store.getRevision(namespace, revision);
    if (row) this.enqueue(namespace, row.service);
  }

  /** A Service or a Configuration created directly changed: reconcile it. */
  enqueue(namespace: string, name: string): void {
    this.queue.add(`svc/${namespace}/${name}`);
  }

  /** A Route created directly changed (or was deleted): reconcile it. */
  enqueueRoute(namespace: string, name: string): void {
    this.queue.add(`route/${namespace}/${name}`);
  }

  /**
   * Queues every service (and Configuration and Route created directly) in the queue's background
   * lane (changes made meanwhile go first), and sweeps.
   */
  resyncAll(): void {
    const keys = this.#o.store.serviceKeys();
    for (const s of keys) this.queue.add(`svc/${s.namespace}/${s.name}`, 'background');
    const routes = this.#o.store.listRoutes();
    for (const r of routes) this.queue.add(`route/${r.namespace}/${r.name}`, 'background');
    this.sweep(keys, routes);
  }

  /**
   * What is repaired without reconciling every service: a service published but no longer stored
   * is reconciled as deleted (its part removed), every workload the store no longer knows is
   * removed (garbage collection), and the DomainMappings are settled.
   */
  sweep(
    keys: readonly { namespace: string; name: string }[] = this.#o.store.serviceKeys(),
    routes: readonly { namespace: string; name: string }[] = this.#o.store.listRoutes(),
  ): void {
    const stored = new Set([...keys, ...routes].map((s) => routingKey(s.namespace, s.name)));
    for (const key of this.#o.publisher.services()) if (!stored.has(key)) this.queue.add(`svc/${key}`);
    const revisions = this.#storedRevisions();
    for (const w of this.#o.backend.list()) {
      if (!revisions.has(`${w.namespace}/${w.revision}`))
        this.queue.add(`gc/${w.namespace}/${w.revision}`, 'background');
    }
    this.queue.add('snapshot', 'background');
  }

  /**
   * Every stored revision as `namespace/name`, from the store's list of keys (read again only when
   * revisions came or went): one store lookup per workload was 74–103 ms of blocked event loop
   * per sweep at 10,000 (load 12), this 5.
   */
  #storedRevisions(): Set<string> {
    return new Set(this.#o.store.revisionKeys().map((k) => `${k.namespace}/${k.name}`));
  }

  /** Resolves once all queued work is done (for tests and orderly shutdown). */
  async settled(): Promise<void> {
    do {
      while (this.#publishTimer) await new Promise((r) => setTimeout(r, 5));
      await this.queue.whenIdle();
    } while (this.#publishTimer);
  }

  /**
   * Rebuilds the routing snapshot shortly: one rebuild for however many services change within
   * the delay, so routers hear of a change within ~50 ms without a rebuild per change.
   */
  #publishSoon(): void {
    if (this.#publishTimer) return;
    this.#publishTimer = setTimeout(() => {
      this.#publishTimer = undefined;
      this.queue.add('snapshot');
    }, publishDelayMs);
    this.#publishTimer.unref();
  }

  async #reconcile(key: string): Promise<void> {
    const [kind, namespace = '', name = ''] = key.split('/');
    if (kind === 'gc') {
      if (!this.#o.store.getRevision(namespace, name)) {
        this.#endpoints.delete(`${namespace}/${name}`);
        this.#coldStarts.delete(`${namespace}/${name}`);
        await this.#o.backend.remove(namespace, name);
        this.#scale.forget?.(namespace, name);
        this.#publishSoon();
      }
      return;
    }
    if (kind === 'snapshot') {
      this.#publish();
      return;
    }
    if (kind === 'route') {
      this.#reconcileRoute(namespace, name);
      return;
    }
    await this.#reconcileService(namespace, name);
  }

  async #reconcileService(namespace: string, name: string): Promise<void> {
    const { store, backend } = this.#o;
    let svc = store.getService(namespace, name, 'any');
    if (!svc) {
      // Deleted: routers stop sending to it first (a Route created directly with its name keeps
      // its part), then what still runs for its revisions (gone with it) is stopped, which may
      // take a replica's drain.
      if (!store.getRoute(namespace, name)) {
        this.#o.publisher.setService({ namespace, name, revisions: [] });
        this.#setAcmeHosts(routingKey(namespace, name), undefined);
      }
      const revisions = this.#storedRevisions();
      for (const w of backend.list()) {
        if (w.namespace === namespace && !revisions.has(`${namespace}/${w.revision}`)) {
          this.#endpoints.delete(`${namespace}/${w.revision}`);
          this.#coldStarts.delete(`${namespace}/${w.revision}`);
          await backend.remove(namespace, w.revision);
        }
      }
      // Routes that sent traffic to it resolve again.
      this.#routesChanged(namespace);
      return;
    }
    const isService = svc.kind === 'Service';

    // 1. The template's revision. Its revisions, oldest first, are read once: the newest is the
    // one the template made last, and one created here joins them as created.
    let rows = store.listRevisions(namespace, name);
    const plan = planRevision(svc, rows.at(-1), (n) => store.getRevision(namespace, n));
    let nameTaken: string | undefined;
    if (plan.kind === 'create') {
      const template = svc.spec.template;
      const created = store.createRevision(
        {
          namespace,
          name: plan.name,
          service: name,
          uid: randomUUID(),
          configGeneration: plan.configGeneration,
          templateHash: plan.templateHash,
          labels: {
            ...template.metadata?.labels,
            ...(isService ? { 'serving.knative.dev/service': name } : {}),
            'serving.knative.dev/configuration': name,
            'serving.knative.dev/configurationGeneration': String(plan.configGeneration),
            ...(isService
              ? { 'serving.knative.dev/serviceUID': svc.uid }
              : { 'serving.knative.dev/configurationUID': svc.uid }),
          },
          annotations: { ...template.metadata?.annotations },
          spec: template.spec,
        },
        'reconciler',
      );
      // Only its template generation count moved (read again, the whole row was 2% of a create's CPU).
      if (created) {
        svc = { ...svc, configGeneration: plan.configGeneration };
        rows = [...rows, created];
      }
    } else if (plan.kind === 'taken') {
      nameTaken = plan.name;
    }

    // 2–4, again while the backend reports a change to one of its revisions as they run (a
    // replica it started became ready at once): that change is observed here, not by a second
    // reconcile of the whole service, and no status of the passes before the last is written.
    const latestCreated = rows.at(-1)?.name;
    const now = new Date().toISOString();
    const decisions: Record<string, unknown>[] = [];
    const key = `${namespace}/${name}`;
    const run = { changed: false };
    this.#observing.set(key, run);
    let statuses = new Map<string, RevisionStatus>();
    let status: ServiceStatus;
    // A replica replaced at another address, or its cold-start figures: Routes created directly
    // that carry these revisions must publish them again, even when no status changes.
    let endpointsMoved = false;
    try {
      for (let pass = 1; ; pass++) {
        run.changed = false;
        // A pass starts from what the one before it decided, as a second reconcile would start
        // from the statuses the first wrote (a revision seen Ready stays Ready once scaled to zero).
        const before = statuses;
        statuses = new Map();
        // 2. What runs for each revision, and each revision's status.
        const infos: RevisionInfo[] = [];
        for (const row of rows) {
          const obs = backend.observe(namespace, row.name);
          const at = `${namespace}/${row.name}`;
          if (
            !jsonEqual(this.#endpoints.get(at) ?? [], obs.ready) ||
            !jsonEqual(this.#coldStarts.get(at), obs.coldStart)
          ) {
            endpointsMoved = true;
          }
          this.#endpoints.set(at, obs.ready);
          if (obs.coldStart) this.#coldStarts.set(at, obs.coldStart);
          else this.#coldStarts.delete(at);
          // A revision created at zero is ready to be activated: Ready without a replica (Knative).
          const startsAtZero = resolveAutoscaling(row.annotations, 0, this.#o.autoscaler).initialScale === 0;
          const prior = before.get(row.name) ?? (row.status as Partial<RevisionStatus>);
          const revision = revisionStatus(obs, prior, now, startsAtZero);
          statuses.set(row.name, revision);
          const failed = revisionFailed(revision);
          infos.push({
            name: row.name,
            configGeneration: row.configGeneration,
            ready: revisionReady(revision),
            ...(failed ? { failed } : {}),
            ...(obs.troubleAt !== undefined ? { troubleAt: obs.troubleAt } : {}),
          });
        }

        // 3. Traffic and the service's status.
        const stored = svc.status as { conditions?: Condition[]; traffic?: ResolvedTarget[] };
        // A Configuration stores its ConfigurationsReady as its Ready (transition times carry over).
        const previous = isService
          ? stored
          : { conditions: (stored.conditions ?? []).map((c) => ({ ...c, type: 'ConfigurationsReady' })) };
        const rollout = isService ? this.#o.rollouts?.decide(svc, infos, latestReadyRevision(infos)) : undefined;
        const statusInput = {
          ...(rollout ? { rollout } : {}),
          name,
          namespace,
          labels: svc.labels,
          generation: svc.generation,
          traffic: svc.spec.traffic ?? [],
          revisions: infos,
          latestCreated,
          ...(nameTaken ? { nameTaken } : {}),
          previous,
          urls: this.#o.urls,
          now,
        };
        status = serviceStatus(statusInput);
        // The Route's hosts with ACME certificates: their CertificateProvisioned joins its status.
        if (isService && this.#o.acme !== undefined && this.#o.acmeServiceHosts === true) {
          const hosts = this.#acmeHostsOf(this.#part(svc, status.traffic, rows), status.url);
          this.#setAcmeHosts(key, { kind: 'svc', hosts, decided: '' });
          status = serviceStatus({ ...statusInput, certificate: this.#routeCertificate(key, hosts) });
        }

        // 4. Replicas: what traffic reaches runs (its own route's, and Routes created directly that name
        // its revisions), the newest revision runs until it is ready, the rest stop. A Configuration
        // created directly has no route of its own.
        const routed = new Set([
          ...(isService ? routedRevisions(status.traffic) : []),
          ...this.#routedByRoutes(namespace, new Set(rows.map((r) => r.name))),
        ]);
        for (const row of rows) {
          const info = infos.find((i) => i.name === row.name);
          const wanted = routed.has(row.name) || (row.name === latestCreated && !info?.ready && !info?.failed);
          const replicas = this.#scale.desired(row, wanted, routed.has(row.name));
          const known = backend.observe(namespace, row.name);
          if (replicas === 0 && known.desired === 0 && known.actual === 0) continue;
          if (replicas !== known.desired) {
            decisions.push({
              revision: row.name,
              from: known.desired,
              to: replicas,
              reason: routed.has(row.name)
                ? 'receives traffic'
                : wanted
                  ? 'newest revision, not ready yet'
                  : 'no traffic',
            });
          }
          await backend.ensure(revisionWorkload(row), replicas);
        }
        if (!run.changed || pass === maxPasses) break;
      }
    } catch (e) {
      // What was observed is still reported (a backend that cannot start a revision fails here).
      store.derived(() => {
        for (const [revision, s] of statuses) store.setRevisionStatus(namespace, revision, s as never);
      });
      throw e;
    } finally {
      this.#observing.delete(key);
      // A change after the last pass's observation: reconcile again.
      if (run.changed) this.enqueue(namespace, name);
    }

    const withReplicas = {
      ...status,
      revisions: rows.map((r) => {
        const o = backend.observe(namespace, r.name);
        return { revisionName: r.name, actualReplicas: o.ready.length, desiredReplicas: o.desired };
      }),
    };
    const written = isService ? withReplicas : configurationStatus(status, withReplicas.revisions);
    const changed = store.derived(() => {
      for (const [revision, s] of statuses) store.setRevisionStatus(namespace, revision, s as never);
      for (const d of decisions) store.record('reconciler', 'scale', namespace, name, d);
      return store.setServiceStatus(namespace, name, written as unknown as Record<string, unknown>);
    });
    // Routes created directly that name it follow its latest ready revision, and carry its
    // revisions' endpoints as they are now.
    if (changed || endpointsMoved) this.#routesChanged(namespace, name);
    if (!isService) return;
    // Publish this service's part of the routing (a new version only when it changed) before
    // anyone can read the new status (this runs without a pause since the status write): Ready
    // is never ahead of routing. Only this service is rebuilt, whatever the number of others.
    this.#o.publisher.setService(this.#part(svc, status.traffic, rows));
    // A DomainMapping made before its Service (or tag): its status (and claim) is settled by a rebuild.
    const inNamespace = store.listDomainMappings(namespace);
    const services = this.#mappable(namespace, inNamespace, name, status.traffic);
    const mappings = inNamespace.filter((m) => mappingTarget(m.spec.ref, services)?.service === name);
    if (mappings.some((m) => !conditionTrue(m.status, 'ReferenceResolved'))) this.#publishSoon();
  }

  /** Revisions among `names` that Routes created directly in `namespace` send traffic to. */
  #routedByRoutes(namespace: string, names: Set<string>): string[] {
    const out: string[] = [];
    for (const r of this.#o.store.listRoutes(namespace)) {
      for (const t of (r.status as { traffic?: ResolvedTarget[] }).traffic ?? []) {
        if (names.has(t.revisionName)) out.push(t.revisionName);
      }
    }
    return out;
  }

  /** Routes created directly in `namespace` (that name configuration `name`, when given) resolve again. */
  #routesChanged(namespace: string, name?: string): void {
    for (const r of this.#o.store.listRoutes(namespace)) {
      const names = name === undefined || (r.spec.traffic ?? []).some((t) => t.configurationName === name);
      const routes = (r.status as { traffic?: ResolvedTarget[] }).traffic ?? [];
      const revisions =
        name !== undefined &&
        routes.some((t) => this.#o.store.getRevision(namespace, t.revisionName)?.service === name);
      const pinned =
        name !== undefined &&
        (r.spec.traffic ?? []).some(
          (t) => t.revisionName && this.#o.store.getRevision(namespace, t.revisionName)?.service === name,
        );
      if (names || revisions || pinned) this.enqueueRoute(namespace, r.name);
    }
  }

  /**
   * A Route created directly: its traffic resolved against the revisions and configurations it
   * names, its status, its part of the routing snapshot (its host and tag hosts), and the
   * configurations whose revisions it starts or stops sending traffic to reconciled for replicas.
   */
  #reconcileRoute(namespace: string, name: string): void {
    const { store, publisher } = this.#o;
    const route = store.getRoute(namespace, name);
    const before = this.#routeRevisions.get(`${namespace}/${name}`) ?? new Set<string>();
    if (!route) {
      this.#routeRevisions.delete(`${namespace}/${name}`);
      if (!store.getService(namespace, name)) {
        publisher.setService({ namespace, name, revisions: [] });
        this.#setAcmeHosts(routingKey(namespace, name), undefined);
      }
      this.#scaleOwners(namespace, before);
      return;
    }
    const revisionFacts = (n: string) => {
      const row = store.getRevision(namespace, n);
      if (!row) return undefined;
      const status = row.status as Partial<RevisionStatus>;
      return { ready: revisionReady(status), failed: revisionFailed(status) };
    };
    const statusInput: RouteStatusInput = {
      name,
      namespace,
      labels: route.labels,
      generation: route.generation,
      traffic: route.spec.traffic ?? [],
      facts: {
        revision: revisionFacts,
        configuration: (n) => {
          const owner = store.getService(namespace, n, 'any');
          if (!owner) return undefined;
          const s = owner.status as { latestReadyRevisionName?: string; latestCreatedRevisionName?: string };
          const latest = s.latestCreatedRevisionName ? revisionFacts(s.latestCreatedRevisionName) : undefined;
          return { latestReady: s.latestReadyRevisionName, latestCreatedFailed: latest?.failed !== undefined };
        },
      },
      previous: route.status as { conditions?: []; traffic?: ResolvedTarget[] },
      urls: this.#o.urls,
      now: new Date().toISOString(),
    };
    let status = routeStatus(statusInput);
    const part = this.#routePart(route, status.traffic);
    if (this.#o.acme !== undefined && this.#o.acmeServiceHosts === true) {
      const key = routingKey(namespace, name);
      const hosts = this.#acmeHostsOf(part, status.url);
      this.#setAcmeHosts(key, { kind: 'route', hosts, decided: '' });
      status = routeStatus({ ...statusInput, certificate: this.#routeCertificate(key, hosts) });
    }
    const routed = new Set(status.traffic.map((t) => t.revisionName));
    this.#routeRevisions.set(`${namespace}/${name}`, routed);
    publisher.setService(part);
    store.setRouteStatus(namespace, name, status as unknown as Record<string, unknown>);
    // A DomainMapping made before this Route (or its tag): its status (and claim) is settled by a rebuild.
    const inNamespace = store.listDomainMappings(namespace);
    const candidates = this.#mappable(namespace, inNamespace, name, status.traffic);
    if (
      inNamespace.some(
        (m) => mappingTarget(m.spec.ref, candidates)?.service === name && !conditionTrue(m.status, 'ReferenceResolved'),
      )
    )
      this.#publishSoon();
    const moved = new Set([...before, ...routed].filter((r) => before.has(r) !== routed.has(r)));
    this.#scaleOwners(namespace, moved);
  }

  /** The configurations (Services' or created directly) of these revisions reconcile: their replicas follow. */
  #scaleOwners(namespace: string, revisions: Set<string>): void {
    const owners = new Set<string>();
    for (const r of revisions) {
      const row = this.#o.store.getRevision(namespace, r);
      if (row) owners.add(row.service);
    }
    for (const o of owners) this.enqueue(namespace, o);
  }

  /** A Route's part of the routing snapshot: its hosts and the revisions it sends traffic to. */
  #routePart(route: RouteRow, traffic: ResolvedTarget[]): RoutingService {
    const names = new Set(traffic.map((t) => t.revisionName));
    const rows = [...names]
      .map((n) => this.#o.store.getRevision(route.namespace, n))
      .filter((r): r is RevisionRow => r !== undefined);
    const built = buildSnapshot(
      [{ namespace: route.namespace, name: route.name, labels: route.labels, annotations: route.annotations, traffic }],
      // Carried in the Route's part (routers index a part's revisions by the part).
      rows.map((r) => ({ ...this.#revisionInput(r), service: route.name })),
      this.#o.urls.domain,
      this.#domainsOf(route.namespace, route.name, traffic),
      this.#o.httpProtocol,
    );
    const part = built.routes[0];
    return {
      namespace: route.namespace,
      name: route.name,
      ...(part ? { route: part } : {}),
      revisions: built.revisions,
    };
  }

  /**
   * The Services these mappings could resolve to and their tags, as mappings resolve against them
   * (`traffic`: service `name`'s now). Only the candidates' rows are read (`mappingCandidates`):
   * reading every Service of the namespace here, once per reconcile, made a start with 10,000
   * services O(N²) and never finish.
   */
  #mappable(
    namespace: string,
    mappings: readonly DomainMappingRow[],
    name?: string,
    traffic?: ResolvedTarget[],
  ): MappingCandidate[] {
    const tags = (t: ResolvedTarget[]) => t.flatMap((x) => (x.tag === undefined ? [] : [x.tag]));
    const out: MappingCandidate[] = [];
    for (const candidate of mappingCandidates(mappings.map((m) => m.spec.ref))) {
      // A Service, or a Route created directly (Knative's DomainMapping reaches any Addressable Route).
      const s = this.#o.store.getService(namespace, candidate) ?? this.#o.store.getRoute(namespace, candidate);
      if (!s) continue;
      const t = s.name === name && traffic ? traffic : ((s.status as { traffic?: ResolvedTarget[] }).traffic ?? []);
      out.push({ name: s.name, tags: tags(t), kind: 'kind' in s ? 'Service' : 'Route' });
    }
    return out;
  }

  /** The domains this Service is served at: mappings to it (or a tag of it) whose claim won and whose certificate, if any, serves. */
  #domainsOf(namespace: string, service: string, traffic: ResolvedTarget[]): SnapshotDomain[] {
    const { store } = this.#o;
    const mappings = store.listDomainMappings(namespace);
    const services = this.#mappable(namespace, mappings, service, traffic);
    const out: SnapshotDomain[] = [];
    for (const m of mappings) {
      const target = mappingTarget(m.spec.ref, services);
      if (
        target?.service === service &&
        store.domainClaims(m.name)[0]?.namespace === namespace &&
        servable(this.#certificate(m, new Date()).certificate)
      ) {
        out.push({ domain: m.name, namespace, service, ...(target.tag ? { tag: target.tag } : {}) });
      }
    }
    return out;
  }

  /** One service's part of the routing snapshot, from its resolved traffic and observed endpoints. */
  #part(svc: ServiceRow, traffic: ResolvedTarget[], rows: RevisionRow[]): RoutingService {
    const built = buildSnapshot(
      [{ namespace: svc.namespace, name: svc.name, labels: svc.labels, annotations: svc.annotations, traffic }],
      rows.map((r) => this.#revisionInput(r)),
      this.#o.urls.domain,
      this.#domainsOf(svc.namespace, svc.name, traffic),
      this.#o.httpProtocol,
    );
    const route = built.routes[0];
    return { namespace: svc.namespace, name: svc.name, ...(route ? { route } : {}), revisions: built.revisions };
  }

  #revisionInput(r: RevisionRow): SnapshotRevisionInput {
    return {
      namespace: r.namespace,
      name: r.name,
      service: r.service,
      spec: r.spec,
      endpoints: this.#endpoints.get(`${r.namespace}/${r.name}`) ?? [],
      coldStart: this.#coldStarts.get(`${r.namespace}/${r.name}`),
    };
  }

  /**
   * Settles DomainMappings: writes their status and certificates, and republishes the parts of the
   * services whose domains may have changed (those a mapping names, and those published with a
   * domain before). Work in proportion to the mappings: every other service publishes its own part
   * when it is reconciled, so neither a resync nor a garbage collection rebuilds all 10,000 (that
   * rebuild held the event loop for about a second per resync at 10,000 services, and routers
   * waited behind it).
   */
  #publish(): void {
    const { store, publisher } = this.#o;
    const { served, certificates, acmeDomains } = this.#domainMappings();
    const affected = new Set(this.#withDomains);
    for (const m of store.listDomainMappings()) affected.add(routingKey(m.namespace, m.spec.ref.name));
    this.#withDomains = new Set(served.map((d) => routingKey(d.namespace, d.service)));
    for (const key of affected) {
      const slash = key.indexOf('/');
      const svc = store.getService(key.slice(0, slash), key.slice(slash + 1));
      const route = svc ? undefined : store.getRoute(key.slice(0, slash), key.slice(slash + 1));
      if (route) {
        publisher.setService(this.#routePart(route, (route.status as { traffic?: ResolvedTarget[] }).traffic ?? []));
      }
      if (!svc) continue; // its own reconcile removed its part
      const traffic = ((svc.status as { traffic?: ResolvedTarget[] }).traffic ?? []) as ResolvedTarget[];
      publisher.setService(this.#part(svc, traffic, store.listRevisions(svc.namespace, svc.name)));
    }
    const { secrets, acme } = this.#o;
    this.#acmeMapped = acmeDomains;
    this.#acmeWant();
    this.#acmeHostsChanged();
    if (secrets !== undefined || acme !== undefined) {
      // ACME's open HTTP-01 challenges are its own; without it, whatever the snapshot has stays.
      const ordered = acme?.tls();
      const challenges = ordered ? ordered.challenges : publisher.tls.challenges;
      publisher.setTls({
        certificates: [...certificates, ...(ordered?.certificates ?? [])],
        ...(challenges ? { challenges } : {}),
      });
    }
  }

  /**
   * How the router gets a DomainMapping's certificate: its TLS Secret (on Kubernetes; on one
   * machine Secrets are not read), the platform's default wildcard Secret when it covers the
   * domain, an ACME server (`skiff up --acme-directory`), the local CA (`skiff up --tls`), or none (plain HTTP only).
   */
  #certificate(
    m: DomainMappingRow,
    now: Date,
    fallback = this.#defaultCertificate(now),
  ): { certificate: DomainCertificate; served?: SnapshotCertificate } {
    const { secrets, tls, acme } = this.#o;
    if (m.spec.tls !== undefined) {
      if (secrets !== undefined)
        return mappingCertificate(m.name, secrets.secret(m.namespace, m.spec.tls.secretName), now);
      return {
        certificate: {
          kind: 'secret',
          ok: false,
          reason: 'SecretsUnavailable',
          message: `TLS Secret ${JSON.stringify(m.spec.tls.secretName)}: Secrets are read on the Kubernetes backend only; on one machine the local CA issues certificates (skiff up --tls, no spec.tls)`,
        },
      };
    }
    if (fallback?.covers(m.name)) return { certificate: { kind: 'secret', ok: true } };
    if (acme !== undefined) return { certificate: acme.certificate(m.name) };
    return { certificate: tls ? { kind: 'local-ca', caFile: tls.caFile } : { kind: 'none' } };
  }

  #defaultCertificate(now: Date): ReturnType<typeof defaultCertificate> | undefined {
    const d = this.#o.secrets?.defaultSecret();
    return d === undefined ? undefined : defaultCertificate(d, now);
  }

  /**
   * Writes every DomainMapping's status and returns the domains the router serves: each domain's
   * oldest claim, when its Service exists and its certificate (if any) can be served.
   */
  #domainMappings(): { served: SnapshotDomain[]; certificates: SnapshotCertificate[]; acmeDomains: string[] } {
    const { store } = this.#o;
    const served: SnapshotDomain[] = [];
    const certificates: SnapshotCertificate[] = [];
    const date = new Date();
    const now = date.toISOString();
    const fallback = this.#defaultCertificate(date);
    if (fallback?.served) certificates.push(fallback.served);
    if (fallback?.problem !== undefined && fallback.problem !== this.#defaultProblem) {
      this.#o.onError?.('default-tls-secret', new Error(`${fallback.problem}; not served`));
    }
    this.#defaultProblem = fallback?.problem;
    const wantAcme: string[] = [];
    const all = store.listDomainMappings();
    const mappable = new Map<string, MappingCandidate[]>();
    for (const m of all) {
      const first = store.domainClaims(m.name)[0];
      const claimedBy = first && first.namespace !== m.namespace ? first.namespace : undefined;
      let services = mappable.get(m.namespace);
      if (services === undefined) {
        services = this.#mappable(
          m.namespace,
          all.filter((x) => x.namespace === m.namespace),
        );
        mappable.set(m.namespace, services);
      }
      const target = mappingTarget(m.spec.ref, services);
      const service = target
        ? { ready: true as const }
        : { ready: false as const, reason: 'ResolveFailed', message: unresolvedMessage(m.spec.ref, m.namespace) };
      const { certificate, served: cert } = this.#certificate(m, date, fallback);
      if (certificate.kind === 'acme' && claimedBy === undefined && service.ready) wantAcme.push(m.name);
      const status = domainMappingStatus(
        m.name,
        { ...(claimedBy ? { claimedBy } : {}), service, certificate, now, generation: m.generation },
        m.status as { conditions?: [] },
      );
      store.setDomainMappingStatus(m.namespace, m.name, status);
      // Routed once the router can serve it: an ACME domain over plain HTTP while its certificate is ordered.
      const ingress = (status.conditions as { type: string; status: string }[]).find((c) => c.type === 'IngressReady');
      if (ingress?.status === 'True') {
        if (target)
          served.push({
            domain: m.name,
            namespace: m.namespace,
            service: target.service,
            ...(target.tag ? { tag: target.tag } : {}),
          });
        if (cert !== undefined) certificates.push(cert);
      }
    }
    return { served, certificates, acmeDomains: wantAcme };
  }

  /**
   * A Service's or Route's public hosts for ACME (`acmeServiceHosts`; undefined once it is gone):
   * the ACME side hears when they change.
   */
  #setAcmeHosts(key: string, next: AcmeHosts | undefined): void {
    const before = this.#acmeHosts.get(key);
    if (next === undefined) {
      if (before === undefined) return;
      this.#acmeHosts.delete(key);
      this.#acmeWant();
      return;
    }
    this.#acmeHosts.set(key, { ...next, decided: before?.decided ?? '' });
    const same =
      before !== undefined &&
      before.hosts.length === next.hosts.length &&
      before.hosts.every((h, i) => h === next.hosts[i]);
    if (!same) this.#acmeWant();
  }

  /** The public hosts of a part that get ACME certificates; before it is routed, its URL's host. */
  #acmeHostsOf(part: RoutingService, url: string): string[] {
    if (part.route) return acmeServiceHosts([part.route], this.#o.urls.domain);
    const host = new URL(url).hostname;
    return host.endsWith(`.${this.#o.urls.domain.toLowerCase()}`) && !host.endsWith('.svc.cluster.local') ? [host] : [];
  }

  /** The Route's `CertificateProvisioned` for its ACME hosts now, remembered to notice a change. */
  #routeCertificate(key: string, hosts: string[]): Decided {
    const acme = this.#o.acme;
    const decided = routeCertificateCondition(
      hosts.map((host) => ({ host, certificate: acme ? acme.certificate(host) : { kind: 'none' as const } })),
      this.#o.httpProtocol ?? 'enabled',
    );
    const entry = this.#acmeHosts.get(key);
    if (entry) entry.decided = conditionKey(decided);
    return decided;
  }

  /** Services and Routes whose hosts' certificates changed state: reconciled, so their status says so. */
  #acmeHostsChanged(): void {
    for (const [key, entry] of this.#acmeHosts) {
      const decided = routeCertificateCondition(
        entry.hosts.map((host) => ({
          host,
          certificate: this.#o.acme?.certificate(host) ?? { kind: 'none' as const },
        })),
        this.#o.httpProtocol ?? 'enabled',
      );
      if (conditionKey(decided) === entry.decided) continue;
      const slash = key.indexOf('/');
      if (entry.kind === 'svc') this.enqueue(key.slice(0, slash), key.slice(slash + 1));
      else this.enqueueRoute(key.slice(0, slash), key.slice(slash + 1));
    }
  }

  /** Tells the ACME side every domain that wants a certificate: mapped domains, service hosts. */
  #acmeWant(): void {
    this.#o.acme?.want([...this.#acmeMapped, ...[...this.#acmeHosts.values()].flatMap((e) => e.hosts)]);
  }

  /** A DomainMapping changed: rebuild the snapshot (and the mappings' status) shortly. */
  domainMappingsChanged(): void {
    this.#publishSoon();
  }
}

/** A Service's or Route's hosts that get ACME certificates, and the condition last written for them. */
interface AcmeHosts {
  kind: 'svc' | 'route';
  hosts: string[];
  /** `conditionKey` of the `CertificateProvisioned` last decided. */
  decided: string;
}

function conditionKey(d: Decided): string {
  return `${d.status}\n${d.reason ?? ''}\n${d.message ?? ''}`;
}

/** Whether the router may serve a domain with this certificate (a Secret's only when it is good). */
function servable(c: DomainCertificate): boolean {
  return c.kind !== 'secret' || c.ok;
}

function conditionTrue(status: Record<string, unknown>, type: string): boolean {
  const conditions = (status as { conditions?: { type: string; status: string }[] }).conditions ?? [];
  return conditions.some((c) => c.type === type && c.status === 'True');
}

/**
 * A Configuration's status (`configuration_lifecycle.go`): its Ready is the Service's
 * ConfigurationsReady, with the latest revisions; no URL or traffic (it has no route of its own).
 */
function configurationStatus(status: ServiceStatus, revisions: unknown[]): Record<string, unknown> {
  const ready = status.conditions.find((c) => c.type === 'ConfigurationsReady');
  return {
    observedGeneration: status.observedGeneration,
    conditions: ready ? [{ ...ready, type: 'Ready' }] : [],
    ...(status.latestCreatedRevisionName ? { latestCreatedRevisionName: status.latestCreatedRevisionName } : {}),
    ...(status.latestReadyRevisionName ? { latestReadyRevisionName: status.latestReadyRevisionName } : {}),
    revisions,
  };
}
