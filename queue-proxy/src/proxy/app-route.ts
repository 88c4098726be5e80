import {
  type Answer,
  type EndpointPool,
  forwardRequestHead,
  forwardResponseHead,
  type Pending,
  type RequestHead,
  type ResponseHead,
  type Route,
} from '@skiff/http';
import type { Breaker, Waiter } from '../breaker/breaker.ts';
import type { QueueProxyConfig } from '../config.ts';

/** A slot at the app: the breaker's (when there is one) on the one pool of app connections. */
export interface AppSlot {
  readonly pool: EndpointPool;
}

/** What the route needs from the queue-proxy that owns it. */
export interface AppRouteHost {
  readonly config: Pick<QueueProxyConfig, 'timeoutMs' | 'responseStartTimeoutMs' | 'idleTimeoutMs'>;
  readonly breaker: Breaker | undefined;
  readonly slot: AppSlot;
  /** A request arrived (it counts toward concurrency from now on). */
  started(at: number, proxied: boolean): void;
  /** A request left: answered, refused, timed out or abandoned. */
  finished(proxied: boolean, status: number, durationMs: number): void;
  /** A request was refused because the queue was full. */
  rejected(): void;
}

const queueFull: Answer = { status: 503, message: 'pending request queue full' };
const timeout: Answer = { status: 504, message: 'request timeout' };
const failed: Answer = { status: 502, message: 'error reverse proxying' };

/** A request waiting in the breaker's queue. */
class Queued implements Waiter {
  cancelled = false;
  readonly ex: Pending<AppSlot>;
  readonly slot: AppSlot;

  constructor(ex: Pending<AppSlot>, slot: AppSlot) {
    this.ex = ex;
    this.slot = slot;
  }

  admit(): void {
    this.ex.granted(this.slot);
  }
}

/**
 * The queue-proxy's decisions for the engine in `@skiff/http`: every request goes to the app,
 * through the breaker (containerConcurrency), under the revision's timeouts, counted in the stats.
 * One instance for requests the router held (`K-Proxy-Request: activator`, "proxied"), one for others.
 */
export class AppRoute implements Route<AppSlot> {
  readonly maxBodyBytes = 0;
  // As Knative's queue-proxy: a request goes to the app in the version it came in (the router chose it).
  readonly upstreamProtocol = 'as-received';
  readonly #host: AppRouteHost;
  readonly #proxied: boolean;
  /** Requests in the breaker's queue (or admitted from it and not finished yet). */
  readonly #queued = new Map<Pending<AppSlot>, Queued>();

  constructor(host: AppRouteHost, proxied: boolean) {
    this.#host = host;
    this.#proxied = proxied;
  }

  enter(ex: Pending<AppSlot>): AppSlot | 'queued' | 'full' {
    const host = this.#host;
    host.started(ex.startedAt, this.#proxied);
    const breaker = host.breaker;
    if (breaker === undefined) return host.slot;
    if (breaker.inFlight < breaker.capacity && breaker.waiting === 0) {
      // The common case needs no waiter.
      breaker.enter(noWaiter);
      return host.slot;
    }
    const waiter = new Queued(ex, host.slot);
    const entered = breaker.enter(waiter);
    if (entered === 'admitted') return host.slot;
    if (entered === 'queued') {
      this.#queued.set(ex, waiter);
      return 'queued';
    }
    host.rejected();
    return 'full';
  }

  cancel(ex: Pending<AppSlot>): void {
    const waiter = this.#queued.get(ex);
    if (waiter === undefined) return;
    this.#queued.delete(ex);
    this.#host.breaker?.cancel(waiter);
  }

  release(): void {
    this.#host.breaker?.leave();
  }

  retryElsewhere(): undefined {
    // One app per queue-proxy: nowhere else to go.
    this.release();
    return undefined;
  }

  pool(slot: AppSlot): EndpointPool {
    return slot.pool;
  }

  requestHead(head: RequestHead, client: string): string {
    return forwardRequestHead(head, client, undefined, true);
  }

  responseHead(head: ResponseHead, close: boolean, keepAliveFor10: boolean): string {
    return forwardResponseHead(head, close, keepAliveFor10);
  }

  ownRequestHeader(): undefined {
    return undefined;
  }

  ownResponseHeader(): undefined {
    return undefined;
  }

  expired(ex: Pending<AppSlot>, now: number): string | undefined {
    const c = this.#host.config;
    if (c.timeoutMs > 0 && now - ex.startedAt >= c.timeoutMs) return 'total';
    if (!ex.responseStarted && c.responseStartTimeoutMs > 0 && now - ex.startedAt >= c.responseStartTimeoutMs) {
      return 'response-start';
    }
    if (c.idleTimeoutMs > 0 && now - ex.lastWriteAt >= c.idleTimeoutMs) return 'idle';
    return undefined;
  }

  queueFull(): Answer {
    return queueFull;
  }

  timeout(): Answer {
    return timeout;
  }

  failed(): Answer {
    return failed;
  }

  bodyTooLarge(): Answer {
    // No body limit here (maxBodyBytes 0): never asked.
    return failed;
  }

  finished(ex: Pending<AppSlot>, status: number, durationMs: number): void {
    if (this.#queued.size > 0) this.#queued.delete(ex);
    this.#host.finished(this.#proxied, status, durationMs);
  }
}

const noWaiter: Waiter = {
  cancelled: false,
  admit() {
    throw new Error('a request admitted at once is never queued');
  },
};
