/**
 * Skiff's one Prometheus writer (text exposition format 0.0.4), for every part's `/metrics`.
 * Written here rather than taken from prom-client: that one is Node-only and keeps its own global
 * registry, while the queue-proxy counts on its request path and the control plane renders figures
 * it already holds (revisions, rings, router reports) at scrape time; a family is written from
 * them in one call.
 */

export type Labels = Readonly<Record<string, string>>;

/** Counts per bucket (not cumulative) over `bounds`, plus the total count and sum. */
export class Histogram {
  readonly bounds: readonly number[];
  readonly counts: number[];
  count = 0;
  sum = 0;

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Array<number>(bounds.length).fill(0);
  }

  observe(value: number): void {
    this.count++;
    this.sum += value;
    for (let i = 0; i < this.bounds.length; i++) {
      if (value <= (this.bounds[i] as number)) {
        this.counts[i] = (this.counts[i] as number) + 1;
        return;
      }
    }
  }
}

/** Writes metric families: HELP and TYPE once, then each sample. */
export class PrometheusWriter {
  readonly #lines: string[] = [];

  counter(name: string, help: string, samples: Iterable<readonly [Labels, number]>): this {
    return this.#family(name, 'counter', help, samples);
  }

  gauge(name: string, help: string, samples: Iterable<readonly [Labels, number]>): this {
    return this.#family(name, 'gauge', help, samples);
  }

  histogram(name: string, help: string, samples: Iterable<readonly [Labels, Histogram]>): this {
    this.#head(name, 'histogram', help);
    for (const [labels, h] of samples) {
      let cumulative = 0;
      h.bounds.forEach((le, i) => {
        cumulative += h.counts[i] ?? 0;
        this.#lines.push(`${name}_bucket${labelText(labels, le)} ${cumulative}`);
      });
      this.#lines.push(`${name}_bucket${labelText(labels, '+Inf')} ${h.count}`);
      this.#lines.push(`${name}_sum${labelText(labels)} ${number(h.sum)}`);
      this.#lines.push(`${name}_count${labelText(labels)} ${h.count}`);
    }
    return this;
  }

  /** The families written so far, one line each. */
  lines(): string[] {
    return [...this.#lines];
  }

  text(): string {
    return this.#lines.length === 0 ? '' : `${this.#lines.join('\n')}\n`;
  }

  #family(name: string, type: string, help: string, samples: Iterable<readonly [Labels, number]>): this {
    this.#head(name, type, help);
    for (const [labels, value] of samples) this.#lines.push(`${name}${labelText(labels)} ${number(value)}`);
    return this;
  }

  #head(name: string, type: string, help: string): void {
    this.#lines.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
  }
}

function labelText(labels: Labels, le?: number | string): string {
  let out = '';
  for (const [k, v] of Object.entries(labels)) out += `${out ? ',' : ''}${k}="${escapeLabel(v)}"`;
  if (le !== undefined) out += `${out ? ',' : ''}le="${le}"`;
  return out ? `{${out}}` : '';
}

function number(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

/** A label value as the exposition format wants it: backslash, quote and newline escaped. */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
