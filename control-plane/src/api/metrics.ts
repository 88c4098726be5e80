import type { Store } from '../store/store.ts';

const buckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

class Histogram {
  counts = new Array<number>(buckets.length).fill(0);
  count = 0;
  sum = 0;
  observe(seconds: number): void {
    this.count++;
    this.sum += seconds;
    const i = buckets.findIndex((b) => seconds <= b);
    if (i >= 0) this.counts[i] = (this.counts[i] ?? 0) + 1;
  }
  render(name: string, labels: string, out: string[]): void {
    let cumulative = 0;
    const sep = labels ? `${labels},` : '';
    buckets.forEach((b, i) => {
      cumulative += this.counts[i] ?? 0;
      out.push(`${name}_bucket{${sep}le="${b}"} ${cumulative}`);
    });
    out.push(`${name}_bucket{${sep}le="+Inf"} ${this.count}`);
    out.push(`${name}_sum${labels ? `{${labels}}` : ''} ${this.sum}`);
    out.push(`${name}_count${labels ? `{${labels}}` : ''} ${this.count}`);
  }
}

/** Prometheus metrics of the control plane: API requests, reconciles, revisions by state. */
export class ApiMetrics {
  #requests = new Map<string, number>();
  #latency = new Histogram();
  #reconciles = new Histogram();
  #reconcileErrors = 0;

  request(method: string, route: string, status: number, ms: number): void {
    const key = `method="${method}",route="${route}",code="${status}"`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
    this.#latency.observe(ms / 1000);
  }

  reconciled(ms: number, ok: boolean): void {
    this.#reconciles.observe(ms / 1000);
    if (!ok) this.#reconcileErrors++;
  }

  render(store: Store, extra: string[] = []): string {
    const out: string[] = [];
    out.push('# HELP skiff_api_requests_total API requests by method, route and status code.');
    out.push('# TYPE skiff_api_requests_total counter');
    for (const [labels, n] of this.#requests) out.push(`skiff_api_requests_total{${labels}} ${n}`);
    out.push('# HELP skiff_api_request_duration_seconds API request latency.');
    out.push('# TYPE skiff_api_request_duration_seconds histogram');
    this.#latency.render('skiff_api_request_duration_seconds', '', out);
    out.push('# HELP skiff_reconcile_duration_seconds Time to reconcile one service.');
    out.push('# TYPE skiff_reconcile_duration_seconds histogram');
    this.#reconciles.render('skiff_reconcile_duration_seconds', '', out);
    out.push('# HELP skiff_reconcile_errors_total Reconciles that failed (and were retried).');
    out.push('# TYPE skiff_reconcile_errors_total counter');
    out.push(`skiff_reconcile_errors_total ${this.#reconcileErrors}`);
    out.push('# HELP skiff_store_commits_total Group commits (one transaction and one fsync each).');
    out.push('# TYPE skiff_store_commits_total counter');
    out.push(`skiff_store_commits_total ${store.commits.groups}`);
    out.push('# HELP skiff_store_committed_writes_total Writes those commits carried.');
    out.push('# TYPE skiff_store_committed_writes_total counter');
    out.push(`skiff_store_committed_writes_total ${store.commits.writes}`);
    const states = { True: 0, False: 0, Unknown: 0 };
    for (const r of store.listRevisions()) {
      const ready = ((r.status as { conditions?: { type: string; status: string }[] }).conditions ?? []).find(
        (c) => c.type === 'Ready',
      );
      const s = (ready?.status ?? 'Unknown') as keyof typeof states;
      states[s]++;
    }
    out.push('# HELP skiff_revisions Revisions by their Ready condition.');
    out.push('# TYPE skiff_revisions gauge');
    for (const [ready, n] of Object.entries(states)) out.push(`skiff_revisions{ready="${ready}"} ${n}`);
    out.push('# HELP skiff_services Services in the store.');
    out.push('# TYPE skiff_services gauge');
    out.push(`skiff_services ${store.listServices().length}`);
    // Prometheus' standard process metric: a restarted control plane shows a new value.
    out.push('# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.');
    out.push('# TYPE process_start_time_seconds gauge');
    out.push(`process_start_time_seconds ${(performance.timeOrigin / 1000).toFixed(3)}`);
    out.push(...extra);
    return `${out.join('\n')}\n`;
  }
}
