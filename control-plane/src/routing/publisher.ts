import { randomUUID } from 'node:crypto';
import {
  type RoutingDelta,
  type RoutingService,
  type RoutingSnapshot,
  type RoutingTls,
  type RoutingUpdate,
  routingEpoch,
  routingEpochSize,
  routingKey,
  routingTls,
  snapshotOf,
} from '@skiff/shared';

/** Changes kept for deltas: a router further behind than this gets a full snapshot. */
const defaultLogSize = 10_000;

/**
 * Holds the routing snapshot as services' parts and hands routers what they lack: a delta of the
 * services changed since their version, or the full snapshot on first contact, when they are too
 * far behind (their version left the change log) or from another epoch. A change to one service
 * costs work for that service only; the full document is made only when a router needs it (and
 * once per version). Routers that are current long-poll. The version moves only on a real change.
 */
export class RoutingPublisher {
  readonly epoch: number;
  /** This run's epoch on the wire (random: numbers may repeat in another database). */
  readonly id: string = randomUUID();
  #base: number;
  #n = 0;
  #generatedAt = new Date().toISOString();
  /** Each service's part and its JSON (to tell a real change). */
  #parts = new Map<string, { part: RoutingService; text: string }>();
  /**
   * `(n, key)` per changed service per version, oldest first, from `#logHead` on (entries before it
   * are dropped: the array is compacted once they are as many as `logSize`, not on every change, which
   * copied 10,000 entries per change at 10,000 services); `#logStart` is the first n it covers.
   */
  #log: { n: number; key: string }[] = [];
  #logHead = 0;
  #logStart = 1;
  #logSize: number;
  #full: RoutingSnapshot | undefined;
  /** Certificates and ACME challenges: not per service, so every answer carries them whole. */
  #tls: RoutingTls = {};
  #tlsText = '{}';
  #waiters = new Set<() => void>();
  #waking = false;

  /** `epoch` grows with every start (see `Store.nextRoutingEpoch`), so versions never go back. */
  constructor(epoch: number, options: { logSize?: number } = {}) {
    this.epoch = epoch;
    this.#base = epoch * routingEpochSize;
    this.#logSize = options.logSize ?? defaultLogSize;
  }

  get version(): number {
    return this.#base + this.#n;
  }

  /** The whole snapshot (made once per version). */
  current(): RoutingSnapshot {
    if (this.#full?.version !== this.version) {
      const parts = new Map<string, RoutingService>();
      for (const [key, { part }] of this.#parts) parts.set(key, part);
      this.#full = snapshotOf(this.version, this.id, this.#generatedAt, parts, this.#tls);
    }
    return this.#full;
  }

  /** Sets one service's part (an empty part removes it); returns whether anything changed. */
  setService(part: RoutingService): boolean {
    const changed = this.#set(part);
    if (changed.length > 0) this.#commit(changed);
    return changed.length > 0;
  }

  /** The services published (`namespace/name`). */
  services(): IterableIterator<string> {
    return this.#parts.keys();
  }

  /** The certificates and ACME challenges routers serve now (without making the whole snapshot). */
  get tls(): RoutingTls {
    return this.#tls;
  }

  /** Sets the certificates and ACME challenges routers serve; returns whether anything changed. */
  setTls(tls: RoutingTls): boolean {
    const next = routingTls(tls);
    const text = JSON.stringify(next);
    if (text === this.#tlsText) return false;
    this.#tls = next;
    this.#tlsText = text;
    this.#commit([]);
    return true;
  }

  /**
   * Sets every service's part at once (a full rebuild, e.g. on resync): services not among them
   * are removed. One version for all that changed; none when nothing did.
   */
  replaceAll(parts: Iterable<RoutingService>): boolean {
    const changed: string[] = [];
    const seen = new Set<string>();
    for (const part of parts) {
      seen.add(routingKey(part.namespace, part.name));
      changed.push(...this.#set(part));
    }
    for (const [key, { part }] of [...this.#parts]) {
      if (!seen.has(key)) changed.push(...this.#set({ namespace: part.namespace, name: part.name, revisions: [] }));
    }
    if (changed.length > 0) this.#commit(changed);
    return changed.length > 0;
  }

  #set(part: RoutingService): string[] {
    const key = routingKey(part.namespace, part.name);
    const empty = part.route === undefined && part.revisions.length === 0;
    const old = this.#parts.get(key);
    if (empty) {
      if (old === undefined) return [];
      this.#parts.delete(key);
      return [key];
    }
    const text = JSON.stringify(part);
    if (old?.text === text) return [];
    this.#parts.set(key, { part, text });
    return [key];
  }

  #commit(keys: string[]): void {
    const n = ++this.#n;
    this.#generatedAt = new Date().toISOString();
    for (const key of keys) this.#log.push({ n, key });
    if (this.#log.length - this.#logHead > this.#logSize) {
      // Drop whole versions from the front: a delta needs every change after its base.
      let cut = this.#log.length - this.#logSize;
      const boundary = this.#log[cut - 1]?.n as number;
      while (cut < this.#log.length && this.#log[cut]?.n === boundary) cut++;
      this.#logHead = cut;
      this.#logStart = boundary + 1;
      if (this.#logHead >= this.#logSize) {
        this.#log = this.#log.slice(this.#logHead);
        this.#logHead = 0;
      }
    }
    this.#wakeSoon();
  }

  /**
   * Wakes the routers waiting for a change once the current turn of the event loop is done, so
   * the changes of one reconcile slice (hundreds of services at a start) reach them as one delta,
   * not one answer per service.
   */
  #wakeSoon(): void {
    if (this.#waking) return;
    this.#waking = true;
    setImmediate(() => {
      this.#waking = false;
      const waiters = this.#waiters;
      this.#waiters = new Set();
      for (const w of waiters) w();
    });
  }

  /**
   * What a router at `since` (of `epoch`) lacks: a delta when it asked for one (`delta`) and one can be made,
   * else the full snapshot; `undefined` when it is current.
   */
  answer(since: number, delta: boolean, epoch?: string): RoutingUpdate | undefined {
    // A router that names no epoch (an older one) is taken at its version's number.
    const sameEpoch = epoch === undefined ? routingEpoch(since) === this.epoch : epoch === this.id;
    if (since === this.version && sameEpoch) return undefined;
    const n = since - this.#base;
    if (!delta || !sameEpoch || n > this.#n || n + 1 < this.#logStart) return this.current();
    const keys = new Set<string>();
    // Binary search for the first change after `since`.
    let lo = this.#logHead;
    let hi = this.#log.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.#log[mid]?.n as number) <= n) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.#log.length; i++) keys.add(this.#log[i]?.key as string);
    // Past half of the services a full snapshot is no bigger than the delta.
    if (keys.size > 64 && keys.size > this.#parts.size / 2) return this.current();
    const services: RoutingService[] = [];
    for (const key of keys) {
      const kept = this.#parts.get(key);
      if (kept) services.push(kept.part);
      else {
        const slash = key.indexOf('/');
        services.push({ namespace: key.slice(0, slash), name: key.slice(slash + 1), revisions: [] });
      }
    }
    const out: RoutingDelta = {
      kind: 'delta',
      since,
      version: this.version,
      epoch: this.id,
      generatedAt: this.#generatedAt,
      services,
      ...this.#tls,
    };
    return out;
  }

  /**
   * The answer for a router at `since` (see `answer`), waiting up to `waitMs` for a change when it
   * is current; `undefined` when nothing changed in that time. `signal` ends the wait early.
   */
  async next(
    since: number,
    waitMs: number,
    signal?: AbortSignal,
    delta = false,
    epoch?: string,
  ): Promise<RoutingUpdate | undefined> {
    const now = this.answer(since, delta, epoch);
    if (now !== undefined || waitMs <= 0) return now;
    return new Promise((resolve) => {
      const done = (update: RoutingUpdate | undefined) => {
        clearTimeout(timer);
        this.#waiters.delete(onChange);
        signal?.removeEventListener('abort', onAbort);
        resolve(update);
      };
      const onChange = () => done(this.answer(since, delta, epoch));
      const onAbort = () => done(undefined);
      const timer = setTimeout(() => done(undefined), waitMs);
      this.#waiters.add(onChange);
      signal?.addEventListener('abort', onAbort);
    });
  }
}
