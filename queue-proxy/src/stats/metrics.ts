/**
 * Prometheus metrics of one queue-proxy, written by hand: a few counters, gauges and one
 * histogram need no client library on the request path.
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
  #labels: string;
  #requests = [0, 0, 0, 0, 0];
  #buckets = new Array<number>(bucketsSeconds.length).fill(0);
  #count = 0;
  #sum = 0;
  #rejected = 0;

  constructor(labels: MetricLabels) {
    this.#labels = [
      `namespace_name="${escapeLabel(labels.namespace)}"`,
      `service_name="${escapeLabel(labels.service)}"`,
      `configuration_name="${escapeLabel(labels.configuration)}"`,
      `revision_name="${escapeLabel(labels.revision)}"`,
      `pod_name="${escapeLabel(labels.pod)}"`,
    ].join(',');
  }

  /** One answered request: its status and how long it took, waiting included. */
  observe(status: number, seconds: number): void {
    const cls = Math.min(4, Math.max(0, Math.floor(status / 100) - 1));
    this.#requests[cls] = (this.#requests[cls] ?? 0) + 1;
    this.#count++;
    this.#sum += seconds;
    for (let i = 0; i < bucketsSeconds.length; i++) {
      if (seconds <= (bucketsSeconds[i] ?? 0)) {
        this.#buckets[i] = (this.#buckets[i] ?? 0) + 1;
        break;
      }
    }
  }

  /** A request refused because the queue was full. */
  rejected(): void {
    this.#rejected++;
  }

  render(g: Gauges): string {
    const l = this.#labels;
    const lines: string[] = [];
    lines.push('# HELP skiff_queue_requests_total Requests answered, by status class.');
    lines.push('# TYPE skiff_queue_requests_total counter');
    statusClasses.forEach((cls, i) => {
      lines.push(`skiff_queue_requests_total{${l},response_code_class="${cls}"} ${this.#requests[i] ?? 0}`);
    });
    lines.push('# HELP skiff_queue_rejected_requests_total Requests refused with 503 because the queue was full.');
    lines.push('# TYPE skiff_queue_rejected_requests_total counter');
    lines.push(`skiff_queue_rejected_requests_total{${l}} ${this.#rejected}`);
    lines.push('# HELP skiff_queue_request_duration_seconds Time from arrival to the end of the response.');
    lines.push('# TYPE skiff_queue_request_duration_seconds histogram');
    let cumulative = 0;
    bucketsSeconds.forEach((le, i) => {
      cumulative += this.#buckets[i] ?? 0;
      lines.push(`skiff_queue_request_duration_seconds_bucket{${l},le="${le}"} ${cumulative}`);
    });
    lines.push(`skiff_queue_request_duration_seconds_bucket{${l},le="+Inf"} ${this.#count}`);
    lines.push(`skiff_queue_request_duration_seconds_sum{${l}} ${this.#sum}`);
    lines.push(`skiff_queue_request_duration_seconds_count{${l}} ${this.#count}`);
    const gauge = (name: string, help: string, value: number) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name}{${l}} ${value}`);
    };
    gauge('skiff_queue_in_flight_requests', 'Requests at the app now.', g.inFlight);
    gauge('skiff_queue_depth', 'Requests waiting for the app now.', g.queueDepth);
    gauge(
      'skiff_queue_average_concurrency',
      'Time-weighted average concurrency over the last period.',
      g.averageConcurrency,
    );
    gauge('skiff_queue_requests_per_second', 'Arrival rate over the last period.', g.requestsPerSecond);
    gauge('skiff_queue_app_ready', '1 when the app passes its readiness probe.', g.appReady ? 1 : 0);
    gauge('skiff_queue_draining', '1 while the queue-proxy drains before exit.', g.draining ? 1 : 0);
    return `${lines.join('\n')}\n`;
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
