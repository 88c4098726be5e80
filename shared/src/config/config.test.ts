import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyAutoscalerSettings, autoscalerDefaults, formatDuration, parseDuration } from '../index.ts';

describe('Go durations', () => {
  it.each([
    ['60s', 60_000],
    ['1m30s', 90_000],
    ['1.5h', 5_400_000],
    ['250ms', 250],
    ['0', 0],
    ['-1s', -1000],
    ['1h0m0s', 3_600_000],
  ])('parses %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '60', 's', '1d', '1m 30s', 'abc', '--1s'])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it.each([
    [6000, '6s'],
    [60_000, '1m0s'],
    [3_600_000, '1h0m0s'],
    [250, '250ms'],
  ])('formats %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('shared/ stays portable', () => {
  it('has no node: imports, no process or Deno globals, and no I/O outside tests', () => {
    const root = join(import.meta.dirname, '..');
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
          const text = readFileSync(path, 'utf8');
          if (
            /from '(node:|fs|path|http|child_process)/.test(text) ||
            /\b(process|Deno|Bun)\./.test(text) ||
            /\bfetch\(/.test(text)
          ) {
            offenders.push(path);
          }
        }
      }
    };
    walk(root);
    expect(offenders).toEqual([]);
  });
});

describe('applyAutoscalerSettings', () => {
  it('applies Knative config-autoscaler keys', () => {
    const { config, errors } = applyAutoscalerSettings(autoscalerDefaults, {
      'stable-window': '10s',
      'scale-to-zero-grace-period': '2s',
      'container-concurrency-target-percentage': '80',
      'enable-scale-to-zero': 'false',
      'max-scale-up-rate': '10',
      'tick-interval': '500ms',
    });
    expect(errors).toEqual([]);
    expect(config).toMatchObject({
      stableWindowMs: 10_000,
      scaleToZeroGracePeriodMs: 2000,
      targetUtilization: 0.8,
      enableScaleToZero: false,
      maxScaleUpRate: 10,
      tickIntervalMs: 500,
    });
    expect(
      applyAutoscalerSettings(autoscalerDefaults, { 'container-concurrency-target-percentage': '0.5' }).config
        .targetUtilization,
    ).toBe(0.5);
  });

  it('reports every bad value by key and applies nothing', () => {
    const { config, errors } = applyAutoscalerSettings(autoscalerDefaults, {
      'stable-window': '5s',
      'max-scale-down-rate': '1',
      'initial-scale': '1.5',
      'enable-scale-to-zero': 'yes',
      'scale-to-zero-grace-period': '0s',
      windw: '10s',
      'min-scale': '2',
    });
    expect(config).toBe(autoscalerDefaults);
    expect(errors).toEqual([
      'stable-window: must be >= 6s and <= 3600s, got "5s"',
      'max-scale-down-rate: must be > 1, got "1"',
      'initial-scale: expected a whole number, got "1.5"',
      'enable-scale-to-zero: expected true or false, got "yes"',
      'scale-to-zero-grace-period: must be > 0s, got "0s"',
      expect.stringMatching(/^windw: not an autoscaler setting \(one of enable-scale-to-zero, /),
    ]);
  });
});
