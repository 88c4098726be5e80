import { describe, expect, it } from 'vitest';
import { decodeResource } from '../index.ts';

function service(annotations: Record<string, string>) {
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name: 'hello', annotations },
    spec: { template: { spec: { containers: [{ image: 'ghcr.io/knative/helloworld-go:latest' }] } } },
  };
}

function causes(annotations: Record<string, string>): { field: string; message: string }[] {
  const decoded = decodeResource('Service', service(annotations));
  return decoded.ok
    ? []
    : (decoded.status.details?.causes ?? []).map((c) => ({ field: c.field ?? '', message: c.message ?? '' }));
}

describe('rollout.skiff.dev annotations on a Service', () => {
  it('accepts every gate with valid values', () => {
    expect(
      causes({
        'rollout.skiff.dev/steps': '5, 25,50,100',
        'rollout.skiff.dev/step-duration': '30s',
        'rollout.skiff.dev/min-requests': '100',
        'rollout.skiff.dev/max-error-rate': '0.5',
        'rollout.skiff.dev/max-latency-increase': '200ms',
      }),
    ).toEqual([]);
  });

  it.each([
    ['rollout.skiff.dev/steps', '5,25,25', 'steps must increase'],
    ['rollout.skiff.dev/steps', '0,50', 'each step must be between 1 and 100, not 0'],
    ['rollout.skiff.dev/steps', '5,101', 'each step must be between 1 and 100, not 101'],
    ['rollout.skiff.dev/steps', 'five', 'comma-separated list of whole percents'],
    ['rollout.skiff.dev/step-duration', '0s', 'positive duration'],
    ['rollout.skiff.dev/step-duration', 'soon', 'positive duration'],
    ['rollout.skiff.dev/min-requests', '-1', 'whole number of requests'],
    ['rollout.skiff.dev/min-requests', '1.5', 'whole number of requests'],
    ['rollout.skiff.dev/max-error-rate', '101', 'percent between 0 and 100'],
    ['rollout.skiff.dev/max-error-rate', '', 'percent between 0 and 100'],
    ['rollout.skiff.dev/max-latency-increase', '-5ms', 'non-negative duration'],
  ])('rejects %s: %j, naming the field', (key, value, message) => {
    const found = causes({ [key]: value });
    expect(found).toHaveLength(1);
    expect(found[0]?.field).toBe(`metadata.annotations[${key}]`);
    expect(found[0]?.message).toContain(message);
  });

  it('rejects an unknown name under rollout.skiff.dev/, listing the known ones', () => {
    const found = causes({ 'rollout.skiff.dev/max-errors': '1' });
    expect(found).toHaveLength(1);
    expect(found[0]?.field).toBe('metadata.annotations');
    expect(found[0]?.message).toContain('"rollout.skiff.dev/max-errors"');
    expect(found[0]?.message).toContain('"rollout.skiff.dev/max-error-rate"');
  });
});
