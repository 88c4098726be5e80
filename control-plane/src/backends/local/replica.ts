import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync } from 'node:fs';
import { request } from 'node:http';
import { connect, createServer } from 'node:net';
import { delimiter, isAbsolute, join } from 'node:path';
import {
  defaultReadinessProbe,
  queueProxyNodeOptions,
  type RevisionSpec,
  servingContainer,
  statsPath,
} from '@skiff/shared';
import type { RevisionWorkload } from '../backend.ts';
import type { LogBuffer } from './logs.ts';

/**
 * `n` different ports free on loopback right now: all are held open until every one is chosen,
 * so the kernel cannot hand out one port twice.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (s) =>
          new Promise<number>((resolve, reject) => {
            s.once('error', reject);
            s.listen(0, '127.0.0.1', () => {
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

// Children die with the platform even when it is killed outright: the kernel sends them SIGKILL
// when their parent goes (util-linux `setpriv --pdeathsig`, present on Debian and most Linux).
const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

function launch(command: string[], opts: { cwd?: string; env: NodeJS.ProcessEnv }): ChildProcess {
  const [file = '', ...args] = setpriv ? [setpriv, '--pdeathsig', 'SIGKILL', '--', ...command] : command;
  return spawn(file, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
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

export interface ReplicaOptions {
  workload: RevisionWorkload;
  name: string;
  /** How to start a queue-proxy: argv, to which the env below is given. */
  queueProxyCommand: string[];
  drainQuietPeriod: string;
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
  readonly adminToken = randomBytes(24).toString('base64url');
  /** A cold start's steps, Unix ms: the app's process started, accepted a connection, passed the queue-proxy's probe. */
  spawnedAt: number | undefined;
  listeningAt: number | undefined;
  readyAt: number | undefined;
  #o: ReplicaOptions;
  #app: ChildProcess | undefined;
  #qp: ChildProcess | undefined;
  #probe: ReturnType<typeof setTimeout> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(o: ReplicaOptions) {
    this.#o = o;
    this.name = o.name;
  }

  /** Process ids of the app and its queue-proxy (for diagnostics and tests). */
  pids(): number[] {
    return [this.#app?.pid, this.#qp?.pid].filter((p): p is number => p !== undefined);
  }

  async start(): Promise<void> {
    const w = this.#o.workload;
    const spec: RevisionSpec = w.spec;
    const container = servingContainer(spec) ?? spec.containers[0];
    const command = [...(container?.command ?? []), ...(container?.args ?? [])];
    const [appPort, qpPort, adminPort, metricsPort] = (await freePorts(4)) as [number, number, number, number];
    this.url = `http://127.0.0.1:${qpPort}`;
    this.statsUrl = `http://127.0.0.1:${metricsPort}${statsPath}`;
    this.adminUrl = `http://127.0.0.1:${adminPort}`;
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/' };
    for (const e of container?.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
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
    const app = launch(command, { ...(container?.workingDir ? { cwd: container.workingDir } : {}), env });
    this.#app = app;
    app.once('spawn', () => {
      this.spawnedAt = Date.now();
      this.#awaitListening(appPort);
    });
    app.stdout?.on('data', (d: Buffer) => this.#o.logs.append(this.name, 'stdout', d));
    app.stderr?.on('data', (d: Buffer) => this.#o.logs.append(this.name, 'stderr', d));
    app.once('error', (e: NodeJS.ErrnoException) => {
      this.#o.onExit(127, e.code === 'ENOENT' ? `command not found: ${command[0]}` : e.message);
    });
    app.once('exit', (code, signal) => {
      this.#app = undefined;
      this.#died(code ?? (signal ? -1 : 0));
    });

    const probe = defaultReadinessProbe(container?.readinessProbe);
    const qp = launch(this.#o.queueProxyCommand, {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        USER_PORT: String(appPort),
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
        NODE_OPTIONS: queueProxyNodeOptions,
      },
    });
    this.#qp = qp;
    qp.stdout?.resume();
    qp.stderr?.on('data', (d: Buffer) => this.#o.logs.append(this.name, 'queue-proxy', d));
    qp.once('exit', (code, signal) => {
      this.#qp = undefined;
      this.#died(code ?? (signal ? -1 : 0));
    });
    this.#poll(qpPort);
  }

  /**
   * One of the replica's two processes ended on its own: the replica is gone. The other one
   * goes at once (a queue-proxy without its app would only answer 502s), and the backend
   * replaces the replica.
   */
  #died(code: number): void {
    if (this.state !== 'starting' && this.state !== 'ready') return;
    const wasReady = this.state === 'ready';
    this.state = 'stopped';
    clearTimeout(this.#probe);
    if (wasReady) this.#o.onChange();
    this.#stopping = Promise.all([terminate(this.#qp, 0), terminate(this.#app, 1000)]).then(() => {});
    this.#o.onExit(code);
  }

  /** Asks the queue-proxy whether the app is ready: every 10 ms while starting, then every second. */
  #poll(port: number): void {
    const again = (ms: number) => {
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
          this.#o.onChange();
        }
        again(this.state === 'ready' ? 1000 : startingPollMs);
      },
    );
    req.once('error', () => {
      if (this.state === 'ready') {
        this.state = 'starting';
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
    const socket = connect({ host: '127.0.0.1', port });
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

/** SIGTERM to the process group, SIGKILL after `graceMs`; resolves once it has exited. */
function terminate(child: ChildProcess | undefined, graceMs: number): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null || child.pid === undefined)
    return Promise.resolve();
  const pid = child.pid;
  return new Promise((resolve) => {
    const timer = setTimeout(() => signal(pid, 'SIGKILL'), graceMs);
    if (graceMs === 0) signal(pid, 'SIGKILL');
    child.once('exit', () => {
      clearTimeout(timer);
      // Anything the process left behind in its group goes with it.
      signal(pid, 'SIGKILL');
      resolve();
    });
    signal(pid, 'SIGTERM');
  });
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // Already gone.
  }
}
