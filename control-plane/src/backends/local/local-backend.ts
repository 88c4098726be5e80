import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  type Backoff,
  backoffDelay,
  type ColdStartTimes,
  type FieldError,
  progressDeadlineSeconds,
  queueProxyNodeFlags,
  type RevisionSpec,
  required,
  servingContainer,
} from '@skiff/shared';
import {
  nothingRunning,
  type RevisionFailure,
  type RevisionObservation,
  type RevisionWorkload,
  type StatsPushTarget,
  type WorkloadBackend,
} from '../backend.ts';
import { DirectLauncher, type Launcher } from './launcher.ts';
import { LogBuffer } from './logs.ts';
import { processIds, Replica, type ReplicaRecord } from './replica.ts';

export interface LocalBackendOptions {
  /** argv that starts a queue-proxy; defaults to the bundled one, else its source through tsx. */
  queueProxyCommand?: string[];
  /** How long a scaled-down replica's queue-proxy waits for quiet before it exits. */
  drainQuietPeriod?: string;
  /** Restarts of a revision crashing before any replica is ready (`replicaCrashBackoff` by default). */
  crashBackoff?: Backoff;
  /** Crashes in a row (without becoming ready) after which the revision reports the failure. */
  failureThreshold?: number;
  /** Lines of output kept per revision. */
  logLines?: number;
  /** How often every revision's running replicas are checked against the desired count. */
  resyncMs?: number;
  /** Who runs the processes: this process by default; the supervisor under `skiff up`. */
  launcher?: Launcher;
  /**
   * Where the running replicas are recorded (ports, tokens, pids; 0600) for a restarted control
   * plane to adopt them; none by default.
   */
  stateFile?: string;
}

/** The state file's content: each revision's workload and its running replicas. */
interface SavedState {
  revisions: { workload: RevisionWorkload; replicas: ReplicaRecord[] }[];
}

interface RevisionState {
  workload: RevisionWorkload;
  desired: number;
  replicas: Replica[];
  logs: LogBuffer;
  crashes: number;
  failure: RevisionFailure | undefined;
  /** See `RevisionObservation.troubleAt`. */
  troubleAt: number | undefined;
  restart: ReturnType<typeof setTimeout> | undefined;
  seq: number;
  /** The latest start from zero: when it was asked for, and the replica that answers it. */
  coldStart: { decidedAt: number; replica: Replica | undefined } | undefined;
  /** A replica of it has been ready (in this control plane's life). */
  everReady: boolean;
  /** Its progress deadline passed with no replica ready: no more are started for it. */
  stalled: boolean;
}

/**
 * A crashed replica is replaced at once (as a ReplicaSet replaces a deleted pod); a revision
 * crashing again before any replica is ready waits 200 ms, doubling to 10 s.
 */
export const replicaCrashBackoff: Backoff = { immediate: 1, initialMs: 200, maxMs: 10_000, jitter: 0 };

/** The queue-proxy this repository ships, as a command line, with the Node flags it runs with (`queueProxyNodeFlags`). */
export function defaultQueueProxyCommand(): string[] {
  const bundle = fileURLToPath(new URL('../../../../queue-proxy/dist/main.js', import.meta.url));
  if (existsSync(bundle)) return [process.execPath, ...queueProxyNodeFlags, bundle];
  const source = fileURLToPath(new URL('../../../../queue-proxy/src/main.ts', import.meta.url));
  return [process.execPath, ...queueProxyNodeFlags, '--import', 'tsx', source];
}

/**
 * Runs revisions as processes on this machine: per replica the revision's command and a
 * queue-proxy in front of it. Crashed replicas restart with exponential backoff; a revision whose
 * replicas keep crashing (or whose command does not exist) reports why.
 */
export class LocalBackend implements WorkloadBackend {
  readonly name = 'local';
  readonly replicasOnThisMachine = true;
  #revisions = new Map<string, RevisionState>();
  #listeners = new Set<(namespace: string, revision: string) => void>();
  #o: Required<Omit<LocalBackendOptions, 'stateFile'>> & { stateFile: string | undefined };
  #resync: ReturnType<typeof setInterval>;
  #statsPush: StatsPushTarget | undefined;

  constructor(o: LocalBackendOptions = {}) {
    this.#o = {
      queueProxyCommand: o.queueProxyCommand ?? defaultQueueProxyCommand(),
      drainQuietPeriod: o.drainQuietPeriod ?? '1s',
      crashBackoff: o.crashBackoff ?? replicaCrashBackoff,
      failureThreshold: o.failureThreshold ?? 3,
      logLines: o.logLines ?? 1000,
      resyncMs: o.resyncMs ?? 1000,
      launcher: o.launcher ?? new DirectLauncher(),
      stateFile: o.stateFile,
    };
    // Actual against desired, continually: a replica lost without a word is replaced too.
    this.#resync = setInterval(() => {
      const now = Date.now();
      for (const rev of this.#revisions.values()) {
        this.#checkProgress(rev, now);
        this.#converge(rev);
      }
    }, this.#o.resyncMs);
    this.#resync.unref();
  }

  #revision(w: RevisionWorkload): RevisionState {
    const key = `${w.namespace}/${w.revision}`;
    let rev = this.#revisions.get(key);
    if (!rev) {
      rev = {
        workload: w,
        desired: 0,
        replicas: [],
        logs: new LogBuffer(this.#o.logLines),
        crashes: 0,
        troubleAt: undefined,
        failure: undefined,
        restart: undefined,
        seq: 0,
        coldStart: undefined,
        everReady: false,
        stalled: false,
      };
      this.#revisions.set(key, rev);
    }
    return rev;
  }

  /**
   * Takes over the replicas an earlier control plane left running (under the supervisor), as
   * the state file records them; stops what runs but is not recorded (or lost its partner).
   * Resolves once each adopted replica's readiness is known, so the first routing snapshot after
   * a restart already has every endpoint. Returns how many replicas were adopted.
   */
  async adopt(): Promise<number> {
    const running = await this.#o.launcher.running();
    let saved: SavedState = { revisions: [] };
    if (this.#o.stateFile && existsSync(this.#o.stateFile)) {
      saved = JSON.parse(readFileSync(this.#o.stateFile, 'utf8')) as SavedState;
    }
    const adopting: Promise<void>[] = [];
    for (const { workload, replicas } of saved.revisions) {
      const rev = this.#revision(workload);
      for (const record of replicas) {
        const ids = processIds(workload.namespace, record.name);
        const app = running.get(ids.app);
        const qp = running.get(ids.queueProxy);
        running.delete(ids.app);
        running.delete(ids.queueProxy);
        const seq = Number(/-(\d+)$/.exec(record.name)?.[1] ?? 0);
        rev.seq = Math.max(rev.seq, seq);
        if (!app?.running || !qp?.running) {
          app?.kill('SIGKILL');
          qp?.kill('SIGKILL');
          continue;
        }
        const replica = this.#newReplica(rev, record.name);
        rev.replicas.push(replica);
        rev.desired++;
        adopting.push(replica.adopt(record, app, qp));
      }
    }
    for (const leftover of running.values()) leftover.kill('SIGKILL');
    await Promise.all(adopting);
    this.#save();
    return adopting.length;
  }

  async ensure(w: RevisionWorkload, replicas: number): Promise<void> {
    const rev = this.#revision(w);
    rev.workload = w;
    if (rev.desired === replicas) return;
    const running = rev.replicas.some((r) => r.state === 'starting' || r.state === 'ready');
    if (replicas > 0 && !running) rev.coldStart = { decidedAt: Date.now(), replica: undefined };
    rev.desired = replicas;
    this.#converge(rev);
    this.#emit(w.namespace, w.revision);
  }

  /** Starts or stops replicas until as many run as are desired. */
  #converge(rev: RevisionState): void {
    rev.replicas = rev.replicas.filter((r) => r.state !== 'stopped');
    const live = rev.replicas.filter((r) => r.state === 'starting' || r.state === 'ready');
    if (live.length > rev.desired) {
      // Stop the ones not ready yet first, then the newest.
      const order = [...live].sort(
        (a, b) => Number(a.state === 'ready') - Number(b.state === 'ready') || b.name.localeCompare(a.name),
      );
      for (const r of order.slice(0, live.length - rev.desired)) this.#stopReplica(rev, r);
      return;
    }
    if (rev.restart || rev.stalled) return; // backing off after a crash, or failed for good
    for (let i = live.length; i < rev.desired; i++) this.#startReplica(rev);
  }

  #startReplica(rev: RevisionState): void {
    const replica = this.#newReplica(rev, `${rev.workload.revision}-${++rev.seq}`);
    rev.replicas.push(replica);
    // The first replica started for a start from zero answers it (the next one if that one died).
    const cold = rev.coldStart;
    if (
      cold !== undefined &&
      (cold.replica === undefined || (cold.replica.state === 'stopped' && !cold.replica.readyAt))
    )
      cold.replica = replica;
    replica.start().then(
      () => this.#save(),
      (e: unknown) => this.#crashed(rev, replica, 1, e instanceof Error ? e.message : String(e)),
    );
  }

  /**
   * Knative's progress deadline (600 s, or `serving.knative.dev/progress-deadline`): a revision
   * whose replicas have been starting that long without one ever becoming ready fails with
   * `ProgressDeadlineExceeded`, saying what was probed; its starting replicas are stopped and no
   * more are started (a new revision is the way on). A crash loop keeps its own `ExitCode` reason.
   */
  #checkProgress(rev: RevisionState, now: number): void {
    if (rev.everReady || rev.stalled || rev.failure) return;
    const deadlineMs = progressDeadlineSeconds(rev.workload.annotations) * 1000;
    const starting = rev.replicas.filter((r) => r.state === 'starting');
    const oldest = starting.reduce<Replica | undefined>((a, r) => (!a || r.startedAt < a.startedAt ? r : a), undefined);
    if (!oldest || now - oldest.startedAt < deadlineMs) return;
    rev.stalled = true;
    rev.failure = {
      reason: 'ProgressDeadlineExceeded',
      message: `Initial scale was never achieved: no replica became ready within the progress deadline (${deadlineMs / 1000}s); the queue-proxy probed ${oldest.probed()} and it never succeeded`,
    };
    for (const r of starting) this.#stopReplica(rev, r);
    this.#emit(rev.workload.namespace, rev.workload.revision);
  }

  /**
   * For a declared `containerPort`: the port, and the first loopback address (127.0.0.N) that no
   * other live replica with the same port uses, so that replicas of one or several revisions
   * never collide. None without a declared port (the app gets a free one).
   */
  #fixedPort(rev: RevisionState): { port: number; host: string } | undefined {
    const port = servingContainer(rev.workload.spec)?.ports?.[0]?.containerPort;
    if (port === undefined) return undefined;
    const taken = new Set<string>();
    for (const other of this.#revisions.values()) {
      for (const r of other.replicas) {
        const at = r.appAddress();
        if (at?.port === port && r.state !== 'stopped') taken.add(at.host);
      }
    }
    for (let n = 1; n < 255; n++) {
      const host = `127.0.0.${n}`;
      if (!taken.has(host)) return { port, host };
    }
    return { port, host: '127.0.0.1' };
  }

  #newReplica(rev: RevisionState, name: string): Replica {
    const w = rev.workload;
    const fixedPort = this.#fixedPort(rev);
    const replica: Replica = new Replica({
      workload: w,
      name,
      launcher: this.#o.launcher,
      queueProxyCommand: this.#o.queueProxyCommand,
      drainQuietPeriod: this.#o.drainQuietPeriod,
      ...(fixedPort ? { fixedPort } : {}),
      ...(this.#statsPush ? { statsPush: this.#statsPush } : {}),
      logs: rev.logs,
      onChange: () => {
        if (replica.state === 'ready') {
          rev.crashes = 0;
          rev.failure = undefined;
          rev.everReady = true;
          rev.stalled = false;
        }
        if (replica.lostReadinessAt !== undefined && replica.lostReadinessAt > (rev.troubleAt ?? 0)) {
          rev.troubleAt = replica.lostReadinessAt;
        }
        this.#emit(w.namespace, w.revision);
      },
      onExit: (code, error) => this.#crashed(rev, replica, code, error),
    });
    return replica;
  }

  #stopReplica(rev: RevisionState, replica: Replica): void {
    const grace = (rev.workload.spec.timeoutSeconds ?? 300) * 1000;
    void replica.stop(grace).then(() => {
      rev.replicas = rev.replicas.filter((r) => r !== replica);
      this.#emit(rev.workload.namespace, rev.workload.revision);
    });
  }

  #crashed(rev: RevisionState, replica: Replica, code: number, error?: string): void {
    rev.replicas = rev.replicas.filter((r) => r !== replica);
    void replica.stop(1000);
    rev.crashes++;
    rev.troubleAt = Date.now();
    if (error) {
      rev.failure = { reason: code === 127 ? 'ContainerMissing' : `ExitCode${code}`, message: error };
    } else if (rev.crashes >= this.#o.failureThreshold) {
      const last = rev.logs.tail(5);
      rev.failure = {
        reason: `ExitCode${code}`,
        message: `Container failed with: ${last || `exit code ${code}`}`,
      };
    }
    this.#emit(rev.workload.namespace, rev.workload.revision);
    if (this.#revisions.get(`${rev.workload.namespace}/${rev.workload.revision}`) !== rev) return;
    // A replica lost after serving (or the first to fail) is replaced at once, as a ReplicaSet
    // replaces a deleted pod; only a revision crashing again before any replica is ready backs off
    // (`crashes` counts since the last ready replica).
    const delay = backoffDelay(rev.crashes - 1, this.#o.crashBackoff);
    clearTimeout(rev.restart);
    rev.restart = setTimeout(() => {
      rev.restart = undefined;
      this.#converge(rev);
    }, delay);
    rev.restart.unref();
  }

  observe(namespace: string, revision: string): RevisionObservation {
    const rev = this.#revisions.get(`${namespace}/${revision}`);
    if (!rev) return nothingRunning;
    const ready = rev.replicas.filter((r) => r.state === 'ready').map((r) => ({ pod: r.name, url: r.url }));
    return {
      desired: rev.desired,
      actual: rev.replicas.filter((r) => r.state !== 'stopped').length,
      ready,
      ...(rev.failure ? { failure: rev.failure } : {}),
      ...(rev.troubleAt !== undefined ? { troubleAt: rev.troubleAt } : {}),
      ...(rev.coldStart ? { coldStart: coldStartTimes(rev.coldStart) } : {}),
    };
  }

  pushStatsTo(target: StatsPushTarget): void {
    this.#statsPush = target;
  }

  /** Replicas push their stats once the control plane said where (`pushStatsTo`); before, they are scraped. */
  scrapeTargets(namespace: string, revision: string): { pod: string; url: string }[] {
    if (this.#statsPush) return [];
    const rev = this.#revisions.get(`${namespace}/${revision}`);
    return (rev?.replicas ?? []).filter((r) => r.state === 'ready').map((r) => ({ pod: r.name, url: r.statsUrl }));
  }

  /** A revision's replicas, for diagnostics and tests. */
  replicas(namespace: string, revision: string): readonly Replica[] {
    return this.#revisions.get(`${namespace}/${revision}`)?.replicas ?? [];
  }

  /** Process ids of a revision's replicas (apps and queue-proxies). */
  pids(namespace: string, revision: string): number[] {
    return this.#revisions.get(`${namespace}/${revision}`)?.replicas.flatMap((r) => r.pids()) ?? [];
  }

  /**
   * The local backend runs commands, not images: a template without one cannot run here
   * (`WorkloadBackend.validate`).
   */
  validate(spec: RevisionSpec, path: string): FieldError[] {
    const serving = servingContainer(spec) ?? spec.containers[0];
    const i = serving ? spec.containers.indexOf(serving) : 0;
    if (serving?.command?.length) return [];
    return [
      required(
        `${path}.containers[${i}].command`,
        `the local backend runs a command on this machine${serving?.image ? ` and cannot run the image "${serving.image}"` : ''}; set command (and args)`,
      ),
    ];
  }

  /** The revision's recent output, for `skiff logs`. */
  logs(namespace: string, revision: string): LogBuffer | undefined {
    return this.#revisions.get(`${namespace}/${revision}`)?.logs;
  }

  async remove(namespace: string, revision: string): Promise<void> {
    const key = `${namespace}/${revision}`;
    const rev = this.#revisions.get(key);
    if (!rev) return;
    this.#revisions.delete(key);
    clearTimeout(rev.restart);
    await Promise.all(rev.replicas.map((r) => r.stop((rev.workload.spec.timeoutSeconds ?? 300) * 1000)));
    this.#emit(namespace, revision);
  }

  list(): { namespace: string; revision: string }[] {
    return [...this.#revisions.values()].map((r) => ({
      namespace: r.workload.namespace,
      revision: r.workload.revision,
    }));
  }

  watch(listener: (namespace: string, revision: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Stops every replica (draining) and waits for them to exit. */
  async close(): Promise<void> {
    clearInterval(this.#resync);
    const all = [...this.#revisions.values()];
    this.#revisions.clear();
    await Promise.all(
      all.map((rev) => {
        clearTimeout(rev.restart);
        return Promise.all(rev.replicas.map((r) => r.stop((rev.workload.spec.timeoutSeconds ?? 300) * 1000)));
      }),
    );
  }

  #emit(namespace: string, revision: string): void {
    this.#save();
    for (const l of this.#listeners) l(namespace, revision);
  }

  /** Records the running replicas for adoption (whole file or nothing, owner-only). */
  #save(): void {
    const file = this.#o.stateFile;
    if (!file) return;
    const state: SavedState = {
      revisions: [...this.#revisions.values()].map((rev) => ({
        workload: rev.workload,
        replicas: rev.replicas
          .filter((r) => r.state === 'starting' || r.state === 'ready')
          .map((r) => r.record())
          .filter((r): r is ReplicaRecord => r !== undefined),
      })),
    };
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
    renameSync(tmp, file);
  }
}

function coldStartTimes(c: { decidedAt: number; replica: Replica | undefined }): ColdStartTimes {
  const r = c.replica;
  return {
    decidedAt: c.decidedAt,
    ...(r?.spawnedAt !== undefined ? { spawnedAt: r.spawnedAt } : {}),
    ...(r?.listeningAt !== undefined ? { listeningAt: r.listeningAt } : {}),
    ...(r?.readyAt !== undefined ? { readyAt: r.readyAt } : {}),
  };
}
