import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The stat simulator's script (see its header for the options and the stdin commands). */
export const statSimulatorScript = fileURLToPath(new URL('./stat-simulator.mjs', import.meta.url));

export interface StatSimulator {
  /** Replicas impersonated, across all revisions. */
  replicas: number;
  /** The scrape server's ports (scrape mode; see --ports). */
  ports: number[];
  /** Sends one command line and resolves with its answer (one JSON line). */
  send(line: string): Promise<Record<string, unknown>>;
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts the simulator with these options (`['--revisions', '30', …]`) and waits for it to be ready. */
export async function startStatSimulator(args: string[]): Promise<StatSimulator> {
  const argv = [statSimulatorScript, ...args];
  // Tied to the test process where setpriv exists, as `start` in processes.ts.
  const child = existsSync('/usr/bin/setpriv')
    ? spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', process.execPath, ...argv], { stdio: 'pipe' })
    : spawn(process.execPath, argv, { stdio: 'pipe' });
  let err = '';
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const waiting: ((answer: Record<string, unknown>) => void)[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    waiting.push(resolve);
    void exited.then(() => reject(new Error(`stat simulator exited:\n${err}`)));
  });
  createInterface({ input: child.stdout }).on('line', (line) => waiting.shift()?.(JSON.parse(line)));
  const hello = await ready;
  return {
    replicas: hello.replicas as number,
    ports: hello.ports as number[],
    send(line) {
      return new Promise((resolve) => {
        waiting.push(resolve);
        child.stdin.write(`${line}\n`);
      });
    },
    stderr: () => err,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
