import type { RouterStats, RoutingService, RoutingSnapshot, SnapshotRevision } from '@skiff/shared';
import type { RouterConfig } from './config.ts';
import { Throttler } from './hold/throttler.ts';
import type { Random } from './routing/random.ts';
import {
  buildRoutingTable,
  type Resolution,
  RoutingTable,
  resolveRevision,
  revisionKey,
  type TableTls,
  updateRoutingTable,
} from './routing/table.ts';
import type { ControlPlane } from './snapshot/control-plane.ts';
import type { Applied, RoutingState } from './snapshot/state.ts';

export interface Logger {
  info(message: string): void;
  error(message: string): void;
}

export interface CoreOptions {
  config: RouterConfig;
  controlPlane: ControlPlane;
  random: Random;
  now: () => number;
  log: Logger;
}

/** A held revision is poked again at most this often while requests keep arriving for it. */
const pokeIntervalMs = 1_000;

/**
 * The router's state in one process (or one Durable Object): the routing table built from the
 * latest snapshot and a throttler per revision. It decides and counts; the runtime shells do the
 * sockets. Pokes the control plane when a revision starts holding requests, and builds the
 * per-second stats report of held and in-flight requests.
 */
export class RouterCore {
  readonly config: RouterConfig;
  table: RoutingTable = RoutingTable.empty();
  readonly throttlers = new Map<string, Throttler>();
  readonly #options: CoreOptions;
  readonly #lastPoke = new Map<string, number>();
  #lastReport: number;

  constructor(options: CoreOptions) {
    this.config = options.config;
    this.#options = options;
    this.#lastReport = options.now();
  }

  get random(): Random {
    return this.#options.random;
  }

  /** Swaps in a newer snapshot: a new table, and new endpoints for every throttler (releasing held requests). */
  applySnapshot(snapshot: RoutingSnapshot, replace = false): void {
    // `replace`: the control plane sent it in answer to our version (another epoch's may be lower).
    if (!replace && snapshot.version <= this.table.version) return;
    this.table = buildRoutingTable(snapshot, { serveClusterLocal: this.config.serveClusterLocal });
    for (const [key, throttler] of this.throttlers) {
      const revision = this.table.revisions.get(key);
      // A revision that left the snapshot gets no more endpoints; what it holds waits out its timeout.
      if (revision !== undefined) throttler.update(revision);
      else throttler.withdraw();
    }
  }

  /** Applies what `SnapshotSource` took in: a full snapshot rebuilds the table, a delta updates it. */
  applyUpdate(applied: Applied, state: RoutingState): void {
    if (applied.full) this.applySnapshot(state.snapshot(), true);
    else this.applyDelta(applied.version, applied.changed, state.tls);
  }

  /**
   * Applies a delta (to the version the table is at: `SnapshotSource` checks): only the services
   * in it are replaced in the table, and only their revisions' throttlers get new endpoints (or are
   * withdrawn).
   */
  applyDelta(version: number, changed: readonly RoutingService[], tls: TableTls = {}): void {
    const { table, touched } = updateRoutingTable(this.table, version, changed, tls, {
      serveClusterLocal: this.config.serveClusterLocal,
    });
    this.table = table;
    for (const key of touched) {
      const throttler = this.throttlers.get(key);
      if (throttler === undefined) continue;
      const revision = table.revisions.get(key);
      if (revision !== undefined) throttler.update(revision);
      else throttler.withdraw();
    }
  }

  resolve(host: string | null | undefined, tag: string | null | undefined): Resolution {
    return resolveRevision(this.table, host, this.config.tagHeaderRouting ? tag : undefined, this.#options.random);
  }

  throttler(revision: SnapshotRevision): Throttler {
    const key = revisionKey(revision.namespace, revision.name);
    let throttler = this.throttlers.get(key);
    if (throttler === undefined) {
      throttler = new Throttler(revision, {
        maxHeld: this.config.maxHeldPerRevision,
        random: this.#options.random,
        now: this.#options.now,
        onHeld: (t) => this.#poke(t),
      });
      this.throttlers.set(key, throttler);
    }
    return throttler;
  }

  /**
   * The stats for the period since the last report: every revision with requests, held or in flight
   * in it. Throttlers of revisions that left the snapshot are dropped once idle.
   */
  report(now: number): RouterStats | undefined {
    const periodMs = now - this.#lastReport;
    if (periodMs <= 0) return undefined;
    this.#lastReport = now;
    const revisions: RouterStats['revisions'] = [];
    const coldStarts: NonNullable<RouterStats['coldStarts']> = [];
    for (const [key, throttler] of this.throttlers) {
      coldStarts.push(...throttler.takeColdStarts());
      const load = throttler.load(now);
      if (load.requests > 0 || load.responses > 0 || load.averageHeld > 0 || load.averageInFlight > 0) {
        revisions.push({
          namespace: load.namespace,
          revision: load.revision,
          averageHeld: load.averageHeld,
          averageInFlight: load.averageInFlight,
          requestsPerSecond: (load.requests * 1000) / periodMs,
          ...(load.responses > 0
            ? { responses: load.responses, serverErrors: load.serverErrors, latency: load.latency }
            : {}),
        });
      } else if (!this.table.revisions.has(key) && throttler.idle) {
        this.throttlers.delete(key);
        this.#lastPoke.delete(key);
      }
    }
    if (revisions.length === 0 && coldStarts.length === 0) return undefined;
    return {
      router: this.config.routerName,
      timestamp: now,
      periodMs,
      revisions,
      ...(coldStarts.length > 0 ? { coldStarts } : {}),
    };
  }

  #poke(throttler: Throttler): void {
    const now = this.#options.now();
    const last = this.#lastPoke.get(throttler.key);
    if (last !== undefined && now - last < pokeIntervalMs) return;
    this.#lastPoke.set(throttler.key, now);
    this.#options.controlPlane
      .activate({ namespace: throttler.namespace, revision: throttler.name, held: throttler.held })
      .catch((error: unknown) => {
        // Let the next held request poke again rather than wait out the interval.
        this.#lastPoke.delete(throttler.key);
        this.#options.log.error(`poking the control plane for ${throttler.key} failed: ${message(error)}`);
      });
  }
}

export function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
