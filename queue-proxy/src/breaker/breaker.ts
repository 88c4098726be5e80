/**
 * The breaker in front of the app (Knative's `pkg/queue/breaker.go`): at most `capacity` requests
 * in flight, up to `queueDepth` more waiting in arrival order, and anything past that refused.
 */
export interface Waiter {
  admit(): void;
  /** Set when the waiter gave up (client gone, timed out); it is skipped when its turn comes. */
  cancelled: boolean;
}

export class Breaker {
  readonly capacity: number;
  readonly queueDepth: number;
  #inFlight = 0;
  #queue: (Waiter | undefined)[] = [];
  #head = 0;
  #waiting = 0;

  constructor(capacity: number, queueDepth: number) {
    this.capacity = capacity;
    this.queueDepth = queueDepth;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.#waiting;
  }

  /**
   * Takes a slot now if one is free and nobody is waiting (`'admitted'`), else queues the waiter
   * (`'queued'`), else refuses (`'full'`).
   */
  enter(waiter: Waiter): 'admitted' | 'queued' | 'full' {
    if (this.#inFlight < this.capacity && this.#waiting === 0) {
      this.#inFlight++;
      return 'admitted';
    }
    if (this.#waiting >= this.queueDepth) return 'full';
    this.#queue.push(waiter);
    this.#waiting++;
    return 'queued';
  }

  /** Gives up a queued waiter's place. */
  cancel(waiter: Waiter): void {
    if (waiter.cancelled) return;
    waiter.cancelled = true;
    this.#waiting--;
  }

  /** Frees a slot and hands it to the longest-waiting live waiter. */
  leave(): void {
    this.#inFlight--;
    while (this.#head < this.#queue.length) {
      const next = this.#queue[this.#head];
      this.#queue[this.#head] = undefined;
      this.#head++;
      if (next && !next.cancelled) {
        this.#waiting--;
        this.#inFlight++;
        this.#compact();
        next.admit();
        return;
      }
    }
    this.#compact();
  }

  #compact(): void {
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }
}
