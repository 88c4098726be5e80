import type { LaunchedProcess, Launcher, LaunchOptions, Output } from './launcher.ts';

// The IPC channel between `skiff up`'s supervisor and its control-plane process. The control
// plane asks; the supervisor runs replicas as its own children and reports on them.

/** Control plane → supervisor. */
export type ToSupervisor =
  | { op: 'launch'; id: string; unit: string; command: string[]; cwd?: string; env: Record<string, string> }
  | { op: 'kill'; id: string; signal: NodeJS.Signals }
  | { op: 'list'; ref: number }
  | { op: 'up'; url: string; ca?: string; kubeconfig?: string };

/** Supervisor → control plane. */
export type FromSupervisor =
  | { op: 'started'; id: string; pid: number }
  | { op: 'exit'; id: string; code: number; error?: string }
  | { op: 'output'; id: string; stream: Output; data: string }
  | { op: 'list'; ref: number; processes: { id: string; pid: number }[] };

/** The end of the channel a process has when the supervisor started it with one. */
export interface Channel {
  send(message: ToSupervisor): void;
  on(event: 'message', listener: (message: FromSupervisor) => void): void;
}

/** A process the supervisor runs for this control plane. */
class SupervisedProcess implements LaunchedProcess {
  pid: number | undefined;
  #exit: { code: number; error?: string } | undefined;
  #onExit: ((code: number, error?: string) => void)[] = [];
  #onOutput: ((stream: Output, data: Buffer) => void)[] = [];
  #onSpawn: (() => void)[] = [];
  readonly #kill: (signal: NodeJS.Signals) => void;

  constructor(kill: (signal: NodeJS.Signals) => void, pid?: number) {
    this.#kill = kill;
    this.pid = pid;
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  exited(code: number, error?: string): void {
    if (this.#exit) return;
    this.#exit = error === undefined ? { code } : { code, error };
    for (const fn of this.#onExit.splice(0)) fn(code, error);
  }

  started(pid: number): void {
    this.pid = pid;
    for (const fn of this.#onSpawn.splice(0)) fn();
  }

  output(stream: Output, data: Buffer): void {
    for (const fn of this.#onOutput) fn(stream, data);
  }

  onExit(fn: (code: number, error?: string) => void): void {
    if (this.#exit) fn(this.#exit.code, this.#exit.error);
    else this.#onExit.push(fn);
  }

  onSpawn(fn: () => void): void {
    if (this.pid !== undefined) fn();
    else if (this.running) this.#onSpawn.push(fn);
  }

  onOutput(fn: (stream: Output, data: Buffer) => void): void {
    this.#onOutput.push(fn);
  }

  kill(signal: NodeJS.Signals): void {
    if (this.running) this.#kill(signal);
  }
}

/** Replicas run by the supervisor, asked over the IPC channel this process was started with. */
export class SupervisedLauncher implements Launcher {
  readonly #channel: Channel;
  readonly #processes = new Map<string, SupervisedProcess>();
  readonly #lists = new Map<number, (processes: { id: string; pid: number }[]) => void>();
  #ref = 0;

  constructor(channel: Channel) {
    this.#channel = channel;
    channel.on('message', (m) => this.#receive(m));
  }

  launch(id: string, command: string[], opts: LaunchOptions): LaunchedProcess {
    const p = this.#process(id);
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.env)) if (v !== undefined) env[k] = v;
    this.#channel.send({ op: 'launch', id, unit: opts.unit, command, ...(opts.cwd ? { cwd: opts.cwd } : {}), env });
    return p;
  }

  running(): Promise<Map<string, LaunchedProcess>> {
    const ref = ++this.#ref;
    return new Promise((resolve) => {
      this.#lists.set(ref, (list) => {
        const out = new Map<string, LaunchedProcess>();
        for (const { id, pid } of list) out.set(id, this.#process(id, pid));
        resolve(out);
      });
      this.#channel.send({ op: 'list', ref });
    });
  }

  #process(id: string, pid?: number): SupervisedProcess {
    const p = new SupervisedProcess((signal) => this.#channel.send({ op: 'kill', id, signal }), pid);
    this.#processes.set(id, p);
    return p;
  }

  #receive(m: FromSupervisor): void {
    if (m.op === 'list') {
      this.#lists.get(m.ref)?.(m.processes);
      this.#lists.delete(m.ref);
      return;
    }
    const p = this.#processes.get(m.id);
    if (!p) return;
    if (m.op === 'started') p.started(m.pid);
    else if (m.op === 'output') p.output(m.stream, Buffer.from(m.data, 'base64'));
    else {
      this.#processes.delete(m.id);
      p.exited(m.code, m.error);
    }
  }
}
