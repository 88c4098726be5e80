import { ringSeconds, type Sample, seriesFields } from './series.ts';

const width = seriesFields.length;

/**
 * The last hour of one revision at 1 s resolution, in one preallocated Float32Array (slot =
 * second mod capacity), so memory is fixed per revision whatever the traffic: 3600 × 10 × 4 B.
 * NaN marks a second with no figure.
 */
export class SeriesRing {
  readonly capacity: number;
  #values: Float32Array;
  /** The newest second written, or undefined while empty. */
  #last: number | undefined;

  constructor(capacity = ringSeconds) {
    this.capacity = capacity;
    this.#values = new Float32Array(capacity * width).fill(Number.NaN);
  }

  /** Writes second `second` (Unix seconds); seconds skipped since the last write become gaps. */
  write(second: number, values: readonly (number | null | undefined)[]): void {
    const s = Math.floor(second);
    if (this.#last !== undefined) {
      if (s < this.#last - this.capacity + 1) return; // older than the ring
      // Clear the slots of seconds nobody wrote (at most the whole ring).
      for (let t = this.#last + 1; t < s && t <= this.#last + this.capacity; t++) this.#clear(t);
    }
    const base = (s % this.capacity) * width;
    for (let i = 0; i < width; i++) {
      const v = values[i];
      this.#values[base + i] = v === null || v === undefined || !Number.isFinite(v) ? Number.NaN : v;
    }
    if (this.#last === undefined || s > this.#last) this.#last = s;
  }

  /** The samples from `since` (Unix seconds, exclusive) to the newest, oldest first. */
  read(since = Number.NEGATIVE_INFINITY): Sample[] {
    if (this.#last === undefined) return [];
    const out: Sample[] = [];
    const first = Math.max(this.#last - this.capacity + 1, Math.floor(since) + 1);
    for (let s = first; s <= this.#last; s++) {
      const base = (s % this.capacity) * width;
      const sample: Sample = [s];
      let any = false;
      for (let i = 0; i < width; i++) {
        const v = this.#values[base + i] as number;
        if (Number.isNaN(v)) sample.push(null);
        else {
          sample.push(v);
          any = true;
        }
      }
      if (any) out.push(sample);
    }
    return out;
  }

  get newest(): number | undefined {
    return this.#last;
  }

  #clear(second: number): void {
    this.#values.fill(Number.NaN, (second % this.capacity) * width, (second % this.capacity) * width + width);
  }
}
