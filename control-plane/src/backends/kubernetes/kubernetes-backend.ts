import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Agent } from 'node:http';
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
  type V1EndpointSlice,
  type V1Pod,
  type V1Secret,
  type V1Service,
} from '@kubernetes/client-node';
import {
  type Backoff,
  backoffDelay,
  type FieldError,
  type RevisionSpec,
  required,
  type SnapshotEndpoint,
  statsPath,
} from '@skiff/shared';
import {
  nothingRunning,
  type RevisionFailure,
  type RevisionObservation,
  type RevisionWorkload,
  type StatsPushTarget,
  type WorkloadBackend,
} from '../backend.ts';
import { podColdStart } from './cold-start.ts';
import { fieldManager, type KubernetesConfig, kubernetesDefaults, labels as L, managedSelector } from './config.ts';
import { Reflector, type ReflectorEvent, type ReflectorStats } from './reflector.ts';
import {
  makeDeployment,
  makeService,
  makeStatsPushSecret,
  type Placement,
  type PodStatsPush,
  placement,
  specHash,
  statsPushSecretName,
} from './resources.ts';
import { podTroubleAt } from './trouble.ts';

export interface KubernetesBackendOptions {
  /** A loaded configuration; otherwise `kubeconfig`, else the default chain (`$KUBECONFIG`, `~/.kube/config`, in-cluster). */
  kubeConfig?: KubeConfig;
  kubeconfig?: string;
  /**
   * The Kubernetes namespace every revision goes into. Unset: each Skiff namespace is the
   * Kubernetes namespace of the same name (which must exist, and the control plane needs rights there).
   */
  namespace?: string;
  config?: Partial<KubernetesConfig>;
  /**
   * Whether the autoscaler may scrape pods' queue-proxies at their pod IPs: true in the cluster;
   * from outside (a laptop, the test cluster's fake IPs) pods cannot be reached.
   */
  scrapePods?: boolean;
  /**
   * The control plane as pods reach it (`https://skiff-control-plane.skiff:8090`), and the CA they
   * should trust for it (a PEM file; else the one the control plane says it serves with): pods'
   * queue-proxies push their stats there, over one connection each, and are not scraped.
   */
  statsPush?: { url: string; caFile?: string };
  /** Watches silent for this long are dropped and the collection relisted. */
  watchdogMs?: number;
  /** How long the API server keeps one watch open. */
  watchTimeoutSeconds?: number;
  log?: (message: string) => void;
}

/** What the backend was asked for one revision, and what it last wrote for it. */
interface RevisionState {
  key: string;
  workload: RevisionWorkload;
  place: Placement;
  replicas: number;
  /** The Deployment as last applied: the hash of its spec (without replicas), its replicas, and the server's answer. */
  applied?: { hash: string; replicas: number; uid: string; generation: number };
  service?: { hash: string; uid: string };
  failure?: RevisionFailure;
  /** A rejected apply is retried after a backoff, not on every reconcile. */
  rejected?: { hash: string; replicas: number; until: number; failures: number };
  /** Applies of one revision run one after another. */
  chain: Promise<void>;
}

/** The namespace in-cluster pods run in (the service account's), if this process is one. */
export function inClusterNamespace(): string | undefined {
  try {
    return readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * client-node 1.4 makes a new `https.Agent` for every request and every watch (its issue #2893):
 * a TLS handshake each time, ~4x the cost of a server-side apply on the API server itself. This
 * keeps one keep-alive agent per cluster and set of TLS credentials (tokens travel in headers).
 * It patches the instance because `createAgent` is private in the type declarations. Returns a
 * function that closes the pooled connections.
 */
export function poolConnections(kc: KubeConfig): () => void {
  const target = kc as unknown as {
    createAgent(cluster: { server?: string; proxyUrl?: string } | null, options: Record<string, unknown>): Agent;
  };
  const create = target.createAgent.bind(kc);
  const agents = new Map<string, Agent>();
  target.createAgent = (cluster, options) => {
    if (cluster?.proxyUrl) return create(cluster, options);
    const key = createHash('sha256')
      .update(JSON.stringify([cluster?.server, options]))
      .digest('hex');
    let agent = agents.get(key);
    if (!agent) {
      agent = create(cluster, { ...options, keepAlive: true });
      agents.set(key, agent);
    }
    return agent;
  };
  return () => {
    for (const a of agents.values()) a.destroy();
    agents.clear();
  };
}

/** Loads a kubeconfig file, or the default chain (which ends with the in-cluster service account). */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

/**
 * Options from the environment (the control plane's container):
 * `SKIFF_KUBECONFIG` (else `$KUBECONFIG`, `~/.kube/config`, the in-cluster service account),
 * `SKIFF_K8S_NAMESPACE` (default: the control plane's own namespace in the cluster, else one
 * Kubernetes namespace per Skiff namespace), `SKIFF_QUEUE_PROXY_IMAGE`, `SKIFF_SCRAPE_PODS`
 * (`true`/`false`; default true in the cluster), and `SKIFF_STATS_PUSH_URL` with
 * `SKIFF_STATS_PUSH_CA_FILE` (see `statsPush`: pods push their stats instead of being scraped).
 */
export function kubernetesOptionsFromEnv(env: NodeJS.ProcessEnv): KubernetesBackendOptions {
  const own = inClusterNamespace();
  const namespace = env.SKIFF_K8S_NAMESPACE || own;
  const image = env.SKIFF_QUEUE_PROXY_IMAGE;
  const scrape = env.SKIFF_SCRAPE_PODS;
  return {
    ...(env.SKIFF_KUBECONFIG ? { kubeconfig: env.SKIFF_KUBECONFIG } : {}),
    ...(namespace ? { namespace } : {}),
    ...(image ? { config: { queueProxyImage: image } } : {}),
    scrapePods: scrape === undefined || scrape === '' ? own !== undefined : scrape === 'true',
    ...(env.SKIFF_STATS_PUSH_URL
      ? {
          statsPush: {
            url: env.SKIFF_STATS_PUSH_URL,
            ...(env.SKIFF_STATS_PUSH_CA_FILE ? { caFile: env.SKIFF_STATS_PUSH_CA_FILE } : {}),
          },
        }
      : {}),
  };
}

const retryable = new Set([409, 429, 500, 502, 503, 504]);
const applyAttempts = 6;
/** Between attempts of one call: 50–150 ms, doubling to 1–3 s. */
export const applyRetryBackoff: Backoff = { initialMs: 150, maxMs: 3_000, jitter: 2 / 3 };
/** A revision whose apply the server rejected is tried again after 5 s, doubling to 5 min (same spec). */
export const rejectedApplyBackoff: Backoff = { initialMs: 5_000, maxMs: 300_000, jitter: 0 };

/**
 * Runs revisions on Kubernetes: per revision a Deployment (user containers + queue-proxy sidecar)
 * and a Service owned by it, written with server-side apply. Ready endpoints come from the
 * Service's EndpointSlices; Deployments, Services and EndpointSlices Skiff manages are watched
 * (`Reflector`), so `observe` answers from memory, hand edits are put back, and a revision's
 * failures (progress deadline, a rejected apply) are reported with the server's own words.
 */
export class KubernetesBackend implements WorkloadBackend {
  readonly name = 'kubernetes';
  readonly kubeConfig: KubeConfig;
  readonly namespace: string | undefined;
  #config: KubernetesConfig;
  #apps: AppsV1Api;
  #core: CoreV1Api;
  #scrapePods: boolean;
  readonly #statsPushAt: { url: string; caFile?: string } | undefined;
  /** Set once the control plane listens (`pushStatsTo`): what every Deployment's queue-proxy is given. */
  #statsPush: { pod: PodStatsPush; secret: (namespace: string) => V1Secret } | undefined;
  /** Namespaces whose push Secret is written. */
  #pushSecrets = new Set<string>();
  #log: (m: string) => void;
  #revisions = new Map<string, RevisionState>();
  /** Deployments (by revision key, the uid deleted) that the watch may still show for a moment. */
  #removed = new Map<string, string | undefined>();
  #listeners = new Set<(namespace: string, revision: string) => void>();
  #deployments: Reflector<V1Deployment>;
  #services: Reflector<V1Service>;
  #slices: Reflector<V1EndpointSlice>;
  /** When a pod of each revision (by key) last crashed or lost readiness (`podTroubleAt`). */
  #troubleAt = new Map<string, number>();
  /** EndpointSlices by `<k8s namespace>/<service name>`. */
  #slicesByService = new Map<string, Map<string, V1EndpointSlice>>();
  /** Pods Skiff manages, for cold-start timing (their conditions). */
  #pods: Reflector<V1Pod>;
  /** Pods by revision key (`<skiff namespace>/<revision>`), then name. */
  #podsByRevision = new Map<string, Map<string, V1Pod>>();
  /** When each revision's latest start from zero was asked for (Unix ms), by revision key. */
  #coldStarts = new Map<string, number>();
  #closed = false;
  #releaseConnections: () => void;

  constructor(o: KubernetesBackendOptions = {}) {
    this.kubeConfig = o.kubeConfig ?? loadKubeConfig(o.kubeconfig);
    this.#releaseConnections = poolConnections(this.kubeConfig);
    this.namespace = o.namespace;
    this.#config = { ...kubernetesDefaults, ...o.config };
    this.#scrapePods = o.scrapePods ?? false;
    this.#statsPushAt = o.statsPush;
    this.#log = o.log ?? (() => {});
    const kc = this.kubeConfig;
    this.#apps = kc.makeApiClient(AppsV1Api);
    this.#core = kc.makeApiClient(CoreV1Api);
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    const ns = o.namespace;
    const scope = (group: string, resource: string) =>
      ns === undefined ? `${group}/${resource}` : `${group}/namespaces/${ns}/${resource}`;
    const common = {
      kubeConfig: kc,
      labelSelector: managedSelector,
      ...(o.watchdogMs !== undefined ? { watchdogMs: o.watchdogMs } : {}),
      ...(o.watchTimeoutSeconds !== undefined ? { watchTimeoutSeconds: o.watchTimeoutSeconds } : {}),
      log: this.#log,
    };
    const page = (c: string | undefined) => ({
      labelSelector: managedSelector,
      limit: 500,
      ...(c ? { _continue: c } : {}),
    });
    this.#deployments = new Reflector<V1Deployment>({
      ...common,
      what: 'deployments',
      path: scope('/apis/apps/v1', 'deployments'),
      list: (c) =>
        ns === undefined
          ? this.#apps.listDeploymentForAllNamespaces(page(c))
          : this.#apps.listNamespacedDeployment({ namespace: ns, ...page(c) }),
      onEvent: (e, d, prev) => this.#deploymentEvent(e, d, prev),
    });
    this.#services = new Reflector<V1Service>({
      ...common,
      what: 'services',
      path: scope('/api/v1', 'services'),
      list: (c) =>
        ns === undefined
          ? this.#core.listServiceForAllNamespaces(page(c))
          : this.#core.listNamespacedService({ namespace: ns, ...page(c) }),
      onEvent: (e, s) => this.#serviceEvent(e, s),
    });
    // The EndpointSlice controller copies a Service's labels onto its slices, so the same selector finds them.
    this.#slices = new Reflector<V1EndpointSlice>({
      ...common,
      what: 'endpointslices',
      path: scope('/apis/discovery.k8s.io/v1', 'endpointslices'),
      list: (c) =>
        ns === undefined
          ? discovery.listEndpointSliceForAllNamespaces(page(c))
          : discovery.listNamespacedEndpointSlice({ namespace: ns, ...page(c) }),
      onEvent: (e, s) => this.#sliceEvent(e, s),
    });
    // Pods carry the Deployment template's labels, so the same selector finds them.
    this.#pods = new Reflector<V1Pod>({
      ...common,
      what: 'pods',
      path: scope('/api/v1', 'pods'),
      list: (c) =>
        ns === undefined
          ? this.#core.listPodForAllNamespaces(page(c))
          : this.#core.listNamespacedPod({ namespace: ns, ...page(c) }),
      onEvent: (e, pod, prev) => this.#podEvent(e, pod, prev),
    });
  }

  /** Connects: lists and starts watching what Skiff manages, resolving once the first lists are in. */
  static async start(o: KubernetesBackendOptions = {}): Promise<KubernetesBackend> {
    const b = new KubernetesBackend(o);
    await b.start();
    return b;
  }

  async start(timeoutMs = 30_000): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `could not list Deployments, Services, EndpointSlices and Pods from ${this.kubeConfig.getCurrentCluster()?.server ?? 'the cluster'} within ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
    });
    try {
      await Promise.race([
        Promise.all([this.#deployments.start(), this.#services.start(), this.#slices.start(), this.#pods.start()]),
        timeout,
      ]);
    } catch (e) {
      this.#stopWatches();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The watches' counters (for tests and metrics). */
  watchStats(): Record<'deployments' | 'services' | 'endpointslices' | 'pods', ReflectorStats> {
    return {
      deployments: this.#deployments.stats,
      services: this.#services.stats,
      endpointslices: this.#slices.stats,
      pods: this.#pods.stats,
    };
  }

  /** The reflectors themselves, for tests that break their connections. */
  get reflectors(): { deployments: Reflector<V1Deployment>; endpointslices: Reflector<V1EndpointSlice> } {
    return { deployments: this.#deployments, endpointslices: this.#slices };
  }

  /** Where a revision's objects live. */
  placement(namespace: string, revision: string): Placement {
    return placement(namespace, revision, this.namespace);
  }

  async ensure(w: RevisionWorkload, replicas: number): Promise<void> {
    const key = `${w.namespace}/${w.revision}`;
    let rev = this.#revisions.get(key);
    this.#noteColdStart(key, w.uid, rev === undefined ? 0 : rev.replicas, replicas);
    if (!rev) {
      rev = { key, workload: w, place: this.placement(w.namespace, w.revision), replicas, chain: Promise.resolve() };
      this.#revisions.set(key, rev);
    }
    const changed = rev.replicas !== replicas;
    rev.workload = w;
    rev.replicas = replicas;
    if (changed) this.#emit(key);
    await this.#converge(rev);
  }

  /** Runs `#apply` for a revision after any apply already running for it. */
  #converge(rev: RevisionState): Promise<void> {
    const run = rev.chain.then(() => this.#apply(rev));
    rev.chain = run.catch(() => {});
    return run;
  }

  /** Converges in the background (after a watch event): a failure is logged, and the next event or resync retries. */
  #reconverge(rev: RevisionState): void {
    this.#converge(rev).catch((e: unknown) => this.#log(`${rev.key}: ${errorMessage(e)}`));
  }

  /** Brings the revision's Deployment and Service to what they should be, writing only what changed. */
  async #apply(rev: RevisionState): Promise<void> {
    if (this.#closed || this.#revisions.get(rev.key) !== rev) return;
    const { workload: w, place } = rev;
    const push = this.#statsPush;
    const deployment = makeDeployment(w, rev.replicas, place, this.#config, push?.pod);
    const hash = specHash({ ...deployment, spec: { ...deployment.spec, replicas: undefined } });
    const live = this.#deployments.get(place.namespace, place.deployment);
    const r = rev.rejected;
    if (r && r.hash === hash && r.replicas === rev.replicas && Date.now() < r.until) return;

    try {
      if (push && !this.#pushSecrets.has(place.namespace)) {
        const secret = push.secret(place.namespace);
        await this.#retry(`apply Secret ${place.namespace}/${statsPushSecretName}`, () =>
          this.#core.patchNamespacedSecret(
            {
              name: statsPushSecretName,
              namespace: place.namespace,
              body: secret,
              fieldManager,
              force: true,
              fieldValidation: 'Strict',
            },
            setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
          ),
        );
        this.#pushSecrets.add(place.namespace);
      }
      if (live && live.metadata?.labels?.[L.revisionUID] !== w.uid) await this.#takeOver(rev, live);
      const a = rev.applied;
      const current = this.#deployments.get(place.namespace, place.deployment);
      const drifted =
        a !== undefined &&
        current?.metadata?.uid === a.uid &&
        (current.metadata?.generation ?? 0) > a.generation &&
        !current.metadata?.deletionTimestamp;
      const unchanged = a?.hash === hash && a.replicas === rev.replicas;
      if (unchanged && drifted) {
        await this.#putBack(rev, deployment, hash);
      } else if (!unchanged) {
        const applied = await this.#retry(`apply Deployment ${place.namespace}/${place.deployment}`, () =>
          this.#apps.patchNamespacedDeployment(
            {
              name: place.deployment,
              namespace: place.namespace,
              body: deployment,
              fieldManager,
              force: true,
              fieldValidation: 'Strict',
            },
            setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
          ),
        );
        rev.applied = {
          hash,
          replicas: rev.replicas,
          uid: applied.metadata?.uid ?? '',
          generation: applied.metadata?.generation ?? 0,
        };
      }

      const ownerUid = rev.applied?.uid ?? '';
      const service = makeService(w, place, { uid: ownerUid });
      const serviceHash = specHash(service);
      const liveService = this.#services.get(place.namespace, place.service);
      const serviceGone =
        rev.service !== undefined && liveService !== undefined && liveService.metadata?.uid !== rev.service.uid;
      if (rev.service?.hash !== serviceHash || serviceGone) {
        const applied = await this.#retry(`apply Service ${place.namespace}/${place.service}`, () =>
          this.#core.patchNamespacedService(
            {
              name: place.service,
              namespace: place.namespace,
              body: service,
              fieldManager,
              force: true,
              fieldValidation: 'Strict',
            },
            setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
          ),
        );
        rev.service = { hash: serviceHash, uid: applied.metadata?.uid ?? '' };
      }
      rev.rejected = undefined;
      if (rev.failure) {
        rev.failure = undefined;
        this.#emit(rev.key);
      }
    } catch (e) {
      const failure = rejection(e);
      if (!failure) throw e;
      const failures = r && r.hash === hash ? r.failures + 1 : 1;
      const until = Date.now() + backoffDelay(failures - 1, rejectedApplyBackoff);
      rev.rejected = { hash, replicas: rev.replicas, until, failures };
      if (rev.failure?.reason !== failure.reason || rev.failure.message !== failure.message) {
        this.#log(`${rev.key}: ${failure.reason}: ${failure.message}`);
        rev.failure = failure;
        this.#emit(rev.key);
      }
    }
  }

  /**
   * A Deployment of the same name but another revision UID: an earlier revision of that name (a
   * service deleted and created again) whose removal has not happened yet, which is deleted first
   * (its selector cannot change); or another Skiff namespace's revision, which is left alone.
   */
  async #takeOver(rev: RevisionState, live: V1Deployment): Promise<void> {
    const l = live.metadata?.labels ?? {};
    const deleting = Boolean(live.metadata?.deletionTimestamp);
    if (!deleting && (l[L.namespace] !== rev.workload.namespace || l[L.revision] !== rev.workload.revision)) {
      throw new Rejected({
        reason: 'NameConflict',
        message: `Deployment ${rev.place.namespace}/${rev.place.deployment} already runs revision ${l[L.revision] ?? '?'} of Skiff namespace ${l[L.namespace] ?? '?'}`,
      });
    }
    if (!deleting) await this.#delete(rev.place, 'Foreground');
    const deadline = Date.now() + 60_000;
    while (this.#deployments.get(rev.place.namespace, rev.place.deployment)?.metadata?.uid === live.metadata?.uid) {
      if (Date.now() > deadline)
        throw new Error(`the previous Deployment ${rev.place.deployment} is still being deleted`);
      await sleep(100);
    }
    rev.applied = undefined;
    rev.service = undefined;
  }

  /**
   * Someone changed the Deployment (its generation moved past ours): replace its spec with ours.
   * A replace (not an apply) also drops fields another manager added.
   */
  async #putBack(rev: RevisionState, desired: V1Deployment, hash: string): Promise<void> {
    const { place } = rev;
    const replaced = await this.#retry(`put back Deployment ${place.namespace}/${place.deployment}`, async () => {
      const live = await this.#apps.readNamespacedDeployment({ name: place.deployment, namespace: place.namespace });
      const metadata = live.metadata ?? {};
      const body: V1Deployment = {
        ...live,
        metadata: {
          ...metadata,
          labels: { ...metadata.labels, ...desired.metadata?.labels },
          annotations: { ...metadata.annotations, ...desired.metadata?.annotations },
        },
        spec: desired.spec as V1Deployment['spec'],
      };
      delete body.status;
      return this.#apps.replaceNamespacedDeployment({
        name: place.deployment,
        namespace: place.namespace,
        body,
        fieldManager,
      });
    });
    this.#log(`${rev.key}: Deployment ${place.deployment} was changed by hand; put it back`);
    rev.applied = {
      hash,
      replicas: rev.replicas,
      uid: replaced.metadata?.uid ?? '',
      generation: replaced.metadata?.generation ?? 0,
    };
  }

  /** Retries conflicts, throttling, server errors and broken connections with backoff. */
  async #retry<T>(what: string, call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (e) {
        const code = e instanceof ApiException ? (e.code as number) : undefined;
        const again = code === undefined ? !(e instanceof Rejected) : retryable.has(code);
        if (!again || attempt >= applyAttempts || this.#closed) {
          if (e instanceof ApiException) throw new KubernetesError(what, e);
          throw e;
        }
        await sleep(backoffDelay(attempt - 1, applyRetryBackoff));
      }
    }
  }

  observe(namespace: string, revision: string): RevisionObservation {
    const key = `${namespace}/${revision}`;
    const rev = this.#revisions.get(key);
    const place = rev?.place ?? this.placement(namespace, revision);
    const deployment = this.#ownDeployment(place, namespace, revision);
    if (!rev && !deployment) return nothingRunning;
    const uid = rev?.workload.uid ?? deployment?.metadata?.labels?.[L.revisionUID];
    const endpoints = this.#endpoints(place, uid);
    const failure = rev?.failure ?? deploymentFailure(deployment);
    const coldStart = this.#coldStart(key, uid);
    const troubleAt = this.#troubleAt.get(key);
    return {
      desired: rev?.replicas ?? deployment?.spec?.replicas ?? 0,
      actual: Math.max(deployment?.status?.replicas ?? 0, endpoints.all),
      ready: endpoints.ready,
      ...(failure ? { failure } : {}),
      ...(coldStart ? { coldStart } : {}),
      ...(troubleAt !== undefined ? { troubleAt } : {}),
    };
  }

  /**
   * The control plane listens: with `statsPush` set, pods' queue-proxies push their stats to it
   * (the URL in their spec, the token and CA from a Secret in their namespace).
   */
  pushStatsTo(target: StatsPushTarget): void {
    const at = this.#statsPushAt;
    if (!at) return;
    const caFile = at.caFile ?? target.caFile;
    const ca = caFile !== undefined ? readFileSync(caFile, 'utf8') : undefined;
    this.#statsPush = {
      pod: { url: at.url, secret: statsPushSecretName, ca: ca !== undefined },
      secret: (namespace) => makeStatsPushSecret(namespace, target.token, ca),
    };
    this.#pushSecrets.clear();
  }

  /** Where the autoscaler reads each ready pod's stats: its queue-proxy's metrics port (unless pods push). */
  scrapeTargets(namespace: string, revision: string): { pod: string; url: string }[] {
    if (this.#statsPush || !this.#scrapePods) return [];
    const rev = this.#revisions.get(`${namespace}/${revision}`);
    const place = rev?.place ?? this.placement(namespace, revision);
    const uid = rev?.workload.uid ?? this.#ownDeployment(place, namespace, revision)?.metadata?.labels?.[L.revisionUID];
    return uid === undefined ? [] : this.#endpoints(place, uid).stats;
  }

  /** Images are what Kubernetes runs: every container needs one. */
  validate(spec: RevisionSpec, path: string): FieldError[] {
    const errs: FieldError[] = [];
    spec.containers.forEach((c, i) => {
      if (!c.image) {
        errs.push(
          required(
            `${path}.containers[${i}].image`,
            `the kubernetes backend runs container images${c.command?.length ? ' (command only overrides the image entrypoint)' : ''}; set image`,
          ),
        );
      }
    });
    return errs;
  }

  async remove(namespace: string, revision: string): Promise<void> {
    const key = `${namespace}/${revision}`;
    const rev = this.#revisions.get(key);
    const place = rev?.place ?? this.placement(namespace, revision);
    const live = this.#ownDeployment(place, namespace, revision);
    const liveService = this.#services.get(place.namespace, place.service);
    const ownsService =
      liveService?.metadata?.labels?.[L.namespace] === namespace &&
      liveService.metadata.labels[L.revision] === revision &&
      !liveService.metadata.deletionTimestamp;
    if (!rev && !live && !ownsService) return;
    this.#revisions.delete(key);
    this.#coldStarts.delete(key);
    this.#troubleAt.delete(key);
    if (rev || live) {
      if (rev) await rev.chain;
      const uid = this.#ownDeployment(place, namespace, revision)?.metadata?.uid ?? rev?.applied?.uid;
      // Until the watch reports the deletion, the Deployment no longer counts as running.
      if (uid) this.#removed.set(key, uid);
      this.#emit(key);
      try {
        // The Service, ReplicaSets and Pods follow through their ownerReferences.
        if (await this.#delete(place, 'Background')) return;
      } catch (e) {
        // Still there: a retry (the reconciler's) must see it.
        if (uid && this.#removed.get(key) === uid) this.#removed.delete(key);
        throw e;
      }
    }
    if (ownsService) await this.#deleteService(place);
  }

  /** Deletes a revision's Deployment; false when it was already gone. */
  async #delete(place: Placement, propagationPolicy: 'Background' | 'Foreground'): Promise<boolean> {
    try {
      await this.#retry(`delete Deployment ${place.namespace}/${place.deployment}`, () =>
        this.#apps.deleteNamespacedDeployment({
          name: place.deployment,
          namespace: place.namespace,
          propagationPolicy,
        }),
      );
      return true;
    } catch (e) {
      if (e instanceof KubernetesError && e.code === 404) return false;
      throw e;
    }
  }

  async #deleteService(place: Placement): Promise<void> {
    try {
      await this.#retry(`delete Service ${place.namespace}/${place.service}`, () =>
        this.#core.deleteNamespacedService({ name: place.service, namespace: place.namespace }),
      );
    } catch (e) {
      if (!(e instanceof KubernetesError && e.code === 404)) throw e;
    }
  }

  list(): { namespace: string; revision: string }[] {
    const keys = new Set(this.#revisions.keys());
    for (const d of this.#deployments.values()) {
      const l = d.metadata?.labels ?? {};
      const ns = l[L.namespace];
      const rev = l[L.revision];
      if (ns && rev && this.#ownDeployment(this.placement(ns, rev), ns, rev) === d) keys.add(`${ns}/${rev}`);
    }
    return [...keys].map((k) => {
      const i = k.indexOf('/');
      return { namespace: k.slice(0, i), revision: k.slice(i + 1) };
    });
  }

  watch(listener: (namespace: string, revision: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Stops watching. What runs in the cluster keeps running: the store and the cluster still agree. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stopWatches();
    await Promise.all([...this.#revisions.values()].map((r) => r.chain));
    this.#revisions.clear();
    this.#releaseConnections();
  }

  #stopWatches(): void {
    this.#deployments.stop();
    this.#services.stop();
    this.#slices.stop();
    this.#pods.stop();
  }

  /** The Deployment at `place` if it is this revision's (by its labels) and not being deleted. */
  #ownDeployment(place: Placement, namespace: string, revision: string): V1Deployment | undefined {
    const d = this.#deployments.get(place.namespace, place.deployment);
    const l = d?.metadata?.labels;
    if (!d || d.metadata?.deletionTimestamp || l?.[L.namespace] !== namespace || l?.[L.revision] !== revision) {
      return undefined;
    }
    const removed = this.#removed.get(`${namespace}/${revision}`);
    if (removed !== undefined && removed === d.metadata?.uid) return undefined;
    return d;
  }

  /** Ready endpoints (the queue-proxy port of each ready pod), their stats URLs, and how many pods the slices list. */
  #endpoints(
    place: Placement,
    uid: string | undefined,
  ): { ready: SnapshotEndpoint[]; stats: { pod: string; url: string }[]; all: number } {
    const slices = this.#slicesByService.get(`${place.namespace}/${place.service}`);
    const ready = new Map<string, SnapshotEndpoint>();
    const stats = new Map<string, { pod: string; url: string }>();
    const all = new Set<string>();
    for (const slice of slices?.values() ?? []) {
      if (uid !== undefined && slice.metadata?.labels?.[L.revisionUID] !== uid) continue;
      const http = slice.ports?.find((p) => p.name === 'http')?.port;
      const metrics = slice.ports?.find((p) => p.name === 'http-autometric')?.port;
      for (const e of slice.endpoints ?? []) {
        const address = e.addresses[0];
        if (!address) continue;
        const pod = e.targetRef?.name ?? address;
        all.add(pod);
        // Ready unset means ready (EndpointConditions); a terminating pod is never ready.
        if (e.conditions?.ready === false || http === undefined) continue;
        const host = address.includes(':') ? `[${address}]` : address;
        ready.set(pod, { pod, url: `http://${host}:${http}` });
        if (metrics !== undefined) stats.set(pod, { pod, url: `http://${host}:${metrics}${statsPath}` });
      }
    }
    const byPod = (a: { pod: string }, b: { pod: string }) => (a.pod < b.pod ? -1 : a.pod > b.pod ? 1 : 0);
    return { ready: [...ready.values()].sort(byPod), stats: [...stats.values()].sort(byPod), all: all.size };
  }

  #deploymentEvent(event: ReflectorEvent, d: V1Deployment, previous: V1Deployment | undefined): void {
    const key = revisionKey(d);
    if (!key) return;
    const rev = this.#revisions.get(key);
    const uid = d.metadata?.uid;
    if (event === 'deleted') {
      if (this.#removed.get(key) === uid) this.#removed.delete(key);
      if (rev && rev.applied?.uid === uid) {
        // Deleted behind our back: the revision should still run, so it is created again.
        rev.applied = undefined;
        rev.service = undefined;
        this.#reconverge(rev);
      }
    } else if (
      rev?.applied &&
      rev.applied.uid === uid &&
      (d.metadata?.generation ?? 0) > rev.applied.generation &&
      (d.metadata?.generation ?? 0) !== (previous?.metadata?.generation ?? 0)
    ) {
      this.#reconverge(rev);
    }
    this.#emit(key);
  }

  #serviceEvent(event: ReflectorEvent, s: V1Service): void {
    if (event !== 'deleted') return;
    const key = revisionKey(s);
    const rev = key ? this.#revisions.get(key) : undefined;
    if (rev?.service && rev.service.uid === s.metadata?.uid) {
      rev.service = undefined;
      this.#reconverge(rev);
    }
  }

  #sliceEvent(event: ReflectorEvent, s: V1EndpointSlice): void {
    const service = s.metadata?.labels?.[L.serviceName];
    if (!service) return;
    const byService = `${s.metadata?.namespace}/${service}`;
    let slices = this.#slicesByService.get(byService);
    if (event === 'deleted') {
      slices?.delete(s.metadata?.name ?? '');
      if (slices?.size === 0) this.#slicesByService.delete(byService);
    } else {
      if (!slices) {
        slices = new Map();
        this.#slicesByService.set(byService, slices);
      }
      slices.set(s.metadata?.name ?? '', s);
    }
    const key = revisionKey(s);
    if (key) this.#emit(key);
  }

  /**
   * A start from zero begins when replicas are asked for while none is asked for and no pod of the
   * revision is running (Knative's activator case): its time is kept for `observe`'s `coldStart`.
   */
  #noteColdStart(key: string, uid: string, before: number, after: number): void {
    if (after === 0 || before > 0) return;
    for (const p of this.#podsByRevision.get(key)?.values() ?? []) {
      if (p.metadata?.labels?.[L.revisionUID] === uid && !p.metadata.deletionTimestamp) return;
    }
    this.#coldStarts.set(key, Date.now());
  }

  /** The revision's latest start from zero, timed from its pods' conditions (`podColdStart`). */
  #coldStart(key: string, uid: string | undefined): RevisionObservation['coldStart'] {
    const decidedAt = this.#coldStarts.get(key);
    if (decidedAt === undefined) return undefined;
    const pods = [...(this.#podsByRevision.get(key)?.values() ?? [])].filter(
      (p) => uid === undefined || p.metadata?.labels?.[L.revisionUID] === uid,
    );
    return podColdStart(decidedAt, pods);
  }

  #podEvent(event: ReflectorEvent, p: V1Pod, previous: V1Pod | undefined): void {
    const key = revisionKey(p);
    if (!key) return;
    // A replica that crashed and came back, or lost readiness (gated rollouts roll such a revision back).
    const trouble = event === 'deleted' ? undefined : podTroubleAt(p, previous, Date.now());
    const troubled = trouble !== undefined && trouble > (this.#troubleAt.get(key) ?? Number.NEGATIVE_INFINITY);
    if (troubled) this.#troubleAt.set(key, trouble);
    const name = p.metadata?.name ?? '';
    let pods = this.#podsByRevision.get(key);
    if (event === 'deleted') {
      pods?.delete(name);
      if (pods?.size === 0) this.#podsByRevision.delete(key);
    } else {
      if (!pods) {
        pods = new Map();
        this.#podsByRevision.set(key, pods);
      }
      pods.set(name, p);
    }
    // Only trouble and a start from zero under way read pods' status; other pod changes show in the slices.
    if (troubled || this.#coldStarts.has(key)) this.#emit(key);
  }

  #emit(key: string): void {
    const i = key.indexOf('/');
    const namespace = key.slice(0, i);
    const revision = key.slice(i + 1);
    for (const l of this.#listeners) l(namespace, revision);
  }
}

/** `<skiff namespace>/<revision>` of an object Skiff wrote, from its labels. */
function revisionKey(o: { metadata?: { labels?: Record<string, string> } }): string | undefined {
  const l = o.metadata?.labels;
  const ns = l?.[L.namespace];
  const rev = l?.[L.revision];
  return ns && rev ? `${ns}/${rev}` : undefined;
}

/** A revision's failure as its Deployment reports it (`PropagateDeploymentStatus`). */
export function deploymentFailure(d: V1Deployment | undefined): RevisionFailure | undefined {
  const conditions = d?.status?.conditions ?? [];
  const progressing = conditions.find((c) => c.type === 'Progressing');
  if (progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded') {
    return { reason: 'ProgressDeadlineExceeded', message: progressing.message ?? 'the Deployment made no progress' };
  }
  const replicaFailure = conditions.find((c) => c.type === 'ReplicaFailure');
  if (replicaFailure?.status === 'True') {
    return { reason: replicaFailure.reason ?? 'ReplicaFailure', message: replicaFailure.message ?? '' };
  }
  return undefined;
}

/** An API error with what was attempted and the server's `Status` (client-node 1.4 leaves the body as text). */
export class KubernetesError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly serverMessage: string;
  constructor(what: string, e: ApiException<unknown>) {
    const status = parseStatus(e.body);
    const serverMessage = status?.message ?? String(e.body ?? '');
    super(`${what}: ${e.code} ${serverMessage}`);
    this.name = 'KubernetesError';
    this.code = e.code;
    this.reason = status?.reason ?? `HTTP${e.code}`;
    this.serverMessage = serverMessage;
  }
}

/** A reason the revision cannot be written that no retry will fix. */
class Rejected extends Error {
  readonly failure: RevisionFailure;
  constructor(failure: RevisionFailure) {
    super(failure.message);
    this.failure = failure;
  }
}

/** The server refused the object (invalid, forbidden, namespace missing): a failure of the revision, not a retry. */
function rejection(e: unknown): RevisionFailure | undefined {
  if (e instanceof Rejected) return e.failure;
  if (e instanceof KubernetesError && [400, 403, 404, 422].includes(e.code)) {
    return { reason: e.reason, message: e.serverMessage };
  }
  return undefined;
}

function parseStatus(body: unknown): { message?: string; reason?: string } | undefined {
  if (body && typeof body === 'object') return body as { message?: string; reason?: string };
  if (typeof body !== 'string') return undefined;
  try {
    return JSON.parse(body) as { message?: string; reason?: string };
  } catch {
    return undefined;
  }
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
