import type { RoutingSnapshot } from '@skiff/shared';
import type { Random } from '../routing/random.ts';
import { type Backoff, backoffDelay, snapshotBackoff } from './backoff.ts';
import type { ControlPlane } from './control-plane.ts';
import { type Applied, RoutingState } from './state.ts';

export interface SnapshotSourceOptions {
  waitSeconds: number;
  /**
   * Called after each answer is applied to `state`: a full snapshot, or a delta naming the services
   * it changed (the table is updated for those only).
   */
  onUpdate: (applied: Applied, state: RoutingState) => void;
  /** The snapshot the router starts from (kept by a previous run): the first ask is for a delta from it. */
  initial?: RoutingSnapshot;
  onError: (error: unknown, retryInMs: number) => void;
  random: Random;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  backoff?: Backoff;
}

/** A poll that comes back unchanged sooner than this waits out the rest (a control plane not long-polling). */
const minPollMs = 500;

/**
 * Keeps the router's routing snapshot current by long-polling the control plane for what changed
 * since the version it holds (a delta, or a full snapshot when the control plane cannot make one). When the control
 * plane cannot be reached the router keeps serving the snapshot it has (static stability) and this
 * loop retries with backoff; lookups never wait for it.
 */
export class SnapshotSource {
  readonly #controlPlane: ControlPlane;
  readonly #options: SnapshotSourceOptions;
  readonly state: RoutingState;
  #stopped = false;
  #first: Promise<void>;
  #resolveFirst!: () => void;

  constructor(controlPlane: ControlPlane, options: SnapshotSourceOptions) {
    this.#controlPlane = controlPlane;
    this.#options = options;
    this.state = new RoutingState(options.initial);
    this.#first = new Promise((resolve) => {
      this.#resolveFirst = resolve;
    });
  }

  get version(): number | undefined {
    return this.state.version;
  }

  /** Resolves once the first snapshot has been applied. */
  get ready(): Promise<void> {
    return this.#first;
  }

  start(): void {
    void this.#loop();
  }

  stop(): void {
    this.#stopped = true;
  }

  async #loop(): Promise<void> {
    const sleep = this.#options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const now = this.#options.now ?? Date.now;
    let failures = 0;
    while (!this.#stopped) {
      try {
        const started = now();
        const cp = this.#controlPlane;
        const since = this.state.version;
        const wait = this.#options.waitSeconds;
        const update = cp.routingUpdate
          ? await cp.routingUpdate(since, wait, this.state.epoch)
          : await cp.routing(since, wait);
        failures = 0;
        if (this.#stopped) return;
        if (update !== undefined) {
          const applied = this.state.apply(update);
          if (applied === undefined) {
            // A delta from a version other than ours (never expected): start again from a full one.
            this.state.reset();
            continue;
          }
          this.#options.onUpdate(applied, this.state);
          this.#resolveFirst();
        } else if (now() - started < minPollMs) {
          await sleep(minPollMs - (now() - started));
        }
      } catch (error) {
        const delay = backoffDelay(failures++, this.#options.backoff ?? snapshotBackoff, this.#options.random);
        this.#options.onError(error, delay);
        await sleep(delay);
      }
    }
  }
}
