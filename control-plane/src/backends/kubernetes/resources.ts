import { createHash } from 'node:crypto';
import type {
  V1Container,
  V1Deployment,
  V1EnvVar,
  V1Probe,
  V1Secret,
  V1Service,
  V1Volume,
} from '@kubernetes/client-node';
import {
  type Container,
  childName,
  defaultReadinessProbe,
  deploymentName,
  type Probe,
  revisionDefaults,
  progressDeadlineSeconds as revisionProgressDeadline,
  servingContainer,
  servingPort,
} from '@skiff/shared';
import type { RevisionWorkload } from '../backend.ts';
import { type KubernetesConfig, kubernetesDefaults, labels as L, managedBySkiff, queuePorts } from './config.ts';

// Pure generators: a revision in, the Kubernetes objects that run it out (Knative's
// `pkg/reconciler/revision/resources`). No I/O; the backend applies what these return.

/** Where a revision's objects live in the cluster. */
export interface Placement {
  namespace: string;
  deployment: string;
  service: string;
}

/**
 * Maps a Skiff namespace and revision onto Kubernetes. Without a target namespace each Skiff
 * namespace is the Kubernetes namespace of the same name and names are Knative's (`<rev>`,
 * `<rev>-deployment`). With one, every revision lands there: Skiff's `default` namespace keeps
 * Knative's names, others are prefixed with their namespace (`<ns>-<rev>`, shortened past 63).
 */
export function placement(skiffNamespace: string, revision: string, target?: string): Placement {
  const base =
    target === undefined || skiffNamespace === 'default' ? revision : childName(`${skiffNamespace}-${revision}`, '');
  return { namespace: target ?? skiffNamespace, deployment: deploymentName(base), service: base };
}

/** Labels of every object of a revision (`resources/meta.go`): the revision's labels plus who it is. */
export function revisionLabels(w: RevisionWorkload): Record<string, string> {
  return {
    ...w.labels,
    // A revision of a Configuration created directly has no Service (Knative: no such label).
    ...(w.service ? { [L.service]: w.service } : {}),
    [L.configuration]: w.configuration,
    [L.revision]: w.revision,
    [L.revisionUID]: w.uid,
    [L.namespace]: w.namespace,
    [L.managedBy]: managedBySkiff,
  };
}

const droppedAnnotations = new Set([
  'serving.knative.dev/lastPinned',
  'serving.knative.dev/no-gc',
  'serving.knative.dev/routingStateModified',
  'serving.knative.dev/routes',
]);

/** The revision's annotations minus routing bookkeeping and autoscaling settings (`makeAnnotations`). */
export function revisionAnnotations(w: RevisionWorkload): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(w.annotations)) {
    if (droppedAnnotations.has(k) || k.startsWith('autoscaling.knative.dev')) continue;
    out[k] = v;
  }
  return out;
}

/** The pod selector of a revision: its UID, which no other revision shares. */
export function revisionSelector(w: RevisionWorkload): Record<string, string> {
  return { [L.revisionUID]: w.uid };
}

/** `serving.knative.dev/progress-deadline` if set, else the platform's deadline, in whole seconds. */
export function progressDeadlineSeconds(w: RevisionWorkload, config: KubernetesConfig): number {
  return revisionProgressDeadline(w.annotations, config.progressDeadlineSeconds);
}

/** Fields of a revision spec that are Knative's, not the pod's. */
const revisionOnlyFields = new Set([
  'containerConcurrency',
  'timeoutSeconds',
  'responseStartTimeoutSeconds',
  'idleTimeoutSeconds',
  'containers',
]);

/**
 * The Deployment `<rev>-deployment` that runs a revision at `replicas` (`resources/deploy.go`): the
 * user's containers with `PORT`/`K_*` and a preStop drain hook, the queue-proxy sidecar last
 * (readiness through it), selected by the revision UID.
 */
export function makeDeployment(
  w: RevisionWorkload,
  replicas: number,
  place: Placement,
  config: KubernetesConfig = kubernetesDefaults,
  push?: PodStatsPush,
): V1Deployment {
  const objectLabels = revisionLabels(w);
  const podLabels = { ...objectLabels, app: w.labels.app ?? w.revision };
  const annotations = revisionAnnotations(w);
  const serving = servingContainer(w.spec);
  const podSpec: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(w.spec)) if (!revisionOnlyFields.has(k)) podSpec[k] = v;
  const userContainers = w.spec.containers.map((c, i) => makeUserContainer(w, c, i, c === serving));
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: place.deployment, namespace: place.namespace, labels: objectLabels, annotations },
    spec: {
      replicas,
      selector: { matchLabels: revisionSelector(w) },
      progressDeadlineSeconds: progressDeadlineSeconds(w, config),
      revisionHistoryLimit: 0,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0 } },
      template: {
        metadata: {
          labels: podLabels,
          annotations: {
            ...annotations,
            'kubectl.kubernetes.io/default-container': userContainers[serving ? w.spec.containers.indexOf(serving) : 0]
              ?.name as string,
          },
        },
        spec: {
          ...podSpec,
          enableServiceLinks: w.spec.enableServiceLinks ?? false,
          terminationGracePeriodSeconds: w.spec.timeoutSeconds ?? revisionDefaults.timeoutSeconds,
          containers: [...userContainers, makeQueueContainer(w, config, push)],
          ...(push?.ca
            ? {
                volumes: [
                  ...((podSpec.volumes as V1Volume[] | undefined) ?? []),
                  {
                    name: statsPushVolume,
                    secret: { secretName: push.secret, items: [{ key: 'ca.crt', path: 'ca.crt' }] },
                  },
                ],
              }
            : {}),
        },
      },
    },
  };
}

/** A user container as Kubernetes runs it (`makeContainer`, `makeServingContainer`). */
export function makeUserContainer(w: RevisionWorkload, c: Container, i: number, serving: boolean): V1Container {
  const { readinessProbe, livenessProbe, ports: _ports, env, resources, ...rest } = c;
  const name =
    c.name ??
    (w.spec.containers.length === 1 ? revisionDefaults.containerName : `${revisionDefaults.containerName}-${i}`);
  const port = servingPort(w.spec).containerPort;
  const out: V1Container = {
    ...(rest as Omit<V1Container, 'name'>),
    name,
    env: [
      ...((env ?? []) as V1EnvVar[]),
      ...(serving ? [{ name: 'PORT', value: String(port) }] : []),
      { name: 'K_REVISION', value: w.revision },
      { name: 'K_CONFIGURATION', value: w.configuration },
      { name: 'K_SERVICE', value: w.service },
    ],
    lifecycle: { preStop: { httpGet: { port: queuePorts.admin, path: '/wait-for-drain' } } },
    terminationMessagePolicy: (rest.terminationMessagePolicy as string | undefined) ?? 'FallbackToLogsOnError',
  };
  if (serving) out.ports = [{ name: 'user-port', containerPort: port, protocol: 'TCP' }];
  if (resources) out.resources = quantities(resources);
  // The queue-proxy probes the app; only exec probes stay with the container.
  if (readinessProbe?.exec) out.readinessProbe = readinessProbe as V1Probe;
  if (livenessProbe) out.livenessProbe = serving ? onPort(livenessProbe, port) : (livenessProbe as V1Probe);
  return out;
}

/** A probe aimed at `port` (Knative rewrites the serving container's liveness probe to the user port). */
function onPort(probe: Probe, port: number): V1Probe {
  const out = { ...probe } as V1Probe;
  if (probe.httpGet) out.httpGet = { ...probe.httpGet, port } as V1Probe['httpGet'];
  if (probe.tcpSocket) out.tcpSocket = { ...probe.tcpSocket, port } as V1Probe['tcpSocket'];
  if (probe.grpc) out.grpc = { ...probe.grpc, port };
  return out;
}

/** Quantities as strings (the API server's own form; numbers are accepted by our schema). */
function quantities(r: NonNullable<Container['resources']>): V1Container['resources'] {
  const out: Record<string, unknown> = { ...r };
  for (const kind of ['limits', 'requests'] as const) {
    const q = r[kind];
    if (q) out[kind] = Object.fromEntries(Object.entries(q).map(([k, v]) => [k, String(v)]));
  }
  return out as V1Container['resources'];
}

/** The user's readiness probe as the queue-proxy runs it (`SERVING_READINESS_PROBE`), aimed at the app. */
export function servingReadinessProbe(w: RevisionWorkload): Probe {
  const probe = defaultReadinessProbe(servingContainer(w.spec)?.readinessProbe);
  const port = servingPort(w.spec).containerPort;
  const out: Probe = { ...probe };
  if (out.tcpSocket) out.tcpSocket = { port, host: '127.0.0.1' };
  if (out.httpGet) out.httpGet = { ...out.httpGet, port, host: out.httpGet.host ?? '127.0.0.1' };
  return out;
}

/**
 * Where pods' queue-proxies push their stats (instead of being scraped): the control plane's URL as
 * pods reach it, and the Secret in the pod's namespace (`makeStatsPushSecret`) holding the router
 * token and, when `ca`, the CA to trust for that URL.
 */
export interface PodStatsPush {
  url: string;
  secret: string;
  ca: boolean;
}

export const statsPushSecretName = 'skiff-stats-push';
const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const statsPushVolume = 'skiff-stats-push';
const statsPushMount = '/var/run/skiff/stats-push';

/** The Secret a namespace's queue-proxies read their push token (and CA) from. */
export function makeStatsPushSecret(namespace: string, token: string, ca?: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: statsPushSecretName, namespace, labels: { [L.managedBy]: managedBySkiff } },
    type: 'Opaque',
    // `data`, not `stringData`: server-side apply then owns exactly the fields it reads back.
    data: { token: base64(token), ...(ca !== undefined ? { 'ca.crt': base64(ca) } : {}) },
  };
}

/** The queue-proxy's settings for pushing its stats (`SKIFF_STATS_PUSH_*`); the token never in the spec. */
function statsPushEnv(push: PodStatsPush): V1EnvVar[] {
  return [
    { name: 'SKIFF_STATS_PUSH_URL', value: push.url },
    { name: 'SKIFF_STATS_PUSH_TOKEN', valueFrom: { secretKeyRef: { name: push.secret, key: 'token' } } },
    ...(push.ca ? [{ name: 'SKIFF_STATS_PUSH_CA', value: `${statsPushMount}/ca.crt` }] : []),
  ];
}

/** The queue-proxy sidecar (`resources/queue.go`), configured by Knative's environment variable names. */
export function makeQueueContainer(
  w: RevisionWorkload,
  config: KubernetesConfig = kubernetesDefaults,
  push?: PodStatsPush,
): V1Container {
  const user = defaultReadinessProbe(servingContainer(w.spec)?.readinessProbe);
  const timing: V1Probe = {};
  for (const f of [
    'initialDelaySeconds',
    'timeoutSeconds',
    'periodSeconds',
    'successThreshold',
    'failureThreshold',
  ] as const) {
    const v = user[f];
    if (v) timing[f] = v;
  }
  const s = w.spec;
  const env: V1EnvVar[] = [
    { name: 'SERVING_NAMESPACE', value: w.namespace },
    { name: 'SERVING_SERVICE', value: w.service },
    { name: 'SERVING_CONFIGURATION', value: w.configuration },
    { name: 'SERVING_REVISION', value: w.revision },
    { name: 'QUEUE_SERVING_PORT', value: String(queuePorts.serving) },
    { name: 'QUEUE_ADMIN_PORT', value: String(queuePorts.admin) },
    { name: 'QUEUE_METRICS_PORT', value: String(queuePorts.metrics) },
    { name: 'CONTAINER_CONCURRENCY', value: String(s.containerConcurrency ?? revisionDefaults.containerConcurrency) },
    { name: 'REVISION_TIMEOUT_SECONDS', value: String(s.timeoutSeconds ?? revisionDefaults.timeoutSeconds) },
    { name: 'REVISION_RESPONSE_START_TIMEOUT_SECONDS', value: String(s.responseStartTimeoutSeconds ?? 0) },
    { name: 'REVISION_IDLE_TIMEOUT_SECONDS', value: String(s.idleTimeoutSeconds ?? 0) },
    { name: 'SERVING_POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'SERVING_POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    { name: 'USER_PORT', value: String(servingPort(s).containerPort) },
    { name: 'SERVING_READINESS_PROBE', value: JSON.stringify(servingReadinessProbe(w)) },
    ...(push ? statsPushEnv(push) : []),
  ];
  return {
    name: 'queue-proxy',
    image: config.queueProxyImage,
    ...(push?.ca ? { volumeMounts: [{ name: statsPushVolume, mountPath: statsPushMount, readOnly: true }] } : {}),
    ports: [
      { name: 'http-autometric', containerPort: queuePorts.metrics, protocol: 'TCP' },
      { name: 'queue-port', containerPort: queuePorts.serving, protocol: 'TCP' },
    ],
    env,
    readinessProbe: {
      ...timing,
      httpGet: {
        port: queuePorts.serving,
        httpHeaders: [{ name: 'K-Network-Probe', value: 'queue' }],
      },
    },
    resources: { requests: { ...config.queueProxyRequests } },
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
  };
}

/**
 * The Service `<rev>` in front of a revision's pods: port 80 to the queue-proxy (and its metrics
 * port, so the EndpointSlices name both), owned by the Deployment so that deleting it cascades.
 */
export function makeService(w: RevisionWorkload, place: Placement, owner?: { uid: string }): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: place.service,
      namespace: place.namespace,
      labels: revisionLabels(w),
      annotations: revisionAnnotations(w),
      ...(owner
        ? {
            ownerReferences: [
              {
                apiVersion: 'apps/v1',
                kind: 'Deployment',
                name: place.deployment,
                uid: owner.uid,
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          }
        : {}),
    },
    spec: {
      selector: revisionSelector(w),
      ports: [
        { name: 'http', port: 80, targetPort: queuePorts.serving, protocol: 'TCP' },
        {
          name: 'http-autometric',
          port: queuePorts.metrics,
          targetPort: queuePorts.metrics,
          protocol: 'TCP',
        },
      ],
    },
  };
}

/** A stable digest of an object (keys sorted), to apply only what changed. */
export function specHash(value: unknown): string {
  return createHash('sha256').update(stableJson(value)).digest('hex').slice(0, 16);
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
