import { apiVersion, failure, type Status } from '@skiff/shared';
import type { EventResource, EventRow } from '../store/schema.ts';
import type { Store } from '../store/store.ts';
import { statusResponse } from './body.ts';
import { type Selector, selectorOf } from './list.ts';
import type { KubeObject, ResourceInfo } from './resources/catalog.ts';
import { includeObject, toTable, wantsTable } from './table.ts';

/** One event as a watch sends it. */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: unknown;
}

type Subscriber = (event: EventRow) => void;

/**
 * Fans the store's event log out to every open watch: one read of new events per committed write,
 * however many watchers. Reads are synchronous, so a watch that replays history and then joins
 * live delivery misses nothing in between.
 */
export class WatchHub {
  readonly #store: Store;
  #cursor: number;
  readonly #subscribers = new Set<Subscriber>();

  constructor(store: Store) {
    this.#store = store;
    this.#cursor = store.resourceVersion();
    store.onEvents(() => this.#pump());
  }

  #pump(): void {
    if (this.#subscribers.size === 0) {
      // Nobody to tell: no event is read and decoded (a subscriber reads its history itself).
      this.#cursor = Math.max(this.#cursor, this.#store.resourceVersion());
      return;
    }
    for (;;) {
      const batch = this.#store.eventsAfter(this.#cursor, 1000);
      for (const event of batch) {
        this.#cursor = event.resourceVersion;
        for (const s of this.#subscribers) s(event);
      }
      if (batch.length < 1000) return;
    }
  }

  get resourceVersion(): number {
    this.#pump();
    return this.#cursor;
  }

  /**
   * The events after `from` (history), then every later one as it is committed. `undefined` when
   * that history is compacted away (410 Expired).
   */
  subscribe(from: number, subscriber: Subscriber): { history: EventRow[]; stop: () => void } | undefined {
    this.#pump();
    if (from < this.#store.compactedThrough()) return undefined;
    const history: EventRow[] = [];
    for (let rv = from; ; ) {
      const batch = this.#store.eventsAfter(rv, 1000);
      history.push(...batch);
      if (batch.length < 1000) break;
      rv = (batch[batch.length - 1] as EventRow).resourceVersion;
    }
    this.#subscribers.add(subscriber);
    return { history, stop: () => this.#subscribers.delete(subscriber) };
  }

  get watchers(): number {
    return this.#subscribers.size;
  }
}

/** How a resource's objects come from the store and its events. */
export interface WatchSource {
  resource: ResourceInfo;
  /** Which event log streams feed it (a Service's Configuration and Route are views of it). */
  events: EventResource[];
  /** The objects now (for a watch without a resourceVersion: synthetic ADDED events). */
  current(namespace: string | undefined): KubeObject[];
  /** The object an event carries; `undefined` when it is not one of this resource's. */
  render(event: EventRow): KubeObject | undefined;
}

export interface WatchOptions {
  bookmarkIntervalMs: number;
}

// kube-apiserver's answer to a watch from compacted history: code 410, reason Expired.
const expired = (rv: string): Status => ({
  ...failure('Gone', `too old resource version: ${rv} (history is compacted; list again)`),
  reason: 'Expired',
});

/**
 * `?watch=true` (or a `/watch/` path): a stream of `{"type","object"}` lines from the given
 * resourceVersion, as kube-apiserver sends them: history first, then live; BOOKMARKs when asked;
 * `timeoutSeconds` ends it; a compacted resourceVersion is an ERROR event with a 410 Expired Status.
 */
export function watchResponse(
  req: Request,
  hub: WatchHub,
  source: WatchSource,
  namespace: string | undefined,
  options: WatchOptions,
): Response {
  const url = new URL(req.url);
  const selected = selectorOf(url);
  if (typeof selected !== 'function') return statusResponse(req, selected);
  const selector: Selector = (o) => (namespace === undefined || o.metadata.namespace === namespace) && selected(o);
  const rvParam = url.searchParams.get('resourceVersion') ?? '';
  if (rvParam !== '' && !/^\d+$/.test(rvParam)) {
    return statusResponse(req, failure('BadRequest', `resourceVersion: not a valid resource version: ${rvParam}`));
  }
  const timeoutRaw = url.searchParams.get('timeoutSeconds');
  const timeoutSeconds = timeoutRaw === null ? undefined : Number(timeoutRaw);
  if (timeoutSeconds !== undefined && (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 0)) {
    return statusResponse(req, failure('BadRequest', `timeoutSeconds: must be a whole number, got ${timeoutRaw}`));
  }
  const bookmarks = url.searchParams.get('allowWatchBookmarks') === 'true';
  const sendInitialEvents = url.searchParams.get('sendInitialEvents') === 'true';
  const table = wantsTable(req);
  const include = includeObject(url);
  if (include !== 'None' && include !== 'Object' && include !== 'PartialObjectMetadata') {
    return statusResponse(req, failure('BadRequest', include));
  }

  const encoder = new TextEncoder();
  let tableColumnsSent = false;
  let stop = () => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      let open = true;
      const send = (event: WatchEvent) => {
        if (open) controller.enqueue(encoder.encode(`${JSON.stringify(event)}\n`));
      };
      const sendObject = (type: WatchEvent['type'], obj: KubeObject) => {
        if (!table) return send({ type, object: obj });
        const t = toTable(source.resource, [obj], { resourceVersion: obj.metadata.resourceVersion }, include);
        // Column definitions come with the first event only, as kube-apiserver sends them.
        if (tableColumnsSent) t.columnDefinitions = [];
        tableColumnsSent = true;
        send({ type, object: t });
      };
      const bookmark = (rv: number, annotations?: Record<string, string>) =>
        send({
          type: 'BOOKMARK',
          object: {
            apiVersion,
            kind: source.resource.kind,
            metadata: { resourceVersion: String(rv), ...(annotations ? { annotations } : {}) },
          },
        });
      const close = () => {
        if (!open) return;
        open = false;
        stop();
        controller.close();
      };
      const deliver = (event: EventRow) => {
        if (!source.events.includes(event.resource)) return;
        const obj = source.render(event);
        if (obj && selector(obj)) sendObject(event.type, obj);
      };

      // No resourceVersion (or "0"): the current state as ADDED events, then what follows.
      const fromNow = rvParam === '' || rvParam === '0' || sendInitialEvents;
      let from = fromNow ? hub.resourceVersion : Number(rvParam);
      if (fromNow) {
        for (const obj of source.current(namespace)) if (selector(obj)) sendObject('ADDED', obj);
        if (sendInitialEvents) bookmark(from, { 'k8s.io/initial-events-end': 'true' });
      }
      const sub = hub.subscribe(from, deliver);
      if (!sub) {
        send({ type: 'ERROR', object: expired(rvParam) });
        open = false;
        controller.close();
        return;
      }
      stop = sub.stop;
      for (const event of sub.history) {
        deliver(event);
        from = event.resourceVersion;
      }
      const timers: ReturnType<typeof setTimeout>[] = [];
      if (bookmarks) {
        const t = setInterval(() => bookmark(hub.resourceVersion), options.bookmarkIntervalMs);
        t.unref?.();
        timers.push(t);
      }
      if (timeoutSeconds !== undefined && timeoutSeconds > 0) timers.push(setTimeout(close, timeoutSeconds * 1000));
      const prevStop = stop;
      stop = () => {
        prevStop();
        for (const t of timers) clearTimeout(t);
      };
      req.signal.addEventListener('abort', close);
    },
    cancel() {
      stop();
    },
  });
  return new Response(body, {
    headers: { 'content-type': 'application/json', 'cache-control': 'no-cache, private' },
  });
}
