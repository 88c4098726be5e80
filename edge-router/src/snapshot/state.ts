import {
  isRoutingDelta,
  type RoutingService,
  type RoutingSnapshot,
  type RoutingTls,
  type RoutingUpdate,
  routingKey,
  routingServices,
  routingTls,
  snapshotOf,
} from '@skiff/shared';

/** What applying an answer changed. */
export interface Applied {
  version: number;
  /** A full snapshot replaced everything (rebuild the table from `snapshot()`). */
  full: boolean;
  /** The services a delta replaced (empty parts are removals); every service on a full one. */
  changed: RoutingService[];
}

/**
 * The router's copy of the routing snapshot, as services' parts: a full snapshot replaces it, a
 * delta replaces the parts it names, and only when it applies to exactly the version held.
 */
export class RoutingState {
  #version: number | undefined;
  #epoch: string | undefined;
  #generatedAt = '';
  #parts = new Map<string, RoutingService>();
  #tls: RoutingTls = {};
  #snapshot: RoutingSnapshot | undefined;

  constructor(initial?: RoutingSnapshot) {
    if (initial) this.apply(initial);
  }

  get version(): number | undefined {
    return this.#version;
  }

  /** The control plane run the version is from (sent back with it). */
  get epoch(): string | undefined {
    return this.#epoch;
  }

  /** Certificates and ACME challenges (whole in every answer). */
  get tls(): RoutingTls {
    return this.#tls;
  }

  /** Forgets the version held, so the next answer is a full snapshot. */
  reset(): void {
    this.#version = undefined;
    this.#epoch = undefined;
  }

  /** Applies an answer; `undefined` when it is a delta from another version (ask again from none). */
  apply(update: RoutingUpdate): Applied | undefined {
    if (isRoutingDelta(update)) {
      if (update.since !== this.#version || update.epoch !== this.#epoch) return undefined;
      for (const part of update.services) {
        const key = routingKey(part.namespace, part.name);
        if (part.route === undefined && part.revisions.length === 0) this.#parts.delete(key);
        else this.#parts.set(key, part);
      }
      this.#set(update.version, update.epoch, update.generatedAt, update);
      return { version: update.version, full: false, changed: update.services };
    }
    this.#parts = routingServices(update);
    this.#set(update.version, update.epoch, update.generatedAt, update);
    this.#snapshot = update;
    return { version: update.version, full: true, changed: [...this.#parts.values()] };
  }

  #set(version: number, epoch: string | undefined, generatedAt: string, tls: RoutingTls): void {
    this.#tls = routingTls(tls);
    this.#version = version;
    this.#epoch = epoch;
    this.#generatedAt = generatedAt;
    this.#snapshot = undefined;
  }

  /** The whole snapshot held (made on demand, once per version). */
  snapshot(): RoutingSnapshot {
    this.#snapshot ??= snapshotOf(this.#version ?? -1, this.#epoch, this.#generatedAt, this.#parts, this.#tls);
    return this.#snapshot;
  }
}
