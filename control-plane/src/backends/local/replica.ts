import { randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { request } from 'node:http';
import { connect, createServer } from 'node:net';
import { delimiter, isAbsolute, join } from 'node:path';
import { defaultReadinessProbe, type RevisionSpec, servingContainer, statsPath } from '@skiff/shared';
import type { RevisionWorkload, StatsPushTarget } from '../backend.ts';
import type { LaunchedProcess, Launcher } from './launcher.ts';
import type { LogBuffer } from './logs.ts';

/**
 * `n` different ports free on `host` (loopback unless told) right now: all are held open until
 * every one is chosen, so the kernel cannot hand out one port twice.
 */
export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (s) =>
          new Promise<number>((resolve, reject) => {
            s.once('error', reject);
            s.listen(0, host, () => {
              const address = s.address();
              resolve(typeof address === 'object' && address ? address.port : 0);
            });
          }),
      ),
    );
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => (s.listening ? s.close(resolve) : resolve(0)))));
  }
}

/** A port free on loopback right now. */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0] as number;
}

/** Whether `command` names an executable, as the shell would find it (absolute, relative, or on PATH). */
export function findExecutable(command: string, cwd: string | undefined, path: string): boolean {
  const executable = (file: string) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (command.includes('/')) return executable(isAbsolute(command) ? command : join(cwd ?? process.cwd(), command));
  return path.split(delimiter).some((dir) => dir !== '' && executable(join(dir, command)));
}

/** A replica is asked this often whether it is ready yet: its readiness is a cold start's last step. */
const startingPollMs = 10;

export type ReplicaState = 'starting' | 'ready' | 'draining' | 'stopped';

/** What a restarted control plane needs to adopt a running replica (kept in the backend's state file). */
export interface ReplicaRecord {
  name: string;
  ports: { app: number; serving: number; admin: number; metrics: number };
  /** The loopback address the app serves on (127.0.0.N for a fixed containerPort); 127.0.0.1 when absent. */
  appHost?: string;
  adminToken: string;
  pids: { app?: number; queueProxy?: number };
}

/** Launcher ids of a replica's two processes. */
export function processIds(namespace: string, name: string): { app: string; queueProxy: string } {
  return { app: `${namespace}/${name}/app`, queueProxy: `${namespace}/${name}/queue-proxy` };
}

export interface ReplicaOptions {
  workload: RevisionWorkload;
  name: string;
  launcher: Launcher;
  /** How to start a queue-proxy: argv, to which the env below is given. */
  queueProxyCommand: string[];
  drainQuietPeriod: string;
  /**
   * A declared `containerPort`: the app gets it as `PORT` and serves on `host`, a loopback
   * address of its own (127.0.0.N), so replicas with the same fixed port do not collide.
   */
  fixedPort?: { port: number; host: string };
  /** Where the queue-proxy pushes its stats; scraped at `statsUrl` when undefined. */
  statsPush?: StatsPushTarget;
  logs: LogBuffer;
  onChange(): void;
  /** The app exited (code, or -1 for a signal) or could not start (`error`). */
  onExit(code: number, error?: string): void;
}

/**
 * One replica on this machine: the revision's command on a free port, and a queue-proxy in front of
 * it (the same program as the Kubernetes sidecar). Ready when the queue-proxy says the app is.
 */
export class Replica {
  readonly name: string;
  state: ReplicaState = 'starting';
  url = '';
  /** Where its queue-proxy serves stats for the autoscaler. */
  statsUrl = '';
  /** The queue-proxy's admin port, which answers only `Authorization: Bearer <adminToken>`. */
  adminUrl = '';
  adminToken = randomBytes(24).toString('base64url');
  /** A cold start's steps, Unix ms: the app's process started, accepted a connection, passed the queue-proxy's probe. */
  spawnedAt: number | undefined;
  listeningAt: number | undefined;
  readyAt: number | undefined;
  /** When it last stopped passing its readiness probe after being ready (Unix ms). */
  lostReadinessAt: number | undefined;
  #ports = { app: 0, serving: 0, admin: 0, metrics: 0 };
  #appHost = '127.0.0.1';
  /** When it was started (or adopted), for the progress deadline. */
  startedAt = Date.now();
  #o: ReplicaOptions;
  #app: LaunchedProcess | undefined;
  #qp: LaunchedProcess | undefined;
  #probe: ReturnType<typeof setTimeout> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(o: ReplicaOptions) {
    this.#o = o;
    this.name = o.name;
    // Claimed at once, so that a replica created next sees this address as taken.
    if (o.fixedPort) {
      this.#ports.app = o.fixedPort.port;
      this.#appHost = o.fixedPort.host;
    }
  }

  /** Process ids of the app and its queue-proxy (for diagnostics and tests). */
  pids(): number[] {
    return [this.#app?.pid, this.#qp?.pid].filter((p): p is number => p !== undefined);
  }

  /** What adopting this replica takes; undefined until both processes are launched. */
  record(): ReplicaRecord | undefined {
    if (!this.#app || !this.#qp) return undefined;
    return {
      name: this.name,
      ports: { ...this.#ports },
      ...(this.#appHost !== '127.0.0.1' ? { appHost: this.#appHost } : {}),
      adminToken: this.adminToken,
      pids: {
        ...(this.#app.pid !== undefined ? { app: this.#app.pid } : {}),
        ...(this.#qp.pid !== undefined ? { queueProxy: this.#qp.pid } : {}),
      },
    };
  }

  #addresses(): void {
    this.url = `http://127.0.0.1:${this.#ports.serving}`;
    this.statsUrl = `http://127.0.0.1:${this.#ports.metrics}${statsPath}`;
    this.adminUrl = `http://127.0.0.1:${this.#ports.admin}`;
  }

  /**
   * Takes over a replica an earlier control plane started (its processes still running under
   * the supervisor): no restart, no lost request. Resolves once its readiness is known.
   */
  adopt(record: ReplicaRecord, app: LaunchedProcess, qp: LaunchedProcess): Promise<void> {
    this.#ports = { ...record.ports };
    this.#appHost = record.appHost ?? '127.0.0.1';
    this.adminToken = record.adminToken;
    this.#addresses();
    this.#attach(app, qp);
    return new Promise((resolve) => this.#poll(this.#ports.serving, resolve));
  }

  #attach(app: LaunchedProcess, qp: LaunchedProcess): void {
    this.#app = app;
    this.#qp = qp;
    app.onOutput((stream, d) => this.#o.logs.append(this.name, stream, d));
    app.onExit((code, error) => {
      this.#app = undefined;
      this.#died(code, error);
    });
    qp.onOutput((stream, d) => {
      if (stream === 'stderr') this.#o.logs.append(this.name, 'queue-proxy', d);
    });
    qp.onExit((code) => {
      this.#qp = undefined;
      this.#died(code);
    });
  }

  async start(): Promise<void> {
    const w = this.#o.workload;
    const spec: RevisionSpec = w.spec;
    const container = servingContainer(spec) ?? spec.containers[0];
    const command = [...(container?.command ?? []), ...(container?.args ?? [])];
    const [freeAppPort, qpPort, adminPort, metricsPort] = (await freePorts(4)) as [number, number, number, number];
    const fixed = this.#o.fixedPort;
    const appPort = fixed?.port ?? freeAppPort;
    if (fixed) this.#appHost = fixed.host;
    this.#ports = { app: appPort, serving: qpPort, admin: adminPort, metrics: metricsPort };
    this.#addresses();
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/' };
    for (const e of container?.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
    // With a fixed port, HOST names this replica's own loopback address (unless the template sets HOST).
    if (fixed && env.HOST === undefined) env.HOST = fixed.host;
    Object.assign(env, {
      PORT: String(appPort),
      K_SERVICE: w.service,
      K_CONFIGURATION: w.configuration,
      K_REVISION: w.revision,
    });
    if (!command[0] || !findExecutable(command[0], container?.workingDir, env.PATH ?? '')) {
      this.state = 'stopped';
      this.#o.onExit(127, `command not found: ${command[0] ?? '(none)'}`);
      return;
    }
    if (this.state !== 'starting') return; // stopped while choosing ports
    const ids = processIds(w.namespace, this.name);
    const unit = `${w.namespace}/${this.name}`;
    const app = this.#o.launcher.launch(ids.app, command, {
      ...(container?.workingDir ? { cwd: container.workingDir } : {}),
      env,
      unit,
    });
    const probe = defaultReadinessProbe(container?.readinessProbe);
    const qp = this.#o.launcher.launch(ids.queueProxy, this.#o.queueProxyCommand, {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        USER_PORT: String(appPort),
        USER_HOST: this.#appHost,
        QUEUE_SERVING_PORT: String(qpPort),
        QUEUE_ADMIN_PORT: String(adminPort),
        QUEUE_METRICS_PORT: String(metricsPort),
        CONTAINER_CONCURRENCY: String(spec.containerConcurrency ?? 0),
        REVISION_TIMEOUT_SECONDS: String(spec.timeoutSeconds ?? 300),
        REVISION_RESPONSE_START_TIMEOUT_SECONDS: String(spec.responseStartTimeoutSeconds ?? 0),
        REVISION_IDLE_TIMEOUT_SECONDS: String(spec.idleTimeoutSeconds ?? 0),
        SERVING_READINESS_PROBE: JSON.stringify(probe),
        SERVING_NAMESPACE: w.namespace,
        SERVING_SERVICE: w.service,
        SERVING_CONFIGURATION: w.configuration,
        SERVING_REVISION: w.revision,
        SERVING_POD: this.name,
        QUEUE_DRAIN_QUIET_PERIOD: this.#o.drainQuietPeriod,
        // Nothing beyond loopback on one machine, and only the backend may drain it.
        QUEUE_LISTEN_ADDRESS: '127.0.0.1',
        QUEUE_ADMIN_TOKEN: this.adminToken,
        ...(this.#o.statsPush
          ? {
              SKIFF_STATS_PUSH_URL: this.#o.statsPush.url,
              SKIFF_STATS_PUSH_TOKEN: this.#o.statsPush.token,
              ...(this.#o.statsPush.caFile ? { SKIFF_STATS_PUSH_CA: this.#o.statsPush.caFile } : {}),
            }
          : {}),
      },
      unit,
    });
    this.#attach(app, qp);
    app.onSpawn(() => {
      this.spawnedAt = Date.now();
      this.#awaitListening(appPort);
    });
    this.#poll(qpPort);
  }

  /** Where the app serves (address and port), once started or adopted. */
  appAddress(): { host: string; port: number } | undefined {
    return this.#ports.app ? { host: this.#appHost, port: this.#ports.app } : undefined;
  }

  /** What its queue-proxy probes to tell whether the app is ready, in words (for a progress-deadline message). */
  probed(): string {
    const container = servingContainer(this.#o.workload.spec) ?? this.#o.workload.spec.containers[0];
    const probe = defaultReadinessProbe(container?.readinessProbe);
    const at = `${this.#appHost}:${this.#ports.app}`;
    if (probe.httpGet) {
      const path = probe.httpGet.path ? (probe.httpGet.path.startsWith('/') ? '' : '/') + probe.httpGet.path : '/';
      return `HTTP GET http://${at}${path} (readinessProbe httpGet)`;
    }
    if (probe.exec?.command?.length) return `the command ${JSON.stringify(probe.exec.command)} (readinessProbe exec)`;
    return `a TCP connection to ${at} (PORT=${this.#ports.app})`;
  }

  /**
   * One of the replica's two processes ended on its own: the replica is gone. The other one
   * goes at once (a queue-proxy without its app would only answer 502s), and the backend
   * replaces the replica.
   */
  #died(code: number, error?: string): void {
    if (this.state !== 'starting' && this.state !== 'ready') return;
    const wasReady = this.state === 'ready';
    this.state = 'stopped';
    clearTimeout(this.#probe);
    if (wasReady) this.#o.onChange();
    this.#stopping = Promise.all([terminate(this.#qp, 0), terminate(this.#app, 1000)]).then(() => {});
    this.#o.onExit(code, error);
  }

  /** Asks the queue-proxy whether the app is ready: every 10 ms while starting, then every second. */
  #poll(port: number, first?: () => void): void {
    const again = (ms: number) => {
      first?.();
      if (this.state === 'starting' || this.state === 'ready') {
        this.#probe = setTimeout(() => this.#poll(port), ms);
        this.#probe.unref();
      }
    };
    const req = request(
      { host: '127.0.0.1', port, path: '/', headers: { 'k-network-probe': 'queue' }, agent: false, timeout: 1000 },
      (res) => {
        res.resume();
        const ok = res.statusCode === 200;
        if (ok && this.state === 'starting') {
          this.readyAt ??= Date.now();
          this.listeningAt ??= this.readyAt;
          this.state = 'ready';
          this.#o.onChange();
        } else if (!ok && this.state === 'ready') {
          this.state = 'starting';
          this.lostReadinessAt = Date.now();
          this.#o.onChange();
        }
        again(this.state === 'ready' ? 1000 : startingPollMs);
      },
    );
    req.once('error', () => {
      if (this.state === 'ready') {
        this.state = 'starting';
        this.lostReadinessAt = Date.now();
        this.#o.onChange();
      }
      again(startingPollMs);
    });
    req.once('timeout', () => req.destroy());
    req.end();
  }

  /** Notes when the app first accepts a connection on its port (a cold start's "listening" step). */
  #awaitListening(port: number): void {
    if (this.state !== 'starting' || this.listeningAt !== undefined) return;
    const socket = connect({ host: this.#appHost, port });
    socket.once('connect', () => {
      this.listeningAt ??= Date.now();
      socket.destroy();
    });
    socket.once('error', () => {
      const retry = setTimeout(() => this.#awaitListening(port), startingPollMs);
      retry.unref();
    });
  }

  /**
   * Stops the replica: it leaves the endpoints at once, its queue-proxy drains (serving what
   * still arrives until quiet), then the app gets SIGTERM, and SIGKILL after `graceMs`.
   */
  stop(graceMs = 30_000): Promise<void> {
    if (this.#stopping) return this.#stopping;
    const wasReady = this.state === 'ready';
    this.state = 'draining';
    clearTimeout(this.#probe);
    if (wasReady) this.#o.onChange();
    this.#stopping = (async () => {
      await terminate(this.#qp, graceMs);
      await terminate(this.#app, graceMs);
      this.state = 'stopped';
    })();
    return this.#stopping;
  }
}

/** SIGTERM to the process group, SIGKILL after `graceMs` (at once for 0); resolves once it has exited. */
function terminate(p: LaunchedProcess | undefined, graceMs: number): Promise<void> {
  if (!p?.running) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => p.kill('SIGKILL'), graceMs);
    p.onExit(() => {
      clearTimeout(timer);
      // Anything the process left behind in its group goes with it.
      p.kill('SIGKILL');
      resolve();
    });
    p.kill(graceMs === 0 ? 'SIGKILL' : 'SIGTERM');
  });
}
