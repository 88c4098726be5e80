import { type Backoff, backoffDelay } from '@skiff/shared';

/** A key whose work failed is retried after 100 ms, doubling up to 30 s (one retrier per key: exact). */
export const reconcileRetryBackoff: Backoff = { initialMs: 100, maxMs: 30_000, jitter: 0 };

/** How long queued work may run before the queue lets the event loop serve I/O (API, routers). */
const sliceMs = 10;

/** Keys in arrival order, with O(1) removal from the front (`Array.shift` copies a large array). */
class Fifo {
  #items: string[] = [];
  #head = 0;
  get length(): number {
    return this.#items.length - this.#head;
  }
  push(key: string): void {
    this.#items.push(key);
  }
  shift(): string | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const key = this.#items[this.#head++];
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return key;
  }
  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}

/**
 * A keyed work queue for level-triggered reconciling: a key queued twice runs once, a key never
 * runs twice at the same time (a change during a run queues it again), at most `concurrency` keys
 * run at once, and a failing key is retried with exponential backoff.
 *
 * Two lanes: keys added `background` (a resync of every service) run only when no other key waits,
 * so a change a user just made is not queued behind thousands of unchanged services; a background
 * key added again in the foreground moves to the foreground. And the queue never holds the event
 * loop for longer than about `sliceMs`: work whose promises resolve at once (the memory backend)
 * would otherwise run key after key as microtasks, and 10,000 of them left the API unable to
 * accept a connection for minutes after a restart.
 */
export class WorkQueue {
  /** Queued keys and their lane. */
  #queued = new Map<string, 'foreground' | 'background'>();
  #foreground = new Fifo();
  #background = new Fifo();
  #running = new Set<string>();
  #dirty = new Set<string>();
  #failures = new Map<string, number>();
  #retryTimers = new Map<string, ReturnType<typeof setTimeout>>();
  #idleWaiters: (() => void)[] = [];
  #work: (key: string) => Promise<void>;
  #concurrency: number;
  #onError: (key: string, error: unknown) => void;
  #stopped = false;
  #sliceStart = performance.now();
  #yielding: Promise<void> | undefined;

  constructor(
    work: (key: string) => Promise<void>,
    concurrency = 4,
    onError: (key: string, e: unknown) => void = () => {},
  ) {
    this.#work = work;
    this.#concurrency = concurrency;
    this.#onError = onError;
  }

  /** Queues `key`; `background` keys wait until no foreground key does. */
  add(key: string, lane: 'foreground' | 'background' = 'foreground'): void {
    if (this.#stopped) return;
    if (this.#running.has(key)) {
      this.#dirty.add(key);
      return;
    }
    const queued = this.#queued.get(key);
    if (queued === 'foreground' || queued === lane) return;
    // New, or promoted from the background (its entry there is skipped when reached).
    this.#queued.set(key, lane);
    (lane === 'foreground' ? this.#foreground : this.#background).push(key);
    this.#pump();
  }

  /** How many keys wait (not counting those running). */
  get pending(): number {
    return this.#queued.size;
  }

  /** Resolves once nothing is queued, running or waiting to retry. */
  whenIdle(): Promise<void> {
    if (this.#idle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#retryTimers.values()) clearTimeout(t);
    this.#retryTimers.clear();
    this.#queued.clear();
    this.#foreground.clear();
    this.#background.clear();
  }

  #idle(): boolean {
    return this.#queued.size === 0 && this.#running.size === 0 && this.#retryTimers.size === 0;
  }

  #next(): string | undefined {
    for (const [fifo, lane] of [
      [this.#foreground, 'foreground'],
      [this.#background, 'background'],
    ] as const) {
      for (let key = fifo.shift(); key !== undefined; key = fifo.shift()) {
        if (this.#queued.get(key) === lane) {
          this.#queued.delete(key);
          return key;
        }
      }
    }
    return undefined;
  }

  #pump(): void {
    while (this.#running.size < this.#concurrency && this.#queued.size > 0) {
      const key = this.#next();
      if (key === undefined) break;
      this.#running.add(key);
      void this.#run(key);
    }
    if (this.#idle()) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Lets the event loop run (timers, I/O) once the current slice of work is used up. */
  async #yield(): Promise<void> {
    if (performance.now() - this.#sliceStart < sliceMs) return;
    this.#yielding ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.#yielding = undefined;
        this.#sliceStart = performance.now();
        resolve();
      }),
    );
    await this.#yielding;
  }

  async #run(key: string): Promise<void> {
    try {
      await this.#yield();
      if (this.#stopped) return;
      await this.#work(key);
      this.#failures.delete(key);
    } catch (e) {
      this.#onError(key, e);
      const n = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, n);
      const delay = backoffDelay(n - 1, reconcileRetryBackoff);
      if (!this.#stopped) {
        const timer = setTimeout(() => {
          this.#retryTimers.delete(key);
          this.add(key);
        }, delay);
        timer.unref();
        this.#retryTimers.set(key, timer);
      }
    } finally {
      this.#running.delete(key);
      if (this.#dirty.delete(key)) this.add(key);
      this.#pump();
    }
  }
}
