import type { AggregationAlgorithm } from '@skiff/shared';

/**
 * A metric over a sliding window of 1 s buckets (Knative's `TimedFloat64Buckets` and
 * `WeightedFloat64Buckets`, `pkg/autoscaler/aggregation`). Values recorded in the same second are
 * summed: that is how replicas' and routers' reports of one second add up. Time is passed in.
 */
export class WindowBuckets {
  readonly #granularityMs: number;
  readonly #buckets: Float64Array;
  /** Second (time / granularity) of the first and last write; -1 before any. */
  #first = -1;
  #last = -1;

  constructor(windowMs: number, granularityMs = 1000) {
    this.#granularityMs = granularityMs;
    this.#buckets = new Float64Array(Math.max(1, Math.ceil(windowMs / granularityMs)));
  }

  get windowMs(): number {
    return this.#buckets.length * this.#granularityMs;
  }

  record(atMs: number, value: number): void {
    const t = Math.floor(atMs / this.#granularityMs);
    if (this.#last >= 0 && t < this.#last - this.#buckets.length + 1) return; // older than the window
    const n = this.#buckets.length;
    if (this.#last < 0 || t - this.#last >= n) {
      // Nothing written for a whole window: start over.
      this.#buckets.fill(0);
      this.#first = t;
    } else {
      for (let s = this.#last + 1; s <= t; s++) this.#buckets[s % n] = 0;
    }
    if (t > this.#last) this.#last = t;
    this.#buckets[t % n] = (this.#buckets[t % n] ?? 0) + value;
  }

  /** True when nothing was written within the window ending at `nowMs`. */
  isEmpty(nowMs: number): boolean {
    return this.#last < 0 || Math.floor(nowMs / this.#granularityMs) - this.#last >= this.#buckets.length;
  }

  /**
   * `linear`: the sum of the window's buckets over the number of buckets from the first write to
   * the last (at most the window); seconds without a write in between count as 0. `weighted-exponential`: weights
   * α(1−α)^k from the current second back, α = max(1 − 0.0001^(1/buckets), 0.2), so seconds
   * with no data still decay the average. 0 when nothing was written within the window.
   */
  average(nowMs: number, algorithm: AggregationAlgorithm = 'linear'): number {
    if (this.isEmpty(nowMs)) return 0;
    const n = this.#buckets.length;
    const now = Math.max(Math.floor(nowMs / this.#granularityMs), this.#last);
    const oldest = now - n + 1;
    if (algorithm === 'weighted-exponential') {
      const alpha = Math.max(1 - 0.0001 ** (1 / n), 0.2);
      let weight = alpha * (1 - alpha) ** (now - this.#last);
      let total = 0;
      for (let s = this.#last; s >= Math.max(oldest, this.#first); s--) {
        total += (this.#buckets[s % n] ?? 0) * weight;
        weight *= 1 - alpha;
      }
      return round6(total);
    }
    let total = 0;
    for (let s = Math.max(oldest, this.#first); s <= this.#last; s++) total += this.#buckets[s % n] ?? 0;
    // Divided by the buckets from the first to the last write (at most the window): a second not
    // reported yet does not dilute a young series, while in a long one, seconds gone quiet count as 0.
    const buckets = Math.min(n, this.#last - this.#first + 1);
    return round6(total / buckets);
  }
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
