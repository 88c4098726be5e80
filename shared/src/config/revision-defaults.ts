import { parseDuration } from './duration.ts';

/**
 * Platform defaults for revisions: Knative's `config-defaults` ConfigMap
 * (`pkg/apis/config/defaults.go`). The one place these numbers live.
 */
export interface RevisionDefaults {
  /** `revision-timeout-seconds`: used when a revision sets no (or a zero) `timeoutSeconds`. */
  timeoutSeconds: number;
  /** `max-revision-timeout-seconds`: the largest `timeoutSeconds` (and response-start/idle timeout) allowed. */
  maxTimeoutSeconds: number;
  /** `revision-response-start-timeout-seconds`; copied onto a revision only when smaller than its timeout. */
  responseStartTimeoutSeconds: number;
  /** `revision-idle-timeout-seconds`; 0 = disabled. */
  idleTimeoutSeconds: number;
  /** `container-concurrency`: 0 = no limit. */
  containerConcurrency: number;
  /** `container-concurrency-max-limit`. */
  containerConcurrencyMaxLimit: number;
  /** `allow-container-concurrency-zero`: when false, the minimum is 1. */
  allowContainerConcurrencyZero: boolean;
  /** `container-name-template` with its default value: the name of an unnamed single container. */
  containerName: string;
  /** The port an app listens on when it declares none (`$PORT`). */
  containerPort: number;
}

export const revisionDefaults: RevisionDefaults = {
  timeoutSeconds: 300,
  maxTimeoutSeconds: 600,
  responseStartTimeoutSeconds: 300,
  idleTimeoutSeconds: 0,
  containerConcurrency: 0,
  containerConcurrencyMaxLimit: 1000,
  allowContainerConcurrencyZero: true,
  containerName: 'user-container',
  containerPort: 8080,
};

/** Ports the queue-proxy and its neighbours use; an app may not declare them (`k8s_validation.go`). */
export const reservedPorts: readonly number[] = [8012, 8013, 8022, 9090, 9091, 8008];

/** Env vars Skiff sets for the app itself (`env_var.go`); a template may not set them. */
export const reservedEnvVars: readonly string[] = ['PORT', 'K_SERVICE', 'K_CONFIGURATION', 'K_REVISION'];

/** The sidecar's container name, which a user container may not take. */
export const reservedContainerNames: readonly string[] = ['queue-proxy'];

/** Mount paths Kubernetes and Knative reserve. */
export const reservedMountPaths: readonly string[] = ['/', '/dev', '/dev/log', '/tmp', '/var', '/var/log'];

/** Port names Knative accepts: plain HTTP/1, or cleartext HTTP/2. */
export const allowedPortNames: readonly string[] = ['', 'http1', 'h2c'];

/**
 * Knative's progress deadline (`progress-deadline` in `config-deployment`,
 * `pkg/deployment/config.go`): a revision with no ready replica by then fails with
 * `ProgressDeadlineExceeded`. Per revision: the `serving.knative.dev/progress-deadline` annotation.
 */
export const progressDeadlineDefaultSeconds = 600;
export const progressDeadlineAnnotation = 'serving.knative.dev/progress-deadline';

/** The annotation's deadline if it is a valid positive duration, else `fallbackSeconds`, in whole seconds. */
export function progressDeadlineSeconds(
  annotations: Record<string, string> | undefined,
  fallbackSeconds = progressDeadlineDefaultSeconds,
): number {
  const raw = annotations?.[progressDeadlineAnnotation];
  const ms = raw === undefined ? undefined : parseDuration(raw);
  return ms !== undefined && ms > 0 ? Math.ceil(ms / 1000) : fallbackSeconds;
}
