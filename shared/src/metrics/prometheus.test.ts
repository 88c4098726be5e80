import { describe, expect, it } from 'vitest';
import { Histogram, PrometheusWriter } from './prometheus.ts';

describe('Prometheus writer', () => {
  it('writes counters and gauges with HELP, TYPE and escaped labels', () => {
    const text = new PrometheusWriter()
      .counter('skiff_things_total', 'Things.', [[{ name: 'a"b\\c\nd' }, 3]])
      .gauge('skiff_level', 'A level.', [[{}, 0.5]])
      .text();
    expect(text).toBe(
      '# HELP skiff_things_total Things.\n# TYPE skiff_things_total counter\n' +
        'skiff_things_total{name="a\\"b\\\\c\\nd"} 3\n' +
        '# HELP skiff_level A level.\n# TYPE skiff_level gauge\nskiff_level 0.5\n',
    );
  });

  it('writes a histogram with cumulative buckets, +Inf, sum and count', () => {
    const h = new Histogram([0.1, 1]);
    for (const v of [0.05, 0.5, 0.7, 3]) h.observe(v);
    const text = new PrometheusWriter().histogram('x_seconds', 'X.', [[{ phase: 'spawn' }, h]]).text();
    expect(text.split('\n')).toEqual([
      '# HELP x_seconds X.',
      '# TYPE x_seconds histogram',
      'x_seconds_bucket{phase="spawn",le="0.1"} 1',
      'x_seconds_bucket{phase="spawn",le="1"} 3',
      'x_seconds_bucket{phase="spawn",le="+Inf"} 4',
      'x_seconds_sum{phase="spawn"} 4.25',
      'x_seconds_count{phase="spawn"} 4',
      '',
    ]);
  });
});
