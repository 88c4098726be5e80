import type { RoutingSnapshot } from '@skiff/shared';

type Content = Omit<RoutingSnapshot, 'version' | 'generatedAt'>;

/**
 * Holds the current routing snapshot and hands it to routers: at once when they are behind, or
 * by long-poll when they are current. The version moves only when the content changes.
 */
export class RoutingPublisher {
  #snapshot: RoutingSnapshot;
  #text = '';
  #waiters = new Set<(s: RoutingSnapshot) => void>();
  #base: number;
  #n = 0;

  /** `epoch` grows with every start (see `Store.nextRoutingEpoch`), so versions never go back. */
  constructor(epoch: number) {
    this.#base = epoch * 1e9;
    this.#snapshot = { version: this.#base, generatedAt: new Date().toISOString(), routes: [], revisions: [] };
    this.#text = JSON.stringify({ routes: [], revisions: [] });
  }

  current(): RoutingSnapshot {
    return this.#snapshot;
  }

  /** Publishes new content; returns whether it changed anything. */
  publish(content: Content): boolean {
    const text = JSON.stringify(content);
    if (text === this.#text) return false;
    this.#text = text;
    this.#snapshot = { version: this.#base + ++this.#n, generatedAt: new Date().toISOString(), ...content };
    const waiters = this.#waiters;
    this.#waiters = new Set();
    for (const w of waiters) w(this.#snapshot);
    return true;
  }

  /**
   * The snapshot when it is newer than `since`, else waits up to `waitMs` for one; `undefined`
   * when nothing changed in that time. `signal` ends the wait early (the router went away).
   */
  async next(since: number, waitMs: number, signal?: AbortSignal): Promise<RoutingSnapshot | undefined> {
    if (this.#snapshot.version > since || waitMs <= 0) {
      return this.#snapshot.version > since ? this.#snapshot : undefined;
    }
    return new Promise((resolve) => {
      const done = (s: RoutingSnapshot | undefined) => {
        clearTimeout(timer);
        this.#waiters.delete(onChange);
        signal?.removeEventListener('abort', onAbort);
        resolve(s);
      };
      const onChange = (s: RoutingSnapshot) => done(s);
      const onAbort = () => done(undefined);
      const timer = setTimeout(() => done(undefined), waitMs);
      this.#waiters.add(onChange);
      signal?.addEventListener('abort', onAbort);
    });
  }
}
