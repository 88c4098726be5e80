import { type KubeConfig, Watch } from '@kubernetes/client-node';
import { type Backoff, backoffDelay } from '@skiff/shared';

/** The fields of a Kubernetes object the reflector relies on. */
export interface KubeObject {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    deletionTimestamp?: unknown;
  };
}

export interface ObjectList<T> {
  items: T[];
  metadata?: { resourceVersion?: string; _continue?: string };
}

export type ReflectorEvent = 'added' | 'modified' | 'deleted';

export interface ReflectorOptions<T extends KubeObject> {
  kubeConfig: KubeConfig;
  /** What is reflected, for messages (`deployments`). */
  what: string;
  /** The collection's URL path, for the watch (`/apis/apps/v1/namespaces/ns/deployments`). */
  path: string;
  labelSelector: string;
  /** A field selector too (`type=kubernetes.io/tls`), if any. */
  fieldSelector?: string;
  /** One page of the list (the `continue` token of the previous page, if any). */
  list(continueToken: string | undefined): Promise<ObjectList<T>>;
  onEvent(event: ReflectorEvent, object: T, previous: T | undefined): void;
  /** Relist when nothing (not even a bookmark) arrived for this long. */
  watchdogMs?: number;
  /** How long the server keeps one watch open before closing it normally. */
  watchTimeoutSeconds?: number;
  /** Reconnect backoff after failures in a row (`watchBackoff` by default). */
  backoff?: Backoff;
  log?: (message: string) => void;
}

/** Reconnects after a failed list or watch: 200 ms, doubling to 30 s; reset by an event or a list. */
export const watchBackoff: Backoff = { initialMs: 200, maxMs: 30_000, jitter: 0 };

/** Counters a test (or `/metrics`) can read. */
export interface ReflectorStats {
  lists: number;
  watches: number;
  /** Relists because the server had compacted our resourceVersion (410 Gone). */
  gone: number;
  /** Relists because the watch fell silent for longer than the watchdog allows. */
  stalls: number;
  /** Watches that ended with an error and were resumed after a backoff. */
  errors: number;
}

/**
 * Keeps an in-memory copy of one kind of object (a label-selected collection) in step with the API
 * server: list, then watch from the list's resourceVersion; a watch that ends is resumed from the
 * last resourceVersion seen (bookmarks included), after a capped exponential backoff when it ended
 * in an error; a 410 Gone (the version was compacted away) relists; and a watchdog relists when the
 * stream has been silent too long, which is how a half-open connection shows (client-node 1.4 sets
 * no timeout of its own on watches).
 */
export class Reflector<T extends KubeObject> {
  readonly stats: ReflectorStats = { lists: 0, watches: 0, gone: 0, stalls: 0, errors: 0 };
  #o: ReflectorOptions<T>;
  #items = new Map<string, T>();
  #resourceVersion: string | undefined;
  #abort: AbortController | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #watchdog: ReturnType<typeof setInterval> | undefined;
  #lastHeard = Date.now();
  /** Lists and watches failed in a row. */
  #failures = 0;
  #generation = 0;
  /** What the reflector is doing: a list or a watch in flight can stall; a backoff cannot. */
  #phase: 'listing' | 'watching' | 'waiting' = 'waiting';
  #stopped = true;
  #synced: Promise<void>;
  #resolveSynced: () => void = () => {};

  constructor(o: ReflectorOptions<T>) {
    this.#o = o;
    this.#synced = new Promise((resolve) => {
      this.#resolveSynced = resolve;
    });
  }

  /** Starts listing and watching; resolves once the first list is in. */
  start(): Promise<void> {
    if (!this.#stopped) return this.#synced;
    this.#stopped = false;
    const watchdogMs = this.#o.watchdogMs ?? 120_000;
    this.#watchdog = setInterval(
      () => {
        if (this.#phase !== 'waiting' && Date.now() - this.#lastHeard > watchdogMs) {
          this.stats.stalls++;
          this.#o.log?.(`${this.#o.what}: watch silent for ${Date.now() - this.#lastHeard} ms; relisting`);
          this.#restart(true);
        }
      },
      Math.max(50, Math.min(watchdogMs / 4, 10_000)),
    );
    this.#watchdog.unref();
    void this.#relist();
    return this.#synced;
  }

  stop(): void {
    this.#stopped = true;
    this.#phase = 'waiting';
    this.#generation++;
    clearInterval(this.#watchdog);
    clearTimeout(this.#timer);
    this.#abort?.abort();
    this.#abort = undefined;
  }

  /** Resolves once the first list has been applied. */
  synced(): Promise<void> {
    return this.#synced;
  }

  get(namespace: string, name: string): T | undefined {
    return this.#items.get(`${namespace}/${name}`);
  }

  values(): IterableIterator<T> {
    return this.#items.values();
  }

  /** The resourceVersion the next watch resumes from. */
  get resourceVersion(): string | undefined {
    return this.#resourceVersion;
  }

  /**
   * Drops the current watch as a broken connection would, and resumes from `resourceVersion`
   * (default: the last one seen). For tests of reconnection and of 410 handling.
   */
  interrupt(resourceVersion?: string): void {
    if (resourceVersion !== undefined) this.#resourceVersion = resourceVersion;
    this.#restart(false);
  }

  #restart(relist: boolean): void {
    this.#generation++;
    this.#abort?.abort();
    this.#abort = undefined;
    clearTimeout(this.#timer);
    if (this.#stopped) return;
    if (relist) void this.#relist();
    else void this.#watch();
  }

  async #relist(): Promise<void> {
    const generation = ++this.#generation;
    this.#phase = 'listing';
    this.#lastHeard = Date.now();
    try {
      const seen = new Map<string, T>();
      let continueToken: string | undefined;
      let resourceVersion: string | undefined;
      do {
        const page = await this.#o.list(continueToken);
        this.stats.lists++;
        for (const item of page.items) seen.set(keyOf(item), item);
        continueToken = page.metadata?._continue || undefined;
        resourceVersion = page.metadata?.resourceVersion;
      } while (continueToken);
      if (generation !== this.#generation) return;
      const before = this.#items;
      this.#items = seen;
      this.#resourceVersion = resourceVersion;
      this.#lastHeard = Date.now();
      // A relist reports only real differences, so consumers see no storm of unchanged updates.
      for (const [key, item] of seen) {
        const old = before.get(key);
        if (!old) this.#o.onEvent('added', item, undefined);
        else if (old.metadata?.resourceVersion !== item.metadata?.resourceVersion)
          this.#o.onEvent('modified', item, old);
      }
      for (const [key, old] of before) if (!seen.has(key)) this.#o.onEvent('deleted', old, old);
      this.#resolveSynced();
      this.#failures = 0;
      void this.#watch();
    } catch (e) {
      if (generation !== this.#generation || this.#stopped) return;
      this.stats.errors++;
      this.#retry(`list failed: ${message(e)}`, true);
    }
  }

  async #watch(): Promise<void> {
    const generation = ++this.#generation;
    let relist = false;
    const w = new Watch(this.#o.kubeConfig);
    const timeout = this.#o.watchTimeoutSeconds ?? 300;
    this.#phase = 'watching';
    this.#lastHeard = Date.now();
    this.stats.watches++;
    const abort = await w.watch(
      this.#o.path,
      {
        labelSelector: this.#o.labelSelector,
        ...(this.#o.fieldSelector ? { fieldSelector: this.#o.fieldSelector } : {}),
        resourceVersion: this.#resourceVersion,
        allowWatchBookmarks: true,
        // Jitter, so the watches of many control planes do not all reconnect at once.
        timeoutSeconds: Math.round(timeout * (0.8 + Math.random() * 0.4)),
      },
      (type: string, object: T & { code?: number; message?: string }) => {
        if (generation !== this.#generation) return;
        this.#lastHeard = Date.now();
        if (type === 'ERROR') {
          if (object.code === 410) relist = true;
          else this.#o.log?.(`${this.#o.what}: watch error ${object.code}: ${object.message}`);
          this.#abort?.abort();
          return;
        }
        const rv = object.metadata?.resourceVersion;
        if (rv) this.#resourceVersion = rv;
        if (type === 'BOOKMARK') return;
        this.#failures = 0;
        const key = keyOf(object);
        const previous = this.#items.get(key);
        if (type === 'DELETED') {
          this.#items.delete(key);
          this.#o.onEvent('deleted', object, previous);
        } else {
          this.#items.set(key, object);
          this.#o.onEvent(previous ? 'modified' : 'added', object, previous);
        }
      },
      (err: unknown) => {
        if (generation !== this.#generation || this.#stopped) return;
        this.#abort = undefined;
        const status = (err as { statusCode?: number } | null)?.statusCode;
        if (relist || status === 410) {
          this.stats.gone++;
          this.#o.log?.(`${this.#o.what}: resourceVersion ${this.#resourceVersion} is gone (410); relisting`);
          this.#retry('', true, 0);
        } else if (err) {
          this.stats.errors++;
          this.#retry(`watch failed: ${message(err)}`, false);
        } else {
          // The server closed the watch (its timeout): resume at once from where we were.
          this.#restart(false);
        }
      },
    );
    if (generation === this.#generation && !this.#stopped) this.#abort = abort;
    else abort.abort();
  }

  #retry(why: string, relist: boolean, delayMs?: number): void {
    const delay = delayMs ?? backoffDelay(this.#failures++, this.#o.backoff ?? watchBackoff);
    if (why) this.#o.log?.(`${this.#o.what}: ${why}; retrying in ${delay} ms`);
    clearTimeout(this.#timer);
    const generation = ++this.#generation;
    this.#phase = 'waiting';
    this.#timer = setTimeout(() => {
      if (generation !== this.#generation || this.#stopped) return;
      if (relist) void this.#relist();
      else void this.#watch();
    }, delay);
    this.#timer.unref();
  }
}

function keyOf(o: KubeObject): string {
  return `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
