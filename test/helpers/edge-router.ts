import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onFreePorts, repoRoot } from './processes.ts';

export type RouterRuntime = 'node' | 'deno' | 'workerd';

export interface RouterProc {
  runtime: RouterRuntime;
  port: number;
  url: string;
  output(): string;
  /** Kills the router and every process it started (Miniflare runs workerd; npm's deno is a wrapper). */
  stop(): Promise<void>;
}

const modules = join(repoRoot, 'node_modules');
const entry = (name: string) => join(repoRoot, 'edge-router', 'src', 'entry', `${name}.ts`);

/** The deno executable itself, not npm's wrapper script (which would outlive a kill as an orphan). */
function denoBinary(): string {
  const copied = join(modules, 'deno', 'deno');
  if (existsSync(copied)) return copied;
  for (const dir of readdirSync(join(modules, '@deno'))) {
    const candidate = join(modules, '@deno', dir, 'deno');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error('the deno npm package has no binary for this platform');
}

const running = new Set<RouterProc>();

/**
 * Starts the edge router in a real runtime on a free loopback port: Node (the raw-socket server),
 * Deno (`Deno.serve`) or workerd (Miniflare, offline, with the root wrangler.toml and its
 * Durable Objects). `env` holds the router's settings (`SKIFF_*`). Each router runs in its own
 * process group so that `stop()` ends its helpers too.
 */
export async function startRouter(runtime: RouterRuntime, env: Record<string, string>): Promise<RouterProc> {
  if (env.PORT) return startRouterOn(runtime, env, Number(env.PORT));
  return onFreePorts(1, ([port]) => startRouterOn(runtime, env, port as number));
}

async function startRouterOn(runtime: RouterRuntime, env: Record<string, string>, port: number): Promise<RouterProc> {
  const listen = { PORT: String(port), SKIFF_ROUTER_HOST: '127.0.0.1' };
  let command: string;
  let args: string[];
  let childEnv: Record<string, string>;
  let ready: RegExp;
  let scratch: string | undefined;
  if (runtime === 'node') {
    [command, args, childEnv, ready] = [
      process.execPath,
      ['--import', 'tsx', entry('node')],
      { ...env, ...listen },
      /serving :\d+/,
    ];
  } else if (runtime === 'deno') {
    command = denoBinary();
    args = ['run', '--allow-net', '--allow-env', '--allow-read', entry('deno')];
    childEnv = { ...env, ...listen, DENO_NO_UPDATE_CHECK: '1' };
    ready = /serving :\d+/;
  } else {
    // Miniflare, not `wrangler dev`: see workerd-router.ts (wrangler's proxy hides client disconnects).
    command = process.execPath;
    scratch = mkdtempSync(join(tmpdir(), 'skiff-workerd-'));
    args = ['--import', 'tsx', join(repoRoot, 'test', 'edge-router', 'workerd-router.ts'), scratch];
    childEnv = { ...env, ...listen };
    ready = /Ready on http/;
  }
  const child = spawn(command, args, {
    env: { ...process.env, ...childEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const proc: RouterProc = {
    runtime,
    port,
    url: `http://127.0.0.1:${port}`,
    output: () => out,
    stop: async () => {
      running.delete(proc);
      killGroup(child);
      await exited;
      if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
    },
  };
  running.add(proc);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      killGroup(child);
      reject(new Error(`router (${runtime}) not ready after 60 s:\n${out}`));
    }, 60_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`router (${runtime}) exited before ready:\n${out}`));
    });
  });
  return proc;
}

/** Stops every router the tests started (for `afterAll`). */
export async function stopRouters(): Promise<void> {
  await Promise.all([...running].map((r) => r.stop()));
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch (error) {
    // ESRCH: the whole group is gone already.
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}
