import { Histogram, type Labels, PrometheusWriter } from '@skiff/shared';
import type { Store } from '../store/store.ts';

const buckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Prometheus metrics of the control plane: API requests, reconciles, revisions by state. */
export class ApiMetrics {
  #requests = new Map<string, { labels: Labels; n: number }>();
  #latency = new Histogram(buckets);
  #reconciles = new Histogram(buckets);
  #reconcileErrors = 0;

  request(method: string, route: string, status: number, ms: number): void {
    const key = `${method} ${route} ${status}`;
    const counted = this.#requests.get(key) ?? { labels: { method, route, code: String(status) }, n: 0 };
    counted.n++;
    this.#requests.set(key, counted);
    this.#latency.observe(ms / 1000);
  }

  reconciled(ms: number, ok: boolean): void {
    this.#reconciles.observe(ms / 1000);
    if (!ok) this.#reconcileErrors++;
  }

  render(store: Store, extra: string[] = []): string {
    const states = { True: 0, False: 0, Unknown: 0 };
    for (const r of store.listRevisions()) {
      const ready = ((r.status as { conditions?: { type: string; status: string }[] }).conditions ?? []).find(
        (c) => c.type === 'Ready',
      );
      const s = (ready?.status ?? 'Unknown') as keyof typeof states;
      states[s]++;
    }
    const w = new PrometheusWriter()
      .counter(
        'skiff_api_requests_total',
        'API requests by method, route and status code.',
        [...this.#requests.values()].map((r) => [r.labels, r.n] as const),
      )
      .histogram('skiff_api_request_duration_seconds', 'API request latency.', [[{}, this.#latency]])
      .histogram('skiff_reconcile_duration_seconds', 'Time to reconcile one service.', [[{}, this.#reconciles]])
      .counter('skiff_reconcile_errors_total', 'Reconciles that failed (and were retried).', [
        [{}, this.#reconcileErrors],
      ])
      .counter('skiff_store_commits_total', 'Group commits (one transaction and one fsync each).', [
        [{}, store.commits.groups],
      ])
      .counter('skiff_store_committed_writes_total', 'Writes those commits carried.', [[{}, store.commits.writes]])
      .gauge(
        'skiff_revisions',
        'Revisions by their Ready condition.',
        Object.entries(states).map(([ready, n]) => [{ ready }, n] as const),
      )
      .gauge('skiff_services', 'Services in the store.', [[{}, store.listServices().length]])
      // Prometheus' standard process metric: a restarted control plane shows a new value.
      .gauge('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.', [
        [{}, Math.round(performance.timeOrigin) / 1000],
      ]);
    return `${[...w.lines(), ...extra].join('\n')}\n`;
  }
}
