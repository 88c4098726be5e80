/**
 * A time-weighted average of a count that changes at instants (held or in-flight requests), as
 * Knative's concurrency reporter computes it: the area under the curve over the period divided by
 * the period's length. Time is passed in, never read, so tests can step it.
 */
export class TimeWeightedAverage {
  #value = 0;
  #since: number;
  #periodStart: number;
  #area = 0;

  constructor(now: number) {
    this.#since = now;
    this.#periodStart = now;
  }

  get value(): number {
    return this.#value;
  }

  set(value: number, now: number): void {
    this.#area += this.#value * (now - this.#since);
    this.#since = now;
    this.#value = value;
  }

  /** The average since the last report (or creation), then starts a new period. */
  report(now: number): number {
    this.#area += this.#value * (now - this.#since);
    const span = now - this.#periodStart;
    const average = span > 0 ? this.#area / span : this.#value;
    this.#area = 0;
    this.#since = now;
    this.#periodStart = now;
    return average;
  }
}
