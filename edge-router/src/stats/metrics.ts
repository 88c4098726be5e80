import { type Histogram, type Labels, PrometheusWriter } from '@skiff/shared';
import type { Throttler } from '../hold/throttler.ts';

/**
 * The router's own `/metrics` (Prometheus text), per revision it has seen requests for: what it
 * holds and has in flight now, and its totals of requests, answers, 5xx and latency. Written with
 * the project's one Prometheus writer; Knative's names where its activator has one
 * (`kn_revision_request_queued` as on the control plane's `/metrics`, where it is the routers'
 * average; `kn_revision_request_concurrency`, the activator's in-flight gauge), the same
 * `namespace_name` / `revision_name` labels as the control plane.
 */
export function routerMetrics(throttlers: Iterable<Throttler>): string {
  const rows = [...throttlers].map((t) => [{ namespace_name: t.namespace, revision_name: t.name }, t] as const);
  const each = (f: (t: Throttler) => number): [Labels, number][] => rows.map(([labels, t]) => [labels, f(t)]);
  const histograms: [Labels, Histogram][] = rows.map(([labels, t]) => [labels, t.totals.latency]);
  return new PrometheusWriter()
    .gauge(
      'kn_revision_request_queued',
      'Requests this router holds waiting for capacity.',
      each((t) => t.held),
    )
    .gauge(
      'kn_revision_request_concurrency',
      'Requests this router has forwarded and not yet seen answered.',
      each((t) => t.inFlight),
    )
    .counter(
      'skiff_router_requests_total',
      'Requests this router took in.',
      each((t) => t.totals.requests),
    )
    .counter(
      'skiff_router_responses_total',
      'Responses this router finished (from the app, or its own 502, 503, 504).',
      each((t) => t.totals.responses),
    )
    .counter(
      'skiff_router_server_errors_total',
      'Of those responses, the ones with a 5xx status.',
      each((t) => t.totals.serverErrors),
    )
    .histogram(
      'skiff_router_request_duration_seconds',
      'Time from a request arriving at this router to the end of its response.',
      histograms,
    )
    .text();
}
