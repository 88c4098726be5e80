import type { RouterConfig } from '../config.ts';
import { message, RouterCore } from '../core.ts';
import { randomSource } from '../routing/random.ts';
import { backoffDelay, snapshotBackoff } from '../snapshot/backoff.ts';
import { HttpControlPlane } from '../snapshot/control-plane.ts';

/** An isolate checks for a newer snapshot at most this often, in the background of a request. */
const refreshMs = 1_000;

/**
 * The routing snapshot of one Worker isolate. Isolates cannot run a long-poll in the background,
 * so each request may start a quick check (`waitSeconds=0`) that runs after the response
 * (`waitUntil`); only an isolate's very first request waits for a snapshot. When the control plane
 * cannot be reached the isolate keeps serving the snapshot it has and backs off.
 */
export class IsolateSnapshot {
  readonly core: RouterCore;
  readonly #controlPlane: HttpControlPlane;
  #refreshing: Promise<void> | undefined;
  #checkedAt = 0;
  #failures = 0;
  #nextAttemptAt = 0;

  constructor(config: RouterConfig) {
    this.#controlPlane = new HttpControlPlane(config.controlPlaneUrl, config.routerToken);
    this.core = new RouterCore({
      config,
      controlPlane: this.#controlPlane,
      random: randomSource(config.randomSeed),
      now: Date.now,
      log: { info: (m) => console.log(m), error: (m) => console.error(m) },
    });
  }

  get version(): number {
    return this.core.table.version;
  }

  /** Makes sure there is a snapshot to route with; refreshes it in the background when due. */
  async ensure(background: (work: Promise<unknown>) => void): Promise<void> {
    const now = Date.now();
    if (this.core.table.version < 0) {
      await this.#refresh();
      return;
    }
    if (this.#refreshing === undefined && now - this.#checkedAt >= refreshMs && now >= this.#nextAttemptAt) {
      background(this.#refresh());
    }
  }

  #refresh(): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        const since = this.core.table.version < 0 ? undefined : this.core.table.version;
        const snapshot = await this.#controlPlane.routing(since, 0);
        if (snapshot !== undefined) this.core.applySnapshot(snapshot);
        this.#failures = 0;
      } catch (error) {
        const delay = backoffDelay(this.#failures++, snapshotBackoff, Math.random);
        this.#nextAttemptAt = Date.now() + delay;
        console.error(`routing snapshot unavailable (${message(error)}); serving the last one`);
      } finally {
        this.#checkedAt = Date.now();
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }
}
