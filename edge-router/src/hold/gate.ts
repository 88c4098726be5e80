import type { ColdStartReport, SnapshotRevision } from '@skiff/shared';
import type { RouterCore } from '../core.ts';
import type { HeldWait, Lease, Throttler, Waiter } from './throttler.ts';

/** A slot on one endpoint of a revision, as the web-standard app holds it. */
export interface GateLease {
  url: string;
  held: boolean;
  /** A held request's wait and the revision's latest cold start then (its `Server-Timing`); plain data. */
  wait?: HeldWait;
}

/** How a request that had a slot was answered. */
export interface Answered {
  status: number;
  ms: number;
}

/** The queue was full: the request is refused at once. */
export class QueueFullError extends Error {
  constructor(revision: string) {
    super(`pending request queue full for revision ${revision}`);
    this.name = 'QueueFullError';
  }
}

/**
 * Where the web-standard app waits for capacity: in this process (`LocalGate`, Node and Deno) or
 * in the revision's Durable Object (Workers, where isolates share no memory).
 */
export interface Gate {
  /**
   * Resolves with a slot, rejects with `QueueFullError`, or with `signal.reason` once `signal` aborts.
   * `background` keeps work alive that must finish after the request is gone (Workers' `waitUntil`).
   */
  acquire(
    revision: SnapshotRevision,
    signal: AbortSignal,
    background?: (work: Promise<unknown>) => void,
  ): Promise<GateLease>;
  /** Frees the slot; `answer` (status and time since arrival) counts toward the rollout gate's figures. */
  release(revision: SnapshotRevision, lease: GateLease, answer?: Answered): Promise<void>;
  /** An answer the router gave without a slot (queue full, timed out while held): counted as well. */
  answeredUnleased(revision: SnapshotRevision, answer: Answered): Promise<void>;
  /**
   * A held request that waited for a start from zero (decided at `decidedAt`) got its response:
   * reported once per start with the router's stats, for the control plane's cold-start log.
   */
  coldStarted(
    revision: SnapshotRevision,
    heldAt: number,
    decidedAt: number,
    phases: ColdStartReport['phases'],
  ): Promise<void>;
  /** After `lease`'s endpoint refused the connection: a slot elsewhere, or undefined. Releases `lease`. */
  retryElsewhere(revision: SnapshotRevision, lease: GateLease): Promise<GateLease | undefined>;
}

interface LocalLease extends GateLease {
  lease: Lease;
  throttler: Throttler;
}

/** The gate of a single process: the core's throttlers. */
export class LocalGate implements Gate {
  readonly #core: RouterCore;

  constructor(core: RouterCore) {
    this.#core = core;
  }

  acquire(revision: SnapshotRevision, signal: AbortSignal): Promise<GateLease> {
    const throttler = this.#core.throttler(revision);
    return new Promise<GateLease>((resolve, reject) => {
      const waiter: Waiter = {
        granted: (lease) => {
          signal.removeEventListener('abort', onAbort);
          resolve(wrap(throttler, lease));
        },
      };
      const onAbort = () => {
        // The client went away or the timeout passed: leave the queue at once.
        if (throttler.cancel(waiter)) reject(signal.reason);
      };
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const entered = throttler.enter(waiter);
      if (entered === 'full') reject(new QueueFullError(throttler.key));
      else if (entered === 'queued') signal.addEventListener('abort', onAbort, { once: true });
      else resolve(wrap(throttler, entered));
    });
  }

  async release(_revision: SnapshotRevision, lease: GateLease, answer?: Answered): Promise<void> {
    const local = lease as LocalLease;
    local.throttler.release(local.lease);
    if (answer !== undefined) local.throttler.answered(answer.status, answer.ms);
  }

  async answeredUnleased(revision: SnapshotRevision, answer: Answered): Promise<void> {
    this.#core.throttler(revision).answered(answer.status, answer.ms);
  }

  async coldStarted(
    revision: SnapshotRevision,
    heldAt: number,
    decidedAt: number,
    phases: ColdStartReport['phases'],
  ): Promise<void> {
    this.#core.throttler(revision).coldStarted(heldAt, decidedAt, phases);
  }

  async retryElsewhere(_revision: SnapshotRevision, lease: GateLease): Promise<GateLease | undefined> {
    const local = lease as LocalLease;
    const next = local.throttler.retryElsewhere(local.lease);
    return next === undefined ? undefined : wrap(local.throttler, next);
  }
}

function wrap(throttler: Throttler, lease: Lease): LocalLease {
  return { url: lease.endpoint.url, held: lease.held, ...(lease.wait ? { wait: lease.wait } : {}), lease, throttler };
}
