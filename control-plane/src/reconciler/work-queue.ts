/**
 * A keyed work queue for level-triggered reconciling: a key queued twice runs once, a key never
 * runs twice at the same time (a change during a run queues it again), at most `concurrency` keys
 * run at once, and a failing key is retried with exponential backoff.
 */
export class WorkQueue {
  #queued = new Set<string>();
  #order: string[] = [];
  #running = new Set<string>();
  #dirty = new Set<string>();
  #failures = new Map<string, number>();
  #retryTimers = new Map<string, ReturnType<typeof setTimeout>>();
  #idleWaiters: (() => void)[] = [];
  #work: (key: string) => Promise<void>;
  #concurrency: number;
  #onError: (key: string, error: unknown) => void;
  #stopped = false;

  constructor(
    work: (key: string) => Promise<void>,
    concurrency = 4,
    onError: (key: string, e: unknown) => void = () => {},
  ) {
    this.#work = work;
    this.#concurrency = concurrency;
    this.#onError = onError;
  }

  add(key: string): void {
    if (this.#stopped) return;
    if (this.#running.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#order.push(key);
    this.#pump();
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
    this.#order = [];
  }

  #idle(): boolean {
    return this.#queued.size === 0 && this.#running.size === 0 && this.#retryTimers.size === 0;
  }

  #pump(): void {
    while (this.#running.size < this.#concurrency && this.#order.length > 0) {
      const key = this.#order.shift() as string;
      this.#queued.delete(key);
      this.#running.add(key);
      void this.#run(key);
    }
    if (this.#idle()) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  async #run(key: string): Promise<void> {
    try {
      await this.#work(key);
      this.#failures.delete(key);
    } catch (e) {
      this.#onError(key, e);
      const n = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, n);
      const delay = Math.min(30_000, 100 * 2 ** (n - 1));
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
