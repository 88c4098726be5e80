/**
 * Draining before exit (Knative's `pkg/queue/drain.go`): once started, the queue-proxy reports not
 * ready but keeps serving; it is done when no request has arrived for the quiet period and none is
 * in flight. Every request that arrives while draining restarts the quiet period.
 */
export class Drainer {
  #draining = false;
  #lastRequestAt: number;
  #quietMs: number;
  #inFlight: () => number;
  #now: () => number;
  #done: Promise<void> | undefined;

  constructor(quietMs: number, inFlight: () => number, now: () => number = Date.now) {
    this.#quietMs = quietMs;
    this.#inFlight = inFlight;
    this.#now = now;
    this.#lastRequestAt = now();
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Marks a request's arrival. */
  touch(now: number): void {
    this.#lastRequestAt = now;
  }

  /** Starts draining (again is a no-op) and resolves once quiet. */
  drain(): Promise<void> {
    if (this.#done) return this.#done;
    this.#draining = true;
    this.#lastRequestAt = Math.max(this.#lastRequestAt, this.#now());
    this.#done = new Promise((resolve) => {
      const check = () => {
        const quietFor = this.#now() - this.#lastRequestAt;
        if (quietFor >= this.#quietMs && this.#inFlight() === 0) resolve();
        else setTimeout(check, Math.max(10, Math.min(this.#quietMs - quietFor, 250)));
      };
      check();
    });
    return this.#done;
  }
}
