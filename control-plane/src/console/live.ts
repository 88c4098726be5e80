import { type Labels, latencyQuantile, PrometheusWriter, type RouterStats } from '@skiff/shared';
import { eachInSlices, slicedTimer } from '../slices.ts';
import { SeriesRing } from './ring.ts';
import type { Sample, SeriesField } from './series.ts';
import { seriesFields } from './series.ts';

/** What the control plane knows about one revision right now (any figure may be unknown). */
export type RevisionFigures = Partial<Record<SeriesField, number>>;

export interface LiveDeps {
  /**
   * The revisions that exist now (rings of others are dropped). The same array while they stay
   * the same: only a new array is looked through for revisions that came or went.
   */
  revisions(): readonly { namespace: string; name: string }[];
  /** The autoscaler's and backend's figures for a revision (replicas' load, desired, actual, target). */
  figures(namespace: string, name: string): RevisionFigures;
  /** The newest report of each router. */
  routerStats(): Iterable<RouterStats>;
  now?: () => number;
}

/** Router reports older than this no longer describe the present. */
const routerStaleMs = 3000;

/**
 * Merges the routers' reports for each revision: held, in flight and request rate add up over
 * routers, and so do 5xx; latency percentiles come from the routers' histograms added together
 * (each report's `latency` buckets), so they are those of every request the routers answered.
 */
export function routerFigures(reports: Iterable<RouterStats>, now: number): Map<string, RevisionFigures> {
  const out = new Map<string, RevisionFigures>();
  const latency = new Map<string, Map<number, number>>();
  for (const report of reports) {
    if (now - report.timestamp > routerStaleMs) continue;
    for (const r of report.revisions) {
      const key = `${r.namespace}/${r.revision}`;
      const f = out.get(key) ?? {};
      f.held = (f.held ?? 0) + r.averageHeld;
      f.rps = (f.rps ?? 0) + r.requestsPerSecond;
      if (r.responses !== undefined)
        f.errors5xx = (f.errors5xx ?? 0) + ((r.serverErrors ?? 0) * 1000) / report.periodMs;
      if (r.latency?.length) {
        const counts = latency.get(key) ?? new Map<number, number>();
        latency.set(key, counts);
        for (const [bucket, n] of r.latency) counts.set(bucket, (counts.get(bucket) ?? 0) + n);
      }
      out.set(key, f);
    }
  }
  for (const [key, counts] of latency) {
    const f = out.get(key) as RevisionFigures;
    for (const [field, q] of [
      ['p50', 0.5],
      ['p95', 0.95],
      ['p99', 0.99],
    ] as const) {
      const ms = latencyQuantile(counts, q);
      if (ms !== undefined) f[field] = ms;
    }
  }
  return out;
}

/** Joins the replicas' and the routers' view of a revision into one sample row. */
export function mergeFigures(replicas: RevisionFigures, routers: RevisionFigures | undefined): RevisionFigures {
  if (!routers) return replicas;
  const f: RevisionFigures = { ...replicas };
  // Every request passes a router: its count is the truth when the replicas saw fewer.
  if (routers.rps !== undefined) f.rps = Math.max(f.rps ?? 0, routers.rps);
  for (const k of ['held', 'errors5xx', 'p50', 'p95', 'p99'] as const) {
    if (routers[k] !== undefined) f[k] = routers[k];
  }
  return f;
}

export type LiveListener = (second: number, samples: Map<string, Sample>) => void;

/** A revision the series follows: its ring and its newest sample. */
interface Followed {
  namespace: string;
  name: string;
  key: string;
  ring: SeriesRing;
  /** The newest second sampled and its figures in `seriesFields` order (for `/metrics`). */
  second: number | undefined;
  row: (number | null)[];
}

/** One second's sample as it is taken. */
interface Sweep {
  second: number;
  routers: Map<string, RevisionFigures>;
  followed: readonly Followed[];
  samples: Map<string, Sample> | undefined;
}

/**
 * Samples every revision once a second into its ring (the last hour) and hands each second's
 * samples to the console's event streams.
 *
 * At 10,000 revisions this runs 10,000 times a second whatever the API does, so a second's work
 * per revision is kept to asking its figures and writing them into its ring: the list of
 * revisions is looked through only when it is a new one, keys and rings are kept, and a second's
 * samples are gathered into a map only while someone listens (it was 16% of the control plane's
 * CPU samples under creates at 10,000 services, `bench/scale.mjs --profile`).
 */
export class LiveSeries {
  #deps: LiveDeps;
  /** Every revision with a ring, by `namespace/name`. */
  #rings = new Map<string, Followed>();
  /** The revisions sampled each second (those of `revisions()`), and the list they came from. */
  #followed: Followed[] = [];
  #list: readonly { namespace: string; name: string }[] | undefined;
  #listeners = new Set<LiveListener>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #now: () => number;

  constructor(deps: LiveDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
  }

  start(): void {
    this.#timer = slicedTimer(1000, () => this.#sampleInSlices());
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#listeners.clear();
  }

  /** Takes one sample of every revision at once. */
  sample(): void {
    const sweep = this.#begin();
    for (const r of sweep.followed) this.#sampleOne(sweep, r);
    this.#end(sweep);
  }

  /**
   * One sample of every revision in slices of the event loop (`eachInSlices`), as the timer takes
   * it: a second's 10,000 revisions sampled in one go held the loop for 30–170 ms (load 7).
   */
  async #sampleInSlices(): Promise<void> {
    const sweep = this.#begin();
    const whole = await eachInSlices(
      sweep.followed,
      (r) => this.#sampleOne(sweep, r),
      () => this.#timer === undefined,
    );
    if (whole) this.#end(sweep);
  }

  /** A second's sample starts: its second, the routers' figures and the revisions followed now. */
  #begin(): Sweep {
    const now = this.#now();
    const routers = routerFigures(this.#deps.routerStats(), now);
    const list = this.#deps.revisions();
    if (list !== this.#list || this.#rings.size !== this.#followed.length) this.#follow(list);
    return {
      second: Math.floor(now / 1000),
      routers,
      followed: this.#followed,
      samples: this.#listeners.size > 0 ? new Map<string, Sample>() : undefined,
    };
  }

  #sampleOne({ second, routers, samples }: Sweep, r: Followed): void {
    const f = mergeFigures(this.#deps.figures(r.namespace, r.name), routers.get(r.key));
    const row = r.row;
    for (let i = 0; i < seriesFields.length; i++) row[i] = f[seriesFields[i] as SeriesField] ?? null;
    r.second = second;
    r.ring.write(second, row);
    samples?.set(r.key, [second, ...row]);
  }

  #end(sweep: Sweep): void {
    if (sweep.samples) for (const l of this.#listeners) l(sweep.second, sweep.samples);
  }

  /** Follows the revisions of `list`: rings of those that came are made, those of the ones gone dropped. */
  #follow(list: readonly { namespace: string; name: string }[]): void {
    const rings = new Map<string, Followed>();
    const followed: Followed[] = [];
    for (const { namespace, name } of list) {
      const key = `${namespace}/${name}`;
      const r = this.#rings.get(key) ?? { namespace, name, key, ring: new SeriesRing(), second: undefined, row: [] };
      rings.set(key, r);
      followed.push(r);
    }
    this.#rings = rings;
    this.#followed = followed;
    this.#list = list;
  }

  /** Writes one sample directly (benchmarks fill an hour this way). */
  write(key: string, second: number, row: readonly (number | null)[]): void {
    let r = this.#rings.get(key);
    if (!r) {
      const [namespace = '', name = ''] = key.split('/');
      r = { namespace, name, key, ring: new SeriesRing(), second: undefined, row: [] };
      this.#rings.set(key, r);
    }
    r.ring.write(second, row);
  }

  /**
   * The charts' figures on `/metrics`, from each revision's newest second (replicas desired and
   * actual are the autoscaler's `kn_revision_pods_*`); Knative's name where it has one.
   */
  metrics(): string[] {
    const families = new Map<string, [Labels, number][]>();
    const add = (name: string, labels: Labels, value: number | null | undefined) => {
      if (value === null || value === undefined) return;
      const rows = families.get(name) ?? [];
      rows.push([labels, value]);
      families.set(name, rows);
    };
    for (const { namespace, name: revision, second, row } of this.#followed) {
      if (second === undefined) continue;
      const labels = { namespace_name: namespace, revision_name: revision };
      const f = (field: SeriesField) => row[seriesFields.indexOf(field)];
      add('skiff_revision_requests_per_second', labels, f('rps'));
      for (const [field, quantile] of [
        ['p50', '0.5'],
        ['p95', '0.95'],
        ['p99', '0.99'],
      ] as const) {
        const ms = f(field);
        add(
          'skiff_revision_latency_seconds',
          { ...labels, quantile },
          ms === null || ms === undefined ? ms : ms / 1000,
        );
      }
      add('skiff_revision_concurrency', labels, f('concurrency'));
      add('skiff_revision_concurrency_capacity', labels, f('target'));
      add('kn_revision_request_queued', labels, f('held'));
      add('skiff_revision_server_errors_per_second', labels, f('errors5xx'));
    }
    const help: [string, string][] = [
      [
        'skiff_revision_requests_per_second',
        'Requests per second in the last second (replicas or routers, the larger).',
      ],
      ['skiff_revision_latency_seconds', 'Latency at the routers in the last second, by quantile.'],
      ['skiff_revision_concurrency', 'Requests in flight at the replicas (time-weighted average).'],
      ['skiff_revision_concurrency_capacity', 'The target concurrency (or rps) per replica times the ready replicas.'],
      ['kn_revision_request_queued', 'Requests held in routers waiting for capacity.'],
      ['skiff_revision_server_errors_per_second', 'Responses with a 5xx status per second.'],
    ];
    const w = new PrometheusWriter();
    for (const [name, text] of help) w.gauge(name, text, families.get(name) ?? []);
    return w.lines();
  }

  history(namespace: string, name: string, since?: number): Sample[] {
    return this.#rings.get(`${namespace}/${name}`)?.ring.read(since) ?? [];
  }

  subscribe(listener: LiveListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
