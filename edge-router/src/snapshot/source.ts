import type { RoutingSnapshot } from '@skiff/shared';
import type { Random } from '../routing/random.ts';
import { type Backoff, backoffDelay, snapshotBackoff } from './backoff.ts';
import type { ControlPlane } from './control-plane.ts';

export interface SnapshotSourceOptions {
  waitSeconds: number;
  onSnapshot: (snapshot: RoutingSnapshot) => void;
  onError: (error: unknown, retryInMs: number) => void;
  random: Random;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  backoff?: Backoff;
}

/** A poll that comes back unchanged sooner than this waits out the rest (a control plane not long-polling). */
const minPollMs = 500;

/**
 * Keeps the router's routing snapshot current by long-polling the control plane. When the control
 * plane cannot be reached the router keeps serving the snapshot it has (static stability) and this
 * loop retries with backoff; lookups never wait for it.
 */
export class SnapshotSource {
  readonly #controlPlane: ControlPlane;
  readonly #options: SnapshotSourceOptions;
  #version: number | undefined;
  #stopped = false;
  #first: Promise<void>;
  #resolveFirst!: () => void;

  constructor(controlPlane: ControlPlane, options: SnapshotSourceOptions) {
    this.#controlPlane = controlPlane;
    this.#options = options;
    this.#first = new Promise((resolve) => {
      this.#resolveFirst = resolve;
    });
  }

  get version(): number | undefined {
    return this.#version;
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
        const snapshot = await this.#controlPlane.routing(this.#version, this.#options.waitSeconds);
        failures = 0;
        if (this.#stopped) return;
        if (snapshot !== undefined) {
          this.#version = snapshot.version;
          this.#options.onSnapshot(snapshot);
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
