import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * How the local backend runs a replica's processes. Directly, as children of the control plane
 * (tests, embedded use); or, under `skiff up`, by asking the supervisor over its IPC channel, so
 * that replicas are the supervisor's children: they outlive a control-plane crash (a restarted
 * control plane adopts them) and still die with the supervisor (pdeathsig).
 */
export interface LaunchOptions {
  cwd?: string;
  env: NodeJS.ProcessEnv;
  /**
   * The processes of one unit (a replica's app and queue-proxy) end together: when one exits
   * unasked, the others are killed at once (a queue-proxy without its app only answers 502s).
   */
  unit: string;
}

export interface Launcher {
  /** Starts `command`; `id` names the process for adoption (unique per replica and role). */
  launch(id: string, command: string[], opts: LaunchOptions): LaunchedProcess;
  /** The processes still running from an earlier control plane, by id (empty when none can be). */
  running(): Promise<Map<string, LaunchedProcess>>;
}

export type Output = 'stdout' | 'stderr';

/** A process started by a launcher: its own process group, signalled as a whole. */
export interface LaunchedProcess {
  readonly pid: number | undefined;
  /** False once it has exited (or failed to start). */
  readonly running: boolean;
  /** Called once: with the exit code, or -1 for a signal; `error` when it could not start. */
  onExit(fn: (code: number, error?: string) => void): void;
  /** Called once the process has started (at once if it already has); never if it could not start. */
  onSpawn(fn: () => void): void;
  onOutput(fn: (stream: Output, data: Buffer) => void): void;
  /** Sends `signal` to its process group. */
  kill(signal: NodeJS.Signals): void;
}

// Children die with their parent even when it is killed outright: the kernel sends them SIGKILL
// when it goes (util-linux `setpriv --pdeathsig`, present on Debian and most Linux).
const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

/** argv that runs `command` tied to this process's life (pdeathsig) where the system allows. */
export function tiedToParent(command: string[]): string[] {
  return setpriv ? [setpriv, '--pdeathsig', 'SIGKILL', '--', ...command] : command;
}

/** Signals a whole process group; a group already gone is fine. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

/** A child process as a `LaunchedProcess`. */
export class ChildLaunched implements LaunchedProcess {
  readonly #child: ChildProcess;
  #exit: { code: number; error?: string } | undefined;
  #onExit: ((code: number, error?: string) => void)[] = [];
  #spawned = false;

  constructor(child: ChildProcess) {
    this.#child = child;
    const done = (code: number, error?: string) => {
      if (this.#exit) return;
      this.#exit = error === undefined ? { code } : { code, error };
      for (const fn of this.#onExit.splice(0)) fn(code, error);
    };
    child.once('error', (e: NodeJS.ErrnoException) => done(127, e.code === 'ENOENT' ? 'command not found' : e.message));
    child.once('exit', (code, signal) => done(code ?? (signal ? -1 : 0)));
    child.once('spawn', () => {
      this.#spawned = true;
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get running(): boolean {
    return this.#exit === undefined && this.#child.pid !== undefined;
  }

  onExit(fn: (code: number, error?: string) => void): void {
    if (this.#exit) fn(this.#exit.code, this.#exit.error);
    else this.#onExit.push(fn);
  }

  onSpawn(fn: () => void): void {
    if (this.#spawned) fn();
    else this.#child.once('spawn', fn);
  }

  onOutput(fn: (stream: Output, data: Buffer) => void): void {
    this.#child.stdout?.on('data', (d: Buffer) => fn('stdout', d));
    this.#child.stderr?.on('data', (d: Buffer) => fn('stderr', d));
  }

  kill(signal: NodeJS.Signals): void {
    if (this.#child.pid !== undefined) signalGroup(this.#child.pid, signal);
  }
}

/** Spawns `command` in its own process group, tied to this process, with piped output. */
export function spawnTied(command: string[], opts: { cwd?: string; env: NodeJS.ProcessEnv }): ChildLaunched {
  const [file = '', ...args] = tiedToParent(command);
  return new ChildLaunched(
    spawn(file, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true }),
  );
}

/** Replicas as children of this process: they die with it, and none outlive it to be adopted. */
export class DirectLauncher implements Launcher {
  launch(_id: string, command: string[], opts: LaunchOptions): LaunchedProcess {
    // Units are kept by the replica itself here: it hears of an exit first-hand.
    return spawnTied(command, { ...(opts.cwd ? { cwd: opts.cwd } : {}), env: opts.env });
  }

  async running(): Promise<Map<string, LaunchedProcess>> {
    return new Map();
  }
}
