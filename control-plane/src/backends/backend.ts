import type { ColdStartTimes, FieldError, RevisionSpec, SnapshotEndpoint } from '@skiff/shared';

/** What a backend needs to run one revision. */
export interface RevisionWorkload {
  namespace: string;
  service: string;
  configuration: string;
  revision: string;
  uid: string;
  /** The revision's spec after defaulting. */
  spec: RevisionSpec;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** Why a revision cannot run (Knative's `ContainerHealthy=False` / `ResourcesAvailable=False`). */
export interface RevisionFailure {
  /** Knative's reasons: `ExitCode<N>`, `ContainerMissing`, `ProgressDeadlineExceeded`, ... */
  reason: string;
  message: string;
}

/** What is running for one revision right now. */
export interface RevisionObservation {
  /** Replicas the backend was last asked for. */
  desired: number;
  /** Replicas that exist (starting, ready or stopping). */
  actual: number;
  /** Replicas ready to take requests. */
  ready: SnapshotEndpoint[];
  /** Set while the revision keeps failing to start or crashing. */
  failure?: RevisionFailure;
  /**
   * When one of its replicas last crashed or, once ready, stopped passing its readiness probe
   * (Unix ms), even if it came back: a gated rollout rolls such a revision back.
   */
  troubleAt?: number;
  /**
   * Its latest start from zero, step by step as far as it got (routers put it in held requests'
   * `Server-Timing`): `decidedAt` is when the backend was asked for replicas with none running.
   */
  coldStart?: ColdStartTimes;
}

/**
 * Where revisions run: local processes, or Kubernetes. The reconciler drives every backend
 * through this one interface, and `contract.ts` is the suite each one must pass.
 */
export interface WorkloadBackend {
  readonly name: string;
  /** Makes the revision run `replicas` replicas, creating what it needs. Idempotent. */
  ensure(workload: RevisionWorkload, replicas: number): Promise<void>;
  /** What runs for a revision; an unknown revision has nothing. */
  observe(namespace: string, revision: string): RevisionObservation;
  /** Stops and removes everything of a revision. Idempotent. */
  remove(namespace: string, revision: string): Promise<void>;
  /** Every revision the backend holds something for (for garbage collection). */
  list(): { namespace: string; revision: string }[];
  /** Problems a revision template has on this backend (e.g. no command to run locally); `path` is the spec's field path. */
  validate?(spec: RevisionSpec, path: string): FieldError[];
  /**
   * Where the autoscaler reads each ready replica's queue-proxy stats (`GET` → `Stat` JSON).
   * A backend without it is not scraped; its revisions scale on the routers' reports alone.
   */
  scrapeTargets?(namespace: string, revision: string): { pod: string; url: string }[];
  /**
   * The control plane is listening: replicas started from now on push their stats to it (its
   * stats stream endpoint), and are no longer scrape targets. A backend whose replicas cannot
   * reach the control plane leaves this out and is scraped.
   */
  pushStatsTo?(target: StatsPushTarget): void;
  /**
   * Replicas run on the control plane's machine as its user: they push their stats over a Unix
   * socket in the control plane's data folder (0700), which keeps the router token off the network
   * without TLS (a replica's memory: bench/RESULTS.md, issue 14).
   */
  readonly replicasOnThisMachine?: boolean;
  /** Recent output of a revision's replicas, when the backend keeps it (`skiff logs`). */
  logs?(namespace: string, revision: string): RevisionLogs | undefined;
  /** Calls `listener` whenever what `observe` returns may have changed. Returns an unsubscribe. */
  watch(listener: (namespace: string, revision: string) => void): () => void;
  close(): Promise<void>;
}

/** A revision's recent output lines, and a way to follow new ones. */
export interface RevisionLogs {
  lines(): { at: string; replica: string; stream: string; text: string }[];
  follow(listener: (line: { at: string; replica: string; stream: string; text: string }) => void): () => void;
}

/** An observation with nothing running. */
export const nothingRunning: RevisionObservation = Object.freeze({ desired: 0, actual: 0, ready: [] });

/** Where replicas push their stats (see `WorkloadBackend.pushStatsTo`). */
export interface StatsPushTarget {
  /** The control plane's base URL, or `unix:<path>` of its stats socket (`replicasOnThisMachine`). */
  url: string;
  /** The router token. */
  token: string;
  /** The CA file to trust for an HTTPS control plane with its own CA. */
  caFile?: string;
}
