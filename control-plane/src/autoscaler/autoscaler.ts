import { Agent, request } from 'node:http';
import {
  type AutoscalerConfig,
  autoscalerDefaults,
  type Labels,
  PrometheusWriter,
  type RevisionAutoscaling,
  type RouterStats,
  resolveAutoscaling,
  type Stat,
  StatSchema,
} from '@skiff/shared';
import type { WorkloadBackend } from '../backends/backend.ts';
import type { ScaleSource } from '../reconciler/reconciler.ts';
import { eachInSlices, slicedTimer } from '../slices.ts';
import type { RevisionRow } from '../store/schema.ts';
import type { Store } from '../store/store.ts';
import { WindowBuckets } from './buckets.ts';
import { type DeciderResult, type DeciderState, decide, newDeciderState } from './decider.ts';
import { sampleSize } from './sample.ts';
import { applyScale, newScalerState, type ScalerState } from './scale.ts';

/** One evaluation of a revision: what went in and what came out (`skiff revision describe`). */
export interface ScalingDecision {
  at: string;
  /** Observed load over the stable and panic windows; undefined without data. */
  stable?: number;
  panic?: number;
  metric: 'concurrency' | 'rps';
  target: number;
  readyPods: number;
  routed: boolean;
  inPanic: boolean;
  excessBurstCapacity?: number;
  /** The decider's number before bounds and the grace period. */
  want?: number;
  desired: number;
  reason: string;
}

export interface AutoscalerOptions {
  store: Store;
  backend: WorkloadBackend;
  config?: AutoscalerConfig;
  /** Reconcile a service (its revision's desired scale changed). */
  enqueue(namespace: string, service: string): void;
  now?: () => number;
  /** Fetches one replica's stats; defaults to an HTTP GET with a 3 s timeout. */
  scrape?: (url: string) => Promise<Stat>;
  random?: () => number;
  log?: (message: string) => void;
}

interface Tracked {
  namespace: string;
  name: string;
  service: string;
  settings: RevisionAutoscaling;
  routed: boolean;
  wanted: boolean;
  /** Concurrency (replicas' in-flight plus the routers' held requests) and requests per second. */
  stableConcurrency: WindowBuckets;
  panicConcurrency: WindowBuckets;
  stableRps: WindowBuckets;
  panicRps: WindowBuckets;
  /** What the routers saw, kept apart for rps: max(replicas, routers) since every request passes a router. */
  stableRouterRps: WindowBuckets;
  panicRouterRps: WindowBuckets;
  decider?: DeciderState;
  scaler: ScalerState;
  scraping: boolean;
  last?: DeciderResult;
  history: ScalingDecision[];
  /** The replicas' load in the newest second heard (the console charts it). */
  heard?: { second: number; at: number; concurrency: number; rps: number };
}

const historyLength = 20;
/** Ticks between sweeps of the revisions not evaluated (forgetting deleted ones): a minute at 2 s. */
const sweepEveryTicks = 30;

/** One tick as it runs (in slices, for the timer). */
interface Tick {
  sweep: boolean;
  heard: Set<Tracked>;
  entries: IterableIterator<[string, Tracked]>;
}

/**
 * The KPA: takes each replica's 1 s stats (pushed by its queue-proxy, or scraped where the
 * backend offers scrape targets), adds the routers' held requests, and every tick decides the
 * replicas of each revision that has replicas or heard demand (pure `decide` + `applyScale`);
 * a revision at zero that heard nothing costs nothing. A change is written to the audit log and
 * handed to the reconciler, which asks the backend.
 */
export class Autoscaler implements ScaleSource {
  readonly config: AutoscalerConfig;
  #o: AutoscalerOptions;
  #now: () => number;
  #revisions = new Map<string, Tracked>();
  #timers: ReturnType<typeof setInterval>[] = [];
  /** Revisions that heard stats or demand since the last tick. */
  #heard = new Set<Tracked>();
  #ticks = 0;
  #statsHeard = 0;
  #agent = new Agent({ keepAlive: true, maxSockets: 4 });

  constructor(o: AutoscalerOptions) {
    this.#o = o;
    this.config = o.config ?? autoscalerDefaults;
    this.#now = o.now ?? Date.now;
  }

  start(): void {
    this.#timers.push(
      setInterval(() => this.scrapeAll(), this.config.scrapeIntervalMs),
      slicedTimer(this.config.tickIntervalMs, () => this.#tickInSlices()),
    );
    for (const t of this.#timers) t.unref();
  }

  stop(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    this.#agent.destroy();
  }

  /** How many revisions the autoscaler follows (idle ones included). */
  get tracked(): number {
    return this.#revisions.size;
  }

  /** Replicas' stats taken since the start (pushed lines and scrape answers). */
  get statsHeard(): number {
    return this.#statsHeard;
  }

  /** The reconciler removed a deleted revision's workload: stop following it. */
  forget(namespace: string, revision: string): void {
    this.#revisions.delete(`${namespace}/${revision}`);
  }

  /** The reconciler asks: how many replicas should this revision have? */
  desired(row: RevisionRow, wanted: boolean, routed = wanted): number {
    const key = `${row.namespace}/${row.name}`;
    let t = this.#revisions.get(key);
    if (!wanted) {
      // Unrouted: no replicas, and a fresh start (initial scale) if traffic comes back.
      this.#revisions.delete(key);
      return 0;
    }
    const settings = resolveAutoscaling(row.annotations, row.spec.containerConcurrency ?? 0, this.config);
    if (!t) {
      t = this.#track(row, settings);
      this.#revisions.set(key, t);
    }
    t.settings = settings;
    t.wanted = wanted;
    if (t.routed !== routed) {
      t.routed = routed;
      // Bounds depend on being routed (min-scale): apply them now, not at the next tick.
      this.#evaluate(t, false);
    }
    return t.scaler.desired;
  }

  /** A router holds requests for a revision with no capacity: count them and decide at once. */
  activate(namespace: string, revision: string, held = 1): void {
    const t = this.#revisions.get(`${namespace}/${revision}`) ?? this.#trackStored(namespace, revision);
    if (!t) return;
    const now = this.#now();
    this.#record(t, 'concurrency', now, Math.max(1, held));
    this.#heard.add(t);
    this.#evaluate(t, true);
  }

  /**
   * One replica's stats for the second that just ended, as its queue-proxy pushes them: added to
   * its revision's second (the replicas of one second add up, as a scrape sums them). A revision
   * the autoscaler does not follow (deleted, or not routed) is ignored.
   */
  replicaStat(stat: Stat): void {
    const t = this.#revisions.get(`${stat.namespace}/${stat.revision}`);
    if (!t) return;
    this.#statsHeard++;
    this.#replicasHeard(t, this.#now(), stat.averageConcurrency, stat.requestsPerSecond);
  }

  /** One router's report: held requests are demand the replicas cannot see yet. */
  routerStats(stats: RouterStats): void {
    const now = this.#now();
    for (const r of stats.revisions) {
      const t = this.#revisions.get(`${r.namespace}/${r.revision}`);
      if (!t) continue;
      this.#record(t, 'concurrency', now, r.averageHeld);
      t.stableRouterRps.record(now, r.requestsPerSecond);
      t.panicRouterRps.record(now, r.requestsPerSecond);
      this.#heard.add(t);
      // A revision at zero with demand ticks at once (Knative's poke).
      if (t.scaler.desired === 0 && r.averageHeld > 0) this.#evaluate(t, true);
    }
  }

  /**
   * Scrapes every wanted revision's ready replicas once (all up to 3, a sample above), where the
   * backend offers scrape targets; resolves when every answer is in.
   */
  scrapeAll(): Promise<void> {
    const scrapeTargets = this.#o.backend.scrapeTargets?.bind(this.#o.backend);
    if (!scrapeTargets) return Promise.resolve();
    const pending: Promise<void>[] = [];
    for (const t of this.#revisions.values()) {
      if (t.scraping) continue;
      const targets = scrapeTargets(t.namespace, t.name);
      if (targets.length === 0) continue;
      const n = sampleSize(targets.length);
      const sample = shuffle([...targets], this.#o.random ?? Math.random).slice(0, n);
      t.scraping = true;
      pending.push(
        Promise.allSettled(sample.map((s) => this.#scrape(s.url))).then((results) => {
          t.scraping = false;
          const stats = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
          if (stats.length === 0) return;
          this.#statsHeard += stats.length;
          const scaleUp = targets.length / stats.length;
          const sum = (f: (s: Stat) => number) => stats.reduce((a, s) => a + f(s), 0) * scaleUp;
          this.#replicasHeard(
            t,
            this.#now(),
            sum((s) => s.averageConcurrency),
            sum((s) => s.requestsPerSecond),
          );
        }),
      );
    }
    return Promise.all(pending).then(() => undefined);
  }

  /**
   * Decides each revision that heard something since the last tick or has replicas wanted (their
   * windows age and the grace period runs out even in silence); a revision at zero that heard
   * nothing would only be decided zero again. A deleted revision is forgotten when the reconciler
   * removes its workload (`forget`), and every `sweepEveryTicks` ticks all are checked against the
   * store as well: a store lookup per revision per tick was most of a tick at 10,000 revisions.
   */
  tickAll(): void {
    const tick = this.#startTick();
    for (const entry of tick.entries) this.#tickOne(tick, entry);
  }

  /**
   * A tick as the timer runs it, in slices of the event loop (`eachInSlices`). At 10,000
   * revisions with replicas a whole tick held the loop for 46–58 ms (load 7, measured in
   * process), and a change to a service waiting behind it reached the routers that much later.
   */
  async #tickInSlices(): Promise<void> {
    const tick = this.#startTick();
    await eachInSlices(
      tick.entries,
      (entry) => this.#tickOne(tick, entry),
      () => this.#timers.length === 0,
    );
  }

  /** A tick starts: whether it sweeps, and the revisions that heard something before it (later ones wait for the next). */
  #startTick(): Tick {
    const heard = this.#heard;
    this.#heard = new Set();
    return { sweep: ++this.#ticks % sweepEveryTicks === 0, heard, entries: this.#revisions.entries() };
  }

  #tickOne(tick: Tick, [key, t]: [string, Tracked]): void {
    if (tick.sweep && !this.#o.store.hasRevision(t.namespace, t.name)) this.#revisions.delete(key);
    else if (tick.heard.has(t) || t.scaler.desired > 0) this.#evaluate(t, true);
  }

  /** The replicas' load for one second (a sum over them), from pushes or a scrape. */
  #replicasHeard(t: Tracked, now: number, concurrency: number, rps: number): void {
    this.#record(t, 'concurrency', now, concurrency);
    this.#record(t, 'rps', now, rps);
    this.#heard.add(t);
    const second = Math.floor(now / 1000);
    if (t.heard?.second === second) {
      t.heard.at = now;
      t.heard.concurrency += concurrency;
      t.heard.rps += rps;
    } else t.heard = { second, at: now, concurrency, rps };
  }

  /** The last decisions for a revision, newest last. */
  decisions(namespace: string, revision: string): ScalingDecision[] {
    return [...(this.#revisions.get(`${namespace}/${revision}`)?.history ?? [])];
  }

  /**
   * A revision's live figures for the console: the replicas' load in the newest second heard (if within
   * 3 s), the replicas wanted and ready, and the target for the ready ones.
   */
  live(
    namespace: string,
    revision: string,
  ): {
    concurrency?: number;
    rps?: number;
    desired?: number;
    actual: number;
    target?: number;
  } {
    const actual = this.#o.backend.observe(namespace, revision).ready.length;
    const t = this.#revisions.get(`${namespace}/${revision}`);
    if (!t) return { actual };
    const fresh = t.heard && this.#now() - t.heard.at <= 3000 ? t.heard : undefined;
    return {
      actual,
      desired: t.scaler.desired,
      target: t.settings.target * actual,
      concurrency: fresh?.concurrency ?? (actual === 0 ? 0 : undefined),
      rps: fresh?.rps ?? (actual === 0 ? 0 : undefined),
    };
  }

  /**
   * Gauges for `/metrics`, one set per tracked revision, with the names Knative's autoscaler
   * exports (`kn.revision.*`, as its Prometheus exporter writes them): observed load under
   * `concurrency` or `rps` after the revision's metric.
   */
  metrics(): string[] {
    const now = this.#now();
    const families = {
      desired: [] as [Labels, number][],
      actual: [] as [Labels, number][],
      stable: [] as [Labels, number][],
      panic: [] as [Labels, number][],
      rpsStable: [] as [Labels, number][],
      rpsPanic: [] as [Labels, number][],
      target: [] as [Labels, number][],
      rpsTarget: [] as [Labels, number][],
      panicMode: [] as [Labels, number][],
      excess: [] as [Labels, number][],
    };
    for (const t of this.#revisions.values()) {
      const observed = this.#observed(t, now);
      const labels = { namespace: t.namespace, service: t.service, revision: t.name };
      const rps = t.settings.metric === 'rps';
      families.desired.push([labels, t.scaler.desired]);
      families.actual.push([labels, this.#o.backend.observe(t.namespace, t.name).ready.length]);
      (rps ? families.rpsStable : families.stable).push([labels, observed?.stable ?? 0]);
      (rps ? families.rpsPanic : families.panic).push([labels, observed?.panic ?? 0]);
      if (!rps) families.target.push([labels, t.settings.target]);
      else families.rpsTarget.push([labels, t.settings.target]);
      families.panicMode.push([labels, t.last?.inPanic ? 1 : 0]);
      families.excess.push([labels, t.last?.excessBurstCapacity ?? 0]);
    }
    return new PrometheusWriter()
      .gauge('kn_revision_pods_desired', 'Replicas the autoscaler wants.', families.desired)
      .gauge('kn_revision_pods_count', 'Replicas ready now.', families.actual)
      .gauge('kn_revision_concurrency_stable', 'Average concurrency over the stable window.', families.stable)
      .gauge('kn_revision_concurrency_panic', 'Average concurrency over the panic window.', families.panic)
      .gauge('kn_revision_concurrency_target', 'Target concurrency per replica.', families.target)
      .gauge('kn_revision_rps_stable', 'Requests per second over the stable window.', families.rpsStable)
      .gauge('kn_revision_rps_panic', 'Requests per second over the panic window.', families.rpsPanic)
      .gauge('kn_revision_rps_target', 'Target requests per second per replica.', families.rpsTarget)
      .gauge('kn_revision_panic_mode', '1 while the revision is in panic mode.', families.panicMode)
      .gauge('kn_revision_capacity_excess', 'Spare capacity beyond the target burst capacity.', families.excess)
      .lines();
  }

  /** A poke can come before the reconciler asked about a revision (just after a restart). */
  #trackStored(namespace: string, revision: string): Tracked | undefined {
    const row = this.#o.store.getRevision(namespace, revision);
    if (!row) return undefined;
    const t = this.#track(row, resolveAutoscaling(row.annotations, row.spec.containerConcurrency ?? 0, this.config));
    t.routed = true; // routers only hold requests for revisions that traffic reaches
    this.#revisions.set(`${namespace}/${revision}`, t);
    return t;
  }

  #track(row: RevisionRow, settings: RevisionAutoscaling): Tracked {
    const panicMs = settings.panicWindowMs;
    // After a restart, replicas may already run (Kubernetes): start from them, not the initial scale.
    const running = this.#o.backend.observe(row.namespace, row.name);
    const scaler =
      running.desired > 0
        ? { initialized: running.ready.length >= settings.initialScale, desired: running.desired }
        : newScalerState(settings);
    return {
      namespace: row.namespace,
      name: row.name,
      service: row.service,
      settings,
      routed: false,
      wanted: true,
      stableConcurrency: new WindowBuckets(settings.stableWindowMs),
      panicConcurrency: new WindowBuckets(panicMs),
      stableRps: new WindowBuckets(settings.stableWindowMs),
      panicRps: new WindowBuckets(panicMs),
      stableRouterRps: new WindowBuckets(settings.stableWindowMs),
      panicRouterRps: new WindowBuckets(panicMs),
      scaler,
      scraping: false,
      history: [],
    };
  }

  #record(t: Tracked, metric: 'concurrency' | 'rps', now: number, value: number): void {
    if (metric === 'concurrency') {
      t.stableConcurrency.record(now, value);
      t.panicConcurrency.record(now, value);
    } else {
      t.stableRps.record(now, value);
      t.panicRps.record(now, value);
    }
  }

  /** Observed load, or undefined when replicas run but nothing was heard from them yet. */
  #observed(t: Tracked, now: number): { stable: number; panic: number } | undefined {
    const algorithm = t.settings.aggregation;
    if (t.settings.metric === 'rps') {
      if (t.stableRps.isEmpty(now) && t.stableRouterRps.isEmpty(now)) return undefined;
      return {
        stable: Math.max(t.stableRps.average(now, algorithm), t.stableRouterRps.average(now, algorithm)),
        panic: Math.max(t.panicRps.average(now, algorithm), t.panicRouterRps.average(now, algorithm)),
      };
    }
    if (t.stableConcurrency.isEmpty(now)) return undefined;
    return { stable: t.stableConcurrency.average(now, algorithm), panic: t.panicConcurrency.average(now, algorithm) };
  }

  #evaluate(t: Tracked, runDecider: boolean): void {
    const now = this.#now();
    const readyPods = this.#o.backend.observe(t.namespace, t.name).ready.length;
    let observed = this.#observed(t, now);
    // A revision with no replicas and no demand reported is simply idle.
    if (!observed && readyPods === 0 && t.scaler.desired === 0) observed = { stable: 0, panic: 0 };
    let result: DeciderResult | undefined;
    if (runDecider && observed) {
      t.decider ??= newDeciderState(now, readyPods);
      const d = decide(t.decider, {
        now,
        stable: observed.stable,
        panic: observed.panic,
        readyPods,
        reachable: t.routed,
        settings: t.settings,
        maxScaleUpRate: this.config.maxScaleUpRate,
        maxScaleDownRate: this.config.maxScaleDownRate,
      });
      t.decider = d.state;
      t.last = d.result;
      result = d.result;
    }
    const before = t.scaler.desired;
    const applied = applyScale(t.scaler, {
      now,
      want: runDecider ? result?.desired : t.scaler.desired,
      readyPods,
      routed: t.routed,
      wanted: t.wanted,
      settings: t.settings,
      enableScaleToZero: this.config.enableScaleToZero,
      scaleToZeroGracePeriodMs: this.config.scaleToZeroGracePeriodMs,
    });
    t.scaler = applied.state;
    const decision: ScalingDecision = {
      at: new Date(now).toISOString(),
      ...(observed ? { stable: observed.stable, panic: observed.panic } : {}),
      metric: t.settings.metric,
      target: t.settings.target,
      readyPods,
      routed: t.routed,
      inPanic: t.last?.inPanic ?? false,
      ...(t.last ? { excessBurstCapacity: t.last.excessBurstCapacity } : {}),
      ...(result ? { want: result.desired } : {}),
      desired: t.scaler.desired,
      reason: applied.reason || result?.reason || 'unchanged',
    };
    const previous = t.history.at(-1);
    t.history.push(decision);
    if (t.history.length > historyLength) t.history.shift();
    const panicChanged = previous !== undefined && previous.inPanic !== decision.inPanic;
    if (before !== t.scaler.desired || panicChanged) {
      this.#o.store.record('autoscaler', 'scale', t.namespace, t.service, {
        revision: t.name,
        from: before,
        to: t.scaler.desired,
        ...decision,
      });
      if (before !== t.scaler.desired) this.#o.enqueue(t.namespace, t.service);
    }
  }

  #scrape(url: string): Promise<Stat> {
    if (this.#o.scrape) return this.#o.scrape(url);
    return new Promise((resolve, reject) => {
      const req = request(url, { agent: this.#agent, timeout: 3000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`stats: HTTP ${res.statusCode}`));
          try {
            resolve(StatSchema.parse(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
          } catch (e) {
            reject(e);
          }
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('stats: timed out')));
      req.on('error', reject);
      req.end();
    });
  }
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}
