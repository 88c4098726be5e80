import type { Probe } from '@skiff/shared';
import type { ProbeAttempt } from './probe.ts';

/** Knative's aggressive probing (`pkg/queue/readiness/probe.go`): retry every 50 ms, 100 ms each. */
export const aggressiveIntervalMs = 50;
export const aggressiveTimeoutMs = 100;
/** How often a ready app is re-checked when its probe sets no period. */
export const defaultRecheckMs = 1000;

/**
 * Keeps track of whether the app is ready. With `periodSeconds: 0` (the default) it probes every
 * 50 ms until the app has passed `successThreshold` times in a row, so a replica takes traffic the
 * moment its app can; with a period it probes on that period. Once ready it re-checks on the
 * period (1 s when none) and falls back to not ready after `failureThreshold` failures in a row.
 */
export class Readiness {
  #ready = false;
  #stopped = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #successes = 0;
  #failures = 0;
  #probe: Probe;
  #attempt: ProbeAttempt;
  #waiters: (() => void)[] = [];
  #onChange: (ready: boolean) => void;

  constructor(probe: Probe, attempt: ProbeAttempt, onChange: (ready: boolean) => void = () => {}) {
    this.#probe = probe;
    this.#attempt = attempt;
    this.#onChange = onChange;
  }

  get ready(): boolean {
    return this.#ready;
  }

  start(): void {
    this.#schedule((this.#probe.initialDelaySeconds ?? 0) * 1000);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** Resolves once the app is ready (at once if it is). */
  whenReady(): Promise<void> {
    if (this.#ready) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#tick(), delayMs);
    this.#timer.unref?.();
  }

  async #tick(): Promise<void> {
    const period = (this.#probe.periodSeconds ?? 0) * 1000;
    const aggressive = period === 0 && !this.#ready;
    const timeoutMs = aggressive ? aggressiveTimeoutMs : (this.#probe.timeoutSeconds || 1) * 1000;
    const ok = await this.#attempt(timeoutMs);
    if (this.#stopped) return;
    if (ok) {
      this.#failures = 0;
      this.#successes++;
      if (!this.#ready && this.#successes >= (this.#probe.successThreshold || 1)) this.#set(true);
    } else {
      this.#successes = 0;
      this.#failures++;
      if (this.#ready && this.#failures >= (this.#probe.failureThreshold || 3)) this.#set(false);
    }
    const next = this.#ready ? period || defaultRecheckMs : period || aggressiveIntervalMs;
    this.#schedule(next);
  }

  #set(ready: boolean): void {
    this.#ready = ready;
    this.#successes = 0;
    this.#failures = 0;
    this.#onChange(ready);
    if (ready) {
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) w();
    }
  }
}
