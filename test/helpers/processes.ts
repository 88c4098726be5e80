import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { queueProxyNodeFlags } from '@skiff/shared';
import { freePort, freePorts } from '../../control-plane/src/backends/local/replica.ts';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const testApp = fileURLToPath(new URL('../apps/app.mjs', import.meta.url));
const queueProxyMain = fileURLToPath(new URL('../../queue-proxy/src/main.ts', import.meta.url));

export { freePort, freePorts };

/** A start that failed because a port was taken (EADDRINUSE in its message or the process's output). */
export function portTaken(e: unknown): boolean {
  return e instanceof Error && /EADDRINUSE|address already in use/i.test(e.message);
}

/**
 * Starts something on `n` ports that were free a moment ago, choosing again when one of them was
 * taken in between (another process can bind a port after `freePorts` closed it and before ours
 * did). For programs that cannot listen on port 0 and say which port they got.
 */
export async function onFreePorts<T>(n: number, launch: (ports: number[]) => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const ports = await freePorts(n);
    try {
      return await launch(ports);
    } catch (e) {
      if (attempt >= attempts || !portTaken(e)) throw e;
    }
  }
}

export interface Proc {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

const running = new Set<Proc>();
const hasSetpriv = existsSync('/usr/bin/setpriv');

/** Starts a process and resolves once a line of its output matches `ready`. */
export function start(
  command: string,
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
  timeoutMs = 15_000,
): Promise<Proc> {
  // Tied to the test process where `setpriv` exists: a test run that dies (or a failed
  // afterAll) leaves nothing running. setpriv execs the command, so signals reach it directly.
  const [cmd, argv] = hasSetpriv ? ['setpriv', ['--pdeathsig', 'SIGKILL', '--', command, ...args]] : [command, args];
  const child = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  const proc: Proc = {
    child,
    output: () => out,
    exited,
    kill: (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
  running.add(proc);
  void exited.then(() => running.delete(proc));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready after ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve(proc);
      }
    };
    if (ready.test('')) {
      clearTimeout(timer);
      resolve(proc);
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ready:\n${out}`));
    });
  });
}

/** Kills every process the tests started (for `afterEach`). */
export async function stopAll(): Promise<void> {
  const all = [...running];
  for (const p of all) p.kill('SIGKILL');
  await Promise.all(all.map((p) => p.exited));
}

export interface App {
  proc: Proc;
  port: number;
  url: string;
}

/** Starts the test app (`test/apps/app.mjs`) on a free port. */
export async function startApp(env: Record<string, string> = {}, waitForListen = true, onPort?: number): Promise<App> {
  const launch = async (port: number): Promise<App> => {
    const proc = await start(
      process.execPath,
      [testApp],
      { PORT: String(port), ...env },
      waitForListen ? /app listening/ : /(?:)/,
    );
    return { proc, port, url: `http://127.0.0.1:${port}` };
  };
  // Without waiting for it to listen, a taken port shows later, as the app's exit.
  if (onPort !== undefined || !waitForListen) return launch(onPort ?? (await freePort()));
  return onFreePorts(1, ([port]) => launch(port as number));
}

export interface QueueProxyProc {
  proc: Proc;
  port: number;
  adminPort: number;
  metricsPort: number;
  url: string;
}

/** Starts the queue-proxy program in front of `userPort`, configured by Knative's env names. */
export async function startQueueProxy(userPort: number, env: Record<string, string> = {}): Promise<QueueProxyProc> {
  return onFreePorts(3, async (ports) => {
    const [port, adminPort, metricsPort] = ports as [number, number, number];
    const proc = await start(
      process.execPath,
      // With the Node flags it is deployed with (memory; shared/src/config/queue-proxy.ts).
      [...queueProxyNodeFlags, '--import', 'tsx', queueProxyMain],
      {
        USER_PORT: String(userPort),
        QUEUE_SERVING_PORT: String(port),
        QUEUE_ADMIN_PORT: String(adminPort),
        QUEUE_METRICS_PORT: String(metricsPort),
        SERVING_NAMESPACE: 'default',
        SERVING_SERVICE: 'hello',
        SERVING_CONFIGURATION: 'hello',
        SERVING_REVISION: 'hello-00001',
        SERVING_POD: 'hello-00001-pod',
        ...env,
      },
      /serving \S*:\d+/,
      // Loading its source through tsx takes a loaded machine (load 20 on 2 cores) over 15 s.
      60_000,
    );
    return { proc, port, adminPort, metricsPort, url: `http://127.0.0.1:${port}` };
  });
}

/** Runs the queue-proxy program with `env` and returns how it exited and what it printed. */
export async function runQueueProxyExpectingExit(
  env: Record<string, string>,
): Promise<{ code: number | string; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', queueProxyMain], {
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | string>((resolve) => child.once('exit', (c, s) => resolve(c ?? s ?? -1)));
  return { code, output };
}

/** Resident memory of a process in bytes (Linux). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

export interface ProcessInfo {
  pid: number;
  /** The command line, arguments joined by spaces. */
  command: string;
  env: Record<string, string>;
}

/** The live children of `parent` (Linux /proc), with their command lines and environments. */
export function childrenOf(parent: number): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces) in parentheses: state, ppid, ...
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) !== parent || state === 'Z') continue;
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      const env: Record<string, string> = {};
      for (const kv of readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0')) {
        const eq = kv.indexOf('=');
        if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
      }
      out.push({ pid: Number(entry), command, env });
    } catch {
      // Gone while we looked.
    }
  }
  return out;
}
