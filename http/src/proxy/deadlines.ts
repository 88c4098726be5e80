/**
 * One timer for every request's deadlines: a sweep every `intervalMs` finds requests past their
 * total, response-start or idle timeout. Cheaper on the request path than a timer per request, at
 * the cost of firing up to one interval late.
 */
export interface Timed {
  /** Returns which timeout has passed at `now` (a name for logs), if any. */
  expired(now: number): string | undefined;
  timeout(which: string): void;
}

export class Deadlines {
  #active = new Set<Timed>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #intervalMs: number;

  constructor(intervalMs = 50) {
    this.#intervalMs = intervalMs;
  }

  add(t: Timed): void {
    this.#active.add(t);
    if (!this.#timer) {
      this.#timer = setInterval(() => this.#sweep(), this.#intervalMs);
      this.#timer.unref();
    }
  }

  delete(t: Timed): void {
    this.#active.delete(t);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #sweep(): void {
    if (this.#active.size === 0) return;
    const now = Date.now();
    for (const t of this.#active) {
      const which = t.expired(now);
      if (which) {
        this.#active.delete(t);
        t.timeout(which);
      }
    }
  }
}
