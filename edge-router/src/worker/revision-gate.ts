import { DurableObject } from 'cloudflare:workers';
import type { ColdStartReport, SnapshotRevision } from '@skiff/shared';
import { parseRouterConfig } from '../config.ts';
import { message, RouterCore } from '../core.ts';
import type { HeldWait, Lease, Throttler } from '../hold/throttler.ts';
import { randomSource } from '../routing/random.ts';
import { revisionKey } from '../routing/table.ts';
import { statsIntervalMs } from '../run.ts';
import { backoffDelay, snapshotBackoff } from '../snapshot/backoff.ts';
import { HttpControlPlane } from '../snapshot/control-plane.ts';
import { configEnv, type WorkerEnv } from './env.ts';

export interface GrantedSlot {
  url: string;
  held: boolean;
  /** A held request's wait, for its `Server-Timing` in the isolate. */
  wait?: HeldWait;
}

interface Pending {
  throttler: Throttler;
  waiter: { granted(lease: Lease): void };
  resolve(result: GrantedSlot | 'full' | 'cancelled'): void;
}

/** Long-polls while requests are held are kept short so the object notices when it can stop. */
const holdPollSeconds = 10;

/**
 * One revision's holding state on Workers, where isolates share no memory: a Durable Object per
 * revision (by name) owns its throttler, so every isolate's requests queue in one FIFO and see one
 * set of in-flight counts. While it holds requests it long-polls the control plane for the
 * revision's endpoints, pokes it, and reports held and in-flight counts each second.
 */
export class RevisionGate extends DurableObject<WorkerEnv> {
  readonly #core: RouterCore;
  readonly #controlPlane: HttpControlPlane;
  readonly #pending = new Map<string, Pending>();
  readonly #leases = new Map<string, { throttler: Throttler; lease: Lease }>();
  /** Newest snapshot version this object has seen, from an isolate or its own poll. */
  #version = -1;
  #polling = false;
  #statsTimer: ReturnType<typeof setInterval> | undefined;

  constructor(ctx: DurableObjectState, env: WorkerEnv) {
    super(ctx, env);
    const config = parseRouterConfig(configEnv(env));
    this.#controlPlane = new HttpControlPlane(config.controlPlaneUrl, config.routerToken);
    this.#core = new RouterCore({
      config,
      controlPlane: this.#controlPlane,
      random: randomSource(config.randomSeed),
      now: Date.now,
      log: { info: (m) => console.log(m), error: (m) => console.error(m) },
    });
  }

  /** A slot on one of the revision's endpoints, now or once capacity appears; `full` past the queue bound. */
  acquire(revision: SnapshotRevision, version: number, id: string): Promise<GrantedSlot | 'full' | 'cancelled'> {
    const throttler = this.#core.throttler(revision);
    if (version > this.#version) {
      this.#version = version;
      throttler.update(revision);
    }
    this.#startStats();
    return new Promise((resolve) => {
      const waiter = {
        granted: (lease: Lease) => {
          this.#pending.delete(id);
          this.#leases.set(id, { throttler, lease });
          resolve({ url: lease.endpoint.url, held: lease.held, ...(lease.wait ? { wait: lease.wait } : {}) });
        },
      };
      const entered = throttler.enter(waiter);
      if (entered === 'full') resolve('full');
      else if (entered === 'queued') {
        this.#pending.set(id, { throttler, waiter, resolve });
        this.#pollWhileHeld(revision);
      } else waiter.granted(entered);
    });
  }

  /** The isolate gave up (client gone, timeout): leave the queue, or give back a slot granted meanwhile. */
  cancel(id: string): void {
    const pending = this.#pending.get(id);
    if (pending !== undefined) {
      this.#pending.delete(id);
      pending.throttler.cancel(pending.waiter);
      pending.resolve('cancelled');
      return;
    }
    this.release(id);
  }

  /** Frees a slot; with the answer's status and time, it counts toward the rollout gate's figures. */
  release(id: string, status?: number, ms?: number): void {
    const held = this.#leases.get(id);
    if (held === undefined) return;
    this.#leases.delete(id);
    held.throttler.release(held.lease);
    if (status !== undefined && ms !== undefined) held.throttler.answered(status, ms);
  }

  /** An answer the isolate gave without a slot (queue full, timed out while held): counted as well. */
  answeredUnleased(revision: SnapshotRevision, status: number, ms: number): void {
    this.#core.throttler(revision).answered(status, ms);
    this.#startStats();
  }

  /** A held request's cold start, from the isolate that answered it: reported with this object's stats. */
  coldStarted(revision: SnapshotRevision, heldAt: number, decidedAt: number, phases: ColdStartReport['phases']): void {
    this.#core.throttler(revision).coldStarted(heldAt, decidedAt, phases);
    this.#startStats();
  }

  retryElsewhere(id: string, nextId: string): GrantedSlot | undefined {
    const held = this.#leases.get(id);
    if (held === undefined) return undefined;
    this.#leases.delete(id);
    const next = held.throttler.retryElsewhere(held.lease);
    if (next === undefined) return undefined;
    this.#leases.set(nextId, { throttler: held.throttler, lease: next });
    return { url: next.endpoint.url, held: next.held };
  }

  /** Follows the control plane while requests wait, so new endpoints release them. */
  #pollWhileHeld(revision: SnapshotRevision): void {
    if (this.#polling) return;
    this.#polling = true;
    const key = revisionKey(revision.namespace, revision.name);
    void (async () => {
      let failures = 0;
      while (this.#pending.size > 0) {
        try {
          const snapshot = await this.#controlPlane.routing(this.#version, holdPollSeconds);
          failures = 0;
          if (snapshot === undefined || snapshot.version <= this.#version) continue;
          this.#version = snapshot.version;
          const current = snapshot.revisions.find((r) => revisionKey(r.namespace, r.name) === key);
          const throttler = this.#core.throttler(revision);
          if (current !== undefined) throttler.update(current);
          else throttler.withdraw();
        } catch (error) {
          const delay = backoffDelay(failures++, snapshotBackoff, Math.random);
          console.error(`routing snapshot unavailable for ${key} (${message(error)}); retrying in ${delay} ms`);
          await new Promise((r) => setTimeout(r, delay));
        }
      }
      this.#polling = false;
    })();
  }

  #startStats(): void {
    if (this.#statsTimer !== undefined) return;
    this.#statsTimer = setInterval(() => {
      const stats = this.#core.report(Date.now());
      if (stats === undefined) {
        if (this.#pending.size === 0 && this.#leases.size === 0 && this.#statsTimer !== undefined) {
          clearInterval(this.#statsTimer);
          this.#statsTimer = undefined;
          this.#controlPlane.close(); // no stream held open by an idle gate
        }
        return;
      }
      this.#controlPlane.reportStats(stats).catch((error: unknown) => {
        console.error(`reporting stats failed: ${message(error)}`);
      });
    }, statsIntervalMs);
  }
}
