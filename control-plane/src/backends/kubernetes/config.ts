import { progressDeadlineDefaultSeconds } from '@skiff/shared';
import pkg from '../../../package.json' with { type: 'json' };

/**
 * The Kubernetes backend's settings and their defaults (Knative's `config-deployment` ConfigMap,
 * `pkg/deployment/config.go`): the one place these values live.
 */
export interface KubernetesConfig {
  /** The queue-proxy sidecar's image (`queue-sidecar-image`). */
  queueProxyImage: string;
  /** `progress-deadline`: a Deployment that makes no progress for this long fails the revision. */
  progressDeadlineSeconds: number;
  /** The sidecar's requests (`queue-sidecar-cpu-request`, `queue-sidecar-memory-request`); no limits by default. */
  queueProxyRequests: { cpu: string; memory: string };
}

export const kubernetesDefaults: KubernetesConfig = {
  queueProxyImage: `ghcr.io/skiff/queue-proxy:${pkg.version}`,
  progressDeadlineSeconds: progressDeadlineDefaultSeconds,
  queueProxyRequests: { cpu: '25m', memory: '50Mi' },
};

/** The queue-proxy's ports in a pod (Knative's `pkg/networking` constants). */
export const queuePorts = {
  /** Requests from the router, and the kubelet's readiness probe (`queue-port`). */
  serving: 8012,
  /** `/wait-for-drain`, called by the app's preStop hook; not declared on the pod, as in Knative. */
  admin: 8022,
  /** `/stats` for the autoscaler and `/metrics` (`http-autometric`). */
  metrics: 9090,
} as const;

/** The field manager of every object Skiff writes (server-side apply). */
export const fieldManager = 'skiff';

/** Labels and annotations Skiff reads back from the objects it writes. */
export const labels = {
  managedBy: 'app.kubernetes.io/managed-by',
  service: 'serving.knative.dev/service',
  configuration: 'serving.knative.dev/configuration',
  revision: 'serving.knative.dev/revision',
  revisionUID: 'serving.knative.dev/revisionUID',
  /** The Skiff namespace of the revision (it may differ from the Kubernetes namespace). */
  namespace: 'skiff.dev/namespace',
  /** Set by the EndpointSlice controller on the slices of a Service. */
  serviceName: 'kubernetes.io/service-name',
} as const;

export const managedBySkiff = 'skiff';
export const managedSelector = `${labels.managedBy}=${managedBySkiff}`;
