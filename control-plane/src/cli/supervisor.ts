import { type ChildProcess, spawn } from 'node:child_process';
import { type Backoff, backoffDelay } from '@skiff/shared';
import { type ChildLaunched, signalGroup, spawnTied, tiedToParent } from '../backends/local/launcher.ts';
import type { FromSupervisor, ToSupervisor } from '../backends/local/supervised.ts';

/**
 * `skiff up`'s supervisor: it only starts and restarts its children, each a process of its own:
 * the control plane, the router, and every replica (app and queue-proxy), which it runs when the
 * control plane asks over the IPC channel. So a crash, SIGKILL or restart of the control plane
 * leaves the router and the replicas serving, and the restarted control plane adopts the
 * replicas. Every child is tied to the supervisor (pdeathsig): none outlives it, even SIGKILLed.
 */

export interface ChildSpec {
  name: string;
  command: string[];
  env: NodeJS.ProcessEnv;
  /** Give it the supervisor's IPC channel (the control plane). */
  ipc?: boolean;
  onLine?(stream: 'stdout' | 'stderr', line: string): void;
  onMessage?(message: unknown): void;
}

/** Restarts after a child exits: at once, then 100 ms doubling to 5 s; reset after 10 s of running. */
export const childRestartBackoff: Backoff = { immediate: 1, initialMs: 100, maxMs: 5_000, jitter: 0 };
const stableAfterMs = 10_000;

/** One child the supervisor keeps running until told to stop. */
export class Supervised {
  readonly spec: ChildSpec;
  child: ChildProcess | undefined;
  /** How many times it has been started. */
  starts = 0;
  #failures = 0;
  #stopping = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #log: (m: string) => void;

  constructor(spec: ChildSpec, log: (m: string) => void) {
    this.spec = spec;
    this.#log = log;
  }

  start(): void {
    const [file = '', ...args] = tiedToParent(this.spec.command);
    // Its own process group: Ctrl-C reaches the supervisor only, which then stops children in order.
    const child = spawn(file, args, {
      env: this.spec.env,
      stdio: ['ignore', 'pipe', 'pipe', ...(this.spec.ipc ? (['ipc'] as const) : [])],
      detached: true,
    });
    this.child = child;
    this.starts++;
    const startedAt = Date.now();
    for (const stream of ['stdout', 'stderr'] as const) {
      let partial = '';
      child[stream]?.on('data', (d: Buffer) => {
        const lines = (partial + d.toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) this.spec.onLine?.(stream, line);
      });
    }
    if (this.spec.onMessage) child.on('message', this.spec.onMessage);
    // An IPC send to a child that just died fails asynchronously; its exit is handled below.
    child.on('error', (e) => this.#log(`${this.spec.name}: ${e.message}`));
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.#stopping) return;
      if (Date.now() - startedAt > stableAfterMs) this.#failures = 0;
      const delay = backoffDelay(this.#failures++, childRestartBackoff);
      this.#log(`${this.spec.name} exited (${signal ?? `code ${code}`}); restarting${delay ? ` in ${delay} ms` : ''}`);
      this.#timer = setTimeout(() => this.start(), delay);
    });
  }

  send(message: FromSupervisor): void {
    const child = this.child;
    if (child?.connected) child.send(message);
  }

  /** SIGTERM, SIGKILL after `graceMs`; resolves once it has exited. No restart after this. */
  stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#timer);
    const child = this.child;
    if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
      return Promise.resolve();
    }
    const pid = child.pid;
    return new Promise((resolve) => {
      const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      signalGroup(pid, 'SIGTERM');
    });
  }
}

/** The replicas' processes, run for whichever control plane is connected. */
export class ProcessTable {
  readonly #processes = new Map<string, ChildLaunched>();
  readonly #units = new Map<string, Set<string>>();
  /** Processes the control plane asked to stop: their exit is no reason to end their unit. */
  readonly #asked = new Set<string>();
  readonly #reply: (message: FromSupervisor) => void;

  constructor(reply: (message: FromSupervisor) => void) {
    this.#reply = reply;
  }

  get size(): number {
    return this.#processes.size;
  }

  handle(message: ToSupervisor): void {
    if (message.op === 'launch') this.#launch(message);
    else if (message.op === 'kill') {
      const p = this.#processes.get(message.id);
      if (p) this.#asked.add(message.id);
      p?.kill(message.signal);
    } else if (message.op === 'list') {
      const processes = [...this.#processes].flatMap(([id, p]) =>
        p.running && p.pid !== undefined ? [{ id, pid: p.pid }] : [],
      );
      this.#reply({ op: 'list', ref: message.ref, processes });
    }
  }

  #launch(m: Extract<ToSupervisor, { op: 'launch' }>): void {
    const p = spawnTied(m.command, { ...(m.cwd ? { cwd: m.cwd } : {}), env: m.env });
    this.#processes.set(m.id, p);
    const unit = this.#units.get(m.unit) ?? new Set<string>();
    unit.add(m.id);
    this.#units.set(m.unit, unit);
    if (p.pid !== undefined) this.#reply({ op: 'started', id: m.id, pid: p.pid });
    p.onOutput((stream, data) => this.#reply({ op: 'output', id: m.id, stream, data: data.toString('base64') }));
    p.onExit((code, error) => {
      if (this.#processes.get(m.id) === p) this.#processes.delete(m.id);
      unit.delete(m.id);
      // Died unasked: its partners go now, before any more requests reach them (the control
      // plane hears of it a moment later and replaces the replica).
      if (!this.#asked.delete(m.id)) for (const other of unit) this.#processes.get(other)?.kill('SIGKILL');
      if (unit.size === 0) this.#units.delete(m.unit);
      this.#reply({ op: 'exit', id: m.id, code, ...(error ? { error } : {}) });
    });
  }

  /** Ends every process still running: SIGTERM, then SIGKILL after `graceMs`. */
  async stopAll(graceMs: number): Promise<void> {
    const all = [...this.#processes.values()].filter((p) => p.running);
    await Promise.all(
      all.map(
        (p) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => p.kill('SIGKILL'), graceMs);
            p.onExit(() => {
              clearTimeout(timer);
              p.kill('SIGKILL');
              resolve();
            });
            p.kill('SIGTERM');
          }),
      ),
    );
  }
}
