import type { Stat } from '@skiff/shared';

/**
 * Measures what the autoscaler scales on (Knative's `pkg/queue/stats.go`): the time-weighted
 * average number of requests in the queue-proxy (waiting or at the app) and the arrival rate, over
 * each reporting period, separately for requests the router marked as proxied.
 * Time is passed in (milliseconds) so the arithmetic can be tested exactly.
 */
export class ConcurrencyStats {
  #concurrency = 0;
  #proxiedConcurrency = 0;
  #area = 0;
  #proxiedArea = 0;
  #requests = 0;
  #proxiedRequests = 0;
  #periodStart: number;
  #lastChange: number;

  constructor(now: number) {
    this.#periodStart = now;
    this.#lastChange = now;
  }

  get concurrency(): number {
    return this.#concurrency;
  }

  #advance(now: number): void {
    const dt = now - this.#lastChange;
    if (dt > 0) {
      this.#area += this.#concurrency * dt;
      this.#proxiedArea += this.#proxiedConcurrency * dt;
      this.#lastChange = now;
    }
  }

  requestIn(now: number, proxied: boolean): void {
    this.#advance(now);
    this.#concurrency++;
    this.#requests++;
    if (proxied) {
      this.#proxiedConcurrency++;
      this.#proxiedRequests++;
    }
  }

  requestOut(now: number, proxied: boolean): void {
    this.#advance(now);
    this.#concurrency--;
    if (proxied) this.#proxiedConcurrency--;
  }

  /** Closes the current period and starts the next one. */
  report(now: number): Omit<Stat, 'namespace' | 'revision' | 'pod' | 'processUptimeSeconds'> {
    this.#advance(now);
    const periodMs = Math.max(1, now - this.#periodStart);
    const perSecond = 1000 / periodMs;
    const stat = {
      averageConcurrency: this.#area / periodMs,
      averageProxiedConcurrency: this.#proxiedArea / periodMs,
      requestsPerSecond: this.#requests * perSecond,
      proxiedRequestsPerSecond: this.#proxiedRequests * perSecond,
      periodMs,
      timestamp: now,
    };
    this.#area = 0;
    this.#proxiedArea = 0;
    this.#requests = 0;
    this.#proxiedRequests = 0;
    this.#periodStart = now;
    return stat;
  }
}
