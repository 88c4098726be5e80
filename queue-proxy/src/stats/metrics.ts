import { Histogram, type Labels, PrometheusWriter } from '@skiff/shared';

/**
 * Prometheus metrics of one queue-proxy: counted on the request path with plain numbers, written
 * at scrape time by the project's one writer (`PrometheusWriter` in `@skiff/shared`). Knative's
 * names where Knative has one (its queue-proxy's `kn.serving.invocation.duration` and
 * `kn.serving.queue.depth`, as its Prometheus exporter writes them).
 */

const bucketsSeconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const statusClasses = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

export interface MetricLabels {
  namespace: string;
  service: string;
  configuration: string;
  revision: string;
  pod: string;
}

export interface Gauges {
  /** Requests at the app now. */
  inFlight: number;
  /** Requests waiting for a slot now. */
  queueDepth: number;
  appReady: boolean;
  draining: boolean;
  averageConcurrency: number;
  requestsPerSecond: number;
}

export class Metrics {
  readonly #labels: Labels;
  #requests = [0, 0, 0, 0, 0];
  readonly #duration = new Histogram(bucketsSeconds);
  #rejected = 0;

  constructor(labels: MetricLabels) {
    this.#labels = {
      namespace_name: labels.namespace,
      service_name: labels.service,
      configuration_name: labels.configuration,
      revision_name: labels.revision,
      pod_name: labels.pod,
    };
  }

  /** One answered request: its status and how long it took, waiting included. */
  observe(status: number, seconds: number): void {
    const cls = Math.min(4, Math.max(0, Math.floor(status / 100) - 1));
    this.#requests[cls] = (this.#requests[cls] ?? 0) + 1;
    this.#duration.observe(seconds);
  }

  /** A request refused because the queue was full. */
  rejected(): void {
    this.#rejected++;
  }

  render(g: Gauges): string {
    const l = this.#labels;
    return new PrometheusWriter()
      .counter(
        'skiff_queue_requests_total',
        'Requests answered, by status class.',
        statusClasses.map((cls, i) => [{ ...l, response_code_class: cls }, this.#requests[i] ?? 0] as const),
      )
      .counter('skiff_queue_rejected_requests_total', 'Requests refused with 503 because the queue was full.', [
        [l, this.#rejected],
      ])
      .histogram(
        'kn_serving_invocation_duration_seconds',
        'Time from arrival to the end of the response, waiting included.',
        [[l, this.#duration]],
      )
      .gauge('skiff_queue_in_flight_requests', 'Requests at the app now.', [[l, g.inFlight]])
      .gauge('kn_serving_queue_depth', 'Requests waiting for the app now.', [[l, g.queueDepth]])
      .gauge('skiff_queue_average_concurrency', 'Time-weighted average concurrency over the last period.', [
        [l, g.averageConcurrency],
      ])
      .gauge('skiff_queue_requests_per_second', 'Arrival rate over the last period.', [[l, g.requestsPerSecond]])
      .gauge('skiff_queue_app_ready', '1 when the app passes its readiness probe.', [[l, g.appReady ? 1 : 0]])
      .gauge('skiff_queue_draining', '1 while the queue-proxy drains before exit.', [[l, g.draining ? 1 : 0]])
      .text();
  }
}
