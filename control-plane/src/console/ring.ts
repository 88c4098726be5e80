import { ringSeconds, type Sample, seriesFields } from './series.ts';

const width = seriesFields.length;
/** Runs a ring starts with room for (it doubles as needed, up to one per second of `capacity`). */
const initialRuns = 2;

/**
 * The last hour of one revision at 1 s resolution, as runs of equal seconds: consecutive seconds
 * with the same figures share one entry (first and last second, then the figures as Float32), so
 * an idle revision, whose figures stay the same, costs one run (48 bytes) whatever the hour, and a
 * busy one at most one run per second (48 B against the 40 B of a dense slot). A dense ring of
 * 3600 × 10 Float32 (144 KB) per revision, allocated up front, held 1.4 GB at 10,000 revisions.
 * Seconds nobody wrote, and seconds with no figure at all, are gaps.
 */
export class SeriesRing {
  readonly capacity: number;
  /** First and last second of each run (Unix seconds fit in 32 bits until 2106). */
  #seconds = new Uint32Array(initialRuns * 2);
  #values = new Float32Array(initialRuns * width);
  /** The oldest run's slot and the number of runs (a circular buffer of slots). */
  #head = 0;
  #count = 0;
  /** The newest second written, or undefined while empty. */
  #last: number | undefined;
  #row = new Float32Array(width);

  constructor(capacity = ringSeconds) {
    this.capacity = capacity;
  }

  /** Writes second `second` (Unix seconds); seconds skipped since the last write become gaps. */
  write(second: number, values: readonly (number | null | undefined)[]): void {
    const s = Math.floor(second);
    if (this.#last !== undefined && s <= this.#last) {
      if (s < this.#last - this.capacity + 1) return; // older than the ring
      this.#rewrite(s, values);
      return;
    }
    const row = this.#row;
    for (let i = 0; i < width; i++) {
      const v = values[i];
      row[i] = v === null || v === undefined || !Number.isFinite(v) ? Number.NaN : v;
    }
    this.#last = s;
    // Runs that ended before the window are gone.
    const first = s - this.capacity + 1;
    while (this.#count > 0 && (this.#seconds[this.#head * 2 + 1] as number) < first) {
      this.#head = (this.#head + 1) % this.#slots;
      this.#count--;
    }
    if (this.#count > 0) {
      const tail = (this.#head + this.#count - 1) % this.#slots;
      if (this.#seconds[tail * 2 + 1] === s - 1 && this.#sameRow(tail, row)) {
        this.#seconds[tail * 2 + 1] = s;
        return;
      }
    }
    if (this.#count === this.#slots) this.#grow();
    const slot = (this.#head + this.#count) % this.#slots;
    this.#seconds[slot * 2] = s;
    this.#seconds[slot * 2 + 1] = s;
    this.#values.set(row, slot * width);
    this.#count++;
  }

  /** The samples from `since` (Unix seconds, exclusive) to the newest, oldest first. */
  read(since = Number.NEGATIVE_INFINITY): Sample[] {
    if (this.#last === undefined) return [];
    const out: Sample[] = [];
    const first = Math.max(this.#last - this.capacity + 1, Math.floor(since) + 1);
    for (let k = 0; k < this.#count; k++) {
      const slot = (this.#head + k) % this.#slots;
      const end = this.#seconds[slot * 2 + 1] as number;
      if (end < first) continue;
      const figures: (number | null)[] = [];
      let any = false;
      for (let i = 0; i < width; i++) {
        const v = this.#values[slot * width + i] as number;
        if (Number.isNaN(v)) figures.push(null);
        else {
          figures.push(v);
          any = true;
        }
      }
      if (!any) continue;
      for (let t = Math.max(this.#seconds[slot * 2] as number, first); t <= end; t++) out.push([t, ...figures]);
    }
    return out;
  }

  get newest(): number | undefined {
    return this.#last;
  }

  /** Runs held (what the ring costs: 48 bytes each). */
  get runs(): number {
    return this.#count;
  }

  get #slots(): number {
    return this.#seconds.length / 2;
  }

  #sameRow(slot: number, row: Float32Array): boolean {
    for (let i = 0; i < width; i++) {
      const a = this.#values[slot * width + i] as number;
      const b = row[i] as number;
      if (a !== b && !(Number.isNaN(a) && Number.isNaN(b))) return false;
    }
    return true;
  }

  /** Doubles the room for runs, oldest first from slot 0. */
  #grow(): void {
    const slots = this.#slots * 2;
    const seconds = new Uint32Array(slots * 2);
    const values = new Float32Array(slots * width);
    for (let k = 0; k < this.#count; k++) {
      const from = (this.#head + k) % this.#slots;
      seconds[k * 2] = this.#seconds[from * 2] as number;
      seconds[k * 2 + 1] = this.#seconds[from * 2 + 1] as number;
      values.set(this.#values.subarray(from * width, from * width + width), k * width);
    }
    this.#seconds = seconds;
    this.#values = values;
    this.#head = 0;
  }

  /** Overwrites a second at or before the newest (rare: a clock stepped back): rebuilds the runs. */
  #rewrite(s: number, values: readonly (number | null | undefined)[]): void {
    const last = this.#last as number;
    const samples = this.read().filter((x) => x[0] !== s);
    samples.push([s, ...values.map((v) => (v === undefined ? null : v))]);
    samples.sort((a, b) => a[0] - b[0]);
    this.#head = 0;
    this.#count = 0;
    this.#last = undefined;
    for (const [t, ...row] of samples) this.write(t, row);
    // The newest second stays the newest, even where it had no figure.
    if (this.#last === undefined || this.#last < last) this.#last = last;
  }
}
