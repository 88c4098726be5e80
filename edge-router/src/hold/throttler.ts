import {
  type ColdStartReport,
  type ColdStartTimes,
  Histogram,
  latencyBucket,
  type SnapshotRevision,
} from '@skiff/shared';
import { type Cursor, type EndpointState, pickEndpoint } from '../balance/lb-policy.ts';
import type { Random } from '../routing/random.ts';
import { revisionKey } from '../routing/table.ts';
import { TimeWeightedAverage } from '../stats/time-weighted.ts';

/** A request's right to one slot on one endpoint, until it is released. */
export interface Lease {
  readonly endpoint: EndpointState;
  /** The request waited in the queue before it got this lease. */
  readonly held: boolean;
  /** For a held request: when it began and stopped waiting, and the revision's latest cold start then. */
  readonly wait?: HeldWait;
  released: boolean;
}

/** Bucket bounds (seconds) of the router's request-duration histogram on `/metrics`. */
export const routerLatencyBoundsSeconds: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/** How long a held request waited, and for what (`Server-Timing`). */
export interface HeldWait {
  readonly heldAt: number;
  readonly releasedAt: number;
  readonly coldStart: ColdStartTimes | undefined;
}

/** A request waiting for capacity; told once when it gets a lease. */
export interface Waiter {
  granted(lease: Lease): void;
}

export interface ThrottlerOptions {
  maxHeld: number;
  random: Random;
  now: () => number;
  /** Called when a request starts waiting (so the router can poke the autoscaler). */
  onHeld?: (throttler: Throttler) => void;
}

/** Cold starts a throttler keeps between two stats reports (one per start; more is a flood). */
const maxColdStartReports = 10;

/** Per-period figures of one revision, for the router's stats report. */
export interface RevisionLoad {
  namespace: string;
  revision: string;
  averageHeld: number;
  averageInFlight: number;
  requests: number;
  /** Responses finished, 5xx among them, and their latencies as `[bucket, count]` pairs. */
  responses: number;
  serverErrors: number;
  latency: [number, number][];
}

/**
 * One revision's capacity as this router sees it (Knative's revision throttler): its ready
 * endpoints with their in-flight counts, and a bounded FIFO of requests held until an endpoint has
 * a free slot. Capacity is containerConcurrency per endpoint (unlimited for 0), so a revision at
 * zero or saturated holds requests, and each release or new endpoint lets the oldest one go.
 * Synchronous and I/O-free: the router's shells do the waiting, timing out and forwarding.
 */
export class Throttler {
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  containerConcurrency: number;
  /** Sorted by URL, so "first available" means the same endpoint to every router. */
  endpoints: EndpointState[] = [];
  /** The revision's latest start from zero, from the snapshot. */
  coldStart: ColdStartTimes | undefined;
  /** Held requests, oldest first, with when each began waiting. */
  #queue = new Map<Waiter, number>();
  /** Cold starts reported since the last `load`, and the last one reported (one report per start). */
  #coldStarts: ColdStartReport[] = [];
  #reportedColdStart: number | undefined;
  #inFlight = 0;
  /**
   * Totals since the throttler was made, for the router's `/metrics` (Prometheus counters never
   * reset; the stats report's figures above are per period).
   */
  readonly totals = { requests: 0, responses: 0, serverErrors: 0, latency: new Histogram(routerLatencyBoundsSeconds) };
  #requests = 0;
  #responses = 0;
  #serverErrors = 0;
  readonly #latency = new Map<number, number>();
  #cursor: Cursor = { next: 0 };
  readonly #options: ThrottlerOptions;
  readonly #heldAverage: TimeWeightedAverage;
  readonly #inFlightAverage: TimeWeightedAverage;

  constructor(revision: SnapshotRevision, options: ThrottlerOptions) {
    this.key = revisionKey(revision.namespace, revision.name);
    this.namespace = revision.namespace;
    this.name = revision.name;
    this.containerConcurrency = revision.containerConcurrency;
    this.#options = options;
    const now = options.now();
    this.#heldAverage = new TimeWeightedAverage(now);
    this.#inFlightAverage = new TimeWeightedAverage(now);
    this.update(revision);
  }

  get held(): number {
    return this.#queue.size;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Takes in a newer snapshot's view of the revision, keeping counts of endpoints that stay. */
  update(revision: SnapshotRevision): void {
    this.containerConcurrency = revision.containerConcurrency;
    this.coldStart = revision.coldStart;
    const old = new Map(this.endpoints.map((e) => [e.url, e]));
    this.endpoints = revision.endpoints
      .map((e) => old.get(e.url) ?? { pod: e.pod, url: e.url, inFlight: 0 })
      .sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0));
    this.#drain();
  }

  /** The revision left the snapshot: no endpoint takes new requests (leases out keep their slots). */
  withdraw(): void {
    this.endpoints = [];
  }

  /** A lease at once, or the request joins the queue (`granted` comes later), or the queue is full. */
  enter(waiter: Waiter): Lease | 'queued' | 'full' {
    this.#requests++;
    this.totals.requests++;
    if (this.#queue.size === 0) {
      const endpoint = this.#pick();
      if (endpoint !== undefined) return this.#lease(endpoint, false);
    }
    if (this.#queue.size >= this.#options.maxHeld) return 'full';
    this.#queue.set(waiter, this.#options.now());
    this.#heldAverage.set(this.#queue.size, this.#options.now());
    this.#options.onHeld?.(this);
    return 'queued';
  }

  /** A waiter gives up (client gone, timeout): it leaves the queue at once. False if it was not queued. */
  cancel(waiter: Waiter): boolean {
    if (!this.#queue.delete(waiter)) return false;
    this.#heldAverage.set(this.#queue.size, this.#options.now());
    return true;
  }

  release(lease: Lease): void {
    if (lease.released) return;
    lease.released = true;
    lease.endpoint.inFlight--;
    this.#inFlight--;
    this.#inFlightAverage.set(this.#inFlight, this.#options.now());
    this.#drain();
  }

  /**
   * After `failed` refused the connection: a lease on another endpoint with a free slot, or
   * undefined. The failed lease is released either way.
   */
  retryElsewhere(failed: Lease): Lease | undefined {
    const skip = failed.endpoint;
    this.release(failed);
    const endpoint = pickEndpoint(this.endpoints, this.containerConcurrency, this.#options.random, this.#cursor, skip);
    return endpoint === undefined ? undefined : this.#lease(endpoint, failed.held, failed.wait);
  }

  /**
   * A request for this revision was answered, by its app or by the router (502, 503, 504), `ms`
   * after it arrived: counted for the rollout gate's error rate and latency.
   */
  answered(status: number, ms: number): void {
    this.#responses++;
    this.totals.responses++;
    if (status >= 500) {
      this.#serverErrors++;
      this.totals.serverErrors++;
    }
    this.totals.latency.observe(ms / 1000);
    const bucket = latencyBucket(ms);
    this.#latency.set(bucket, (this.#latency.get(bucket) ?? 0) + 1);
  }

  /**
   * A held request's response started: one report per cold start (its first answered request),
   * for the control plane's cold-start log.
   */
  coldStarted(at: number, decidedAt: number, phases: ColdStartReport['phases']): void {
    if (this.#reportedColdStart === decidedAt) return;
    this.#reportedColdStart = decidedAt;
    if (this.#coldStarts.length < maxColdStartReports) {
      this.#coldStarts.push({ namespace: this.namespace, revision: this.name, at, phases });
    }
  }

  /** Cold starts since the last call, for the stats report. */
  takeColdStarts(): ColdStartReport[] {
    const out = this.#coldStarts;
    this.#coldStarts = [];
    return out;
  }

  /** Averages and counts since the last call, for the stats report. */
  load(now: number): RevisionLoad {
    const load: RevisionLoad = {
      namespace: this.namespace,
      revision: this.name,
      averageHeld: this.#heldAverage.report(now),
      averageInFlight: this.#inFlightAverage.report(now),
      requests: this.#requests,
      responses: this.#responses,
      serverErrors: this.#serverErrors,
      latency: [...this.#latency],
    };
    this.#requests = 0;
    this.#responses = 0;
    this.#serverErrors = 0;
    this.#latency.clear();
    return load;
  }

  /** Nothing held or in flight: the router may forget this throttler once it left the snapshot. */
  get idle(): boolean {
    return this.#queue.size === 0 && this.#inFlight === 0;
  }

  #pick(): EndpointState | undefined {
    return pickEndpoint(this.endpoints, this.containerConcurrency, this.#options.random, this.#cursor);
  }

  #lease(endpoint: EndpointState, held: boolean, wait?: HeldWait): Lease {
    endpoint.inFlight++;
    this.#inFlight++;
    this.#inFlightAverage.set(this.#inFlight, this.#options.now());
    return wait === undefined ? { endpoint, held, released: false } : { endpoint, held, wait, released: false };
  }

  /** Lets held requests go, oldest first, while an endpoint has a free slot. */
  #drain(): void {
    if (this.#queue.size === 0) return;
    let changed = false;
    const now = this.#options.now();
    for (const [waiter, heldAt] of this.#queue) {
      const endpoint = this.#pick();
      if (endpoint === undefined) break;
      this.#queue.delete(waiter);
      changed = true;
      waiter.granted(this.#lease(endpoint, true, { heldAt, releasedAt: now, coldStart: this.coldStart }));
    }
    if (changed) this.#heldAverage.set(this.#queue.size, now);
  }
}
