import { describe, expect, it } from 'vitest';
import { ConcurrencyStats } from './concurrency.ts';
import { Metrics } from './metrics.ts';

describe('concurrency stats', () => {
  it('averages concurrency over time, not over requests', () => {
    const s = new ConcurrencyStats(0);
    s.requestIn(0, false);
    s.requestIn(0, false);
    s.requestOut(500, false); // two for 500 ms, then one for 500 ms
    expect(s.report(1000)).toMatchObject({ averageConcurrency: 1.5, requestsPerSecond: 2, periodMs: 1000 });
  });

  it('carries requests still in flight into the next period', () => {
    const s = new ConcurrencyStats(0);
    s.requestIn(250, false);
    expect(s.report(1000).averageConcurrency).toBeCloseTo(0.75);
    const next = s.report(2000);
    expect(next.averageConcurrency).toBe(1);
    expect(next.requestsPerSecond).toBe(0);
  });

  it('counts proxied requests separately as well as in the total', () => {
    const s = new ConcurrencyStats(0);
    s.requestIn(0, true);
    s.requestIn(0, false);
    s.requestOut(1000, true);
    expect(s.report(1000)).toMatchObject({
      averageConcurrency: 2,
      averageProxiedConcurrency: 1,
      requestsPerSecond: 2,
      proxiedRequestsPerSecond: 1,
    });
  });

  it('scales rates to per second for periods that are not one second long', () => {
    const s = new ConcurrencyStats(0);
    for (let i = 0; i < 5; i++) s.requestIn(0, false);
    expect(s.report(500).requestsPerSecond).toBe(10);
  });
});

describe('prometheus metrics', () => {
  it('renders counters by status class, a histogram and gauges with revision labels', () => {
    const m = new Metrics({
      namespace: 'default',
      service: 'hello',
      configuration: 'hello',
      revision: 'hello-00001',
      pod: 'p1',
    });
    m.observe(200, 0.02);
    m.observe(204, 0.3);
    m.observe(503, 0.001);
    m.rejected();
    const text = m.render({
      inFlight: 2,
      queueDepth: 1,
      appReady: true,
      draining: false,
      averageConcurrency: 1.5,
      requestsPerSecond: 3,
    });
    const labels =
      'namespace_name="default",service_name="hello",configuration_name="hello",revision_name="hello-00001",pod_name="p1"';
    expect(text).toContain(`skiff_queue_requests_total{${labels},response_code_class="2xx"} 2`);
    expect(text).toContain(`skiff_queue_requests_total{${labels},response_code_class="5xx"} 1`);
    expect(text).toContain(`kn_serving_invocation_duration_seconds_bucket{${labels},le="0.025"} 2`);
    expect(text).toContain(`kn_serving_invocation_duration_seconds_count{${labels}} 3`);
    expect(text).toContain(`skiff_queue_in_flight_requests{${labels}} 2`);
    expect(text).toContain(`kn_serving_queue_depth{${labels}} 1`);
    expect(text).toContain(`skiff_queue_rejected_requests_total{${labels}} 1`);
  });
});
