import { describe, expect, it } from 'vitest';
import {
  defaultReadinessProbe,
  defaultRevisionSpec,
  defaultService,
  defaultTraffic,
  type Probe,
  type RevisionSpec,
  resolveAutoscaling,
  revisionDefaults,
  type Service,
  servingPort,
} from './index.ts';

const spec = (extra: Partial<RevisionSpec> = {}): RevisionSpec => ({ containers: [{ image: 'app' }], ...extra });

describe('traffic defaulting', () => {
  it.each([
    [
      'empty traffic in a Service sends 100% to the latest revision',
      [],
      true,
      [{ latestRevision: true, percent: 100 }],
    ],
    [
      'absent traffic in a Service sends 100% to the latest revision',
      undefined,
      true,
      [{ latestRevision: true, percent: 100 }],
    ],
    ['empty traffic in a Route stays empty', [], false, []],
    [
      'a target without revisionName floats to the latest',
      [{ percent: 100 }],
      true,
      [{ latestRevision: true, percent: 100 }],
    ],
    [
      'a target with revisionName is pinned',
      [{ revisionName: 'a-00001', percent: 100 }],
      true,
      [{ revisionName: 'a-00001', latestRevision: false, percent: 100 }],
    ],
    [
      'a missing percent becomes 0',
      [{ revisionName: 'a-00001', tag: 'x' }],
      true,
      [{ revisionName: 'a-00001', tag: 'x', latestRevision: false, percent: 0 }],
    ],
  ] as const)('%s', (_name, input, inService, expected) => {
    expect(defaultTraffic(input === undefined ? undefined : structuredClone([...input]), inService)).toEqual(expected);
  });
});

describe('revision spec defaulting', () => {
  it.each([
    ['containerConcurrency defaults to 0', spec(), (s: RevisionSpec) => s.containerConcurrency, 0],
    [
      'an explicit containerConcurrency is kept',
      spec({ containerConcurrency: 5 }),
      (s: RevisionSpec) => s.containerConcurrency,
      5,
    ],
    ['timeoutSeconds defaults to 300', spec(), (s: RevisionSpec) => s.timeoutSeconds, 300],
    ['timeoutSeconds 0 means the default', spec({ timeoutSeconds: 0 }), (s: RevisionSpec) => s.timeoutSeconds, 300],
    ['an explicit timeout is kept', spec({ timeoutSeconds: 42 }), (s: RevisionSpec) => s.timeoutSeconds, 42],
    [
      'the response-start timeout stays unset with stock defaults',
      spec(),
      (s: RevisionSpec) => s.responseStartTimeoutSeconds,
      undefined,
    ],
    ['the idle timeout stays unset with stock defaults', spec(), (s: RevisionSpec) => s.idleTimeoutSeconds, undefined],
    [
      'a single container is named user-container',
      spec(),
      (s: RevisionSpec) => s.containers[0]?.name,
      'user-container',
    ],
    [
      'a named container keeps its name',
      spec({ containers: [{ name: 'web', image: 'a' }] }),
      (s: RevisionSpec) => s.containers[0]?.name,
      'web',
    ],
    [
      'unnamed containers of several are numbered',
      spec({ containers: [{ image: 'a', ports: [{ containerPort: 80 }] }, { image: 'b' }] }),
      (s: RevisionSpec) => s.containers.map((c) => c.name),
      ['user-container-0', 'user-container-1'],
    ],
    [
      'a container without a probe gets a TCP readiness probe',
      spec(),
      (s: RevisionSpec) => s.containers[0]?.readinessProbe,
      { tcpSocket: {}, successThreshold: 1 },
    ],
    [
      'only the serving container of several gets a probe',
      spec({ containers: [{ image: 'a', ports: [{ containerPort: 80 }] }, { image: 'b' }] }),
      (s: RevisionSpec) => s.containers.map((c) => c.readinessProbe !== undefined),
      [true, false],
    ],
  ] as const)('%s', (_name, input, pick, expected) => {
    expect(pick(defaultRevisionSpec(input))).toEqual(expected);
  });

  it('copies platform response-start and idle defaults only when they fit the timeout', () => {
    const defaults = { ...revisionDefaults, responseStartTimeoutSeconds: 60, idleTimeoutSeconds: 30 };
    expect(defaultRevisionSpec(spec(), defaults)).toMatchObject({
      responseStartTimeoutSeconds: 60,
      idleTimeoutSeconds: 30,
    });
    expect(defaultRevisionSpec(spec({ timeoutSeconds: 45 }), defaults).responseStartTimeoutSeconds).toBeUndefined();
  });

  it('does not change the input', () => {
    const input = spec();
    defaultRevisionSpec(input);
    expect(input).toEqual(spec());
  });
});

describe('readiness probe defaulting', () => {
  it.each([
    ['an empty probe becomes TCP with successThreshold 1', {}, { tcpSocket: {}, successThreshold: 1 }],
    [
      'an httpGet probe keeps its handler',
      { httpGet: { path: '/ready' } },
      { httpGet: { path: '/ready' }, successThreshold: 1 },
    ],
    [
      'a periodic probe gets failureThreshold 3 and timeout 1',
      { tcpSocket: {}, periodSeconds: 5 },
      { tcpSocket: {}, periodSeconds: 5, successThreshold: 1, failureThreshold: 3, timeoutSeconds: 1 },
    ],
    [
      'explicit thresholds are kept',
      { exec: { command: ['true'] }, periodSeconds: 2, failureThreshold: 7, timeoutSeconds: 3 },
      { exec: { command: ['true'] }, periodSeconds: 2, successThreshold: 1, failureThreshold: 7, timeoutSeconds: 3 },
    ],
  ] as [string, Probe, Probe][])('%s', (_name, input, expected) => {
    expect(defaultReadinessProbe(structuredClone(input))).toEqual(expected);
  });
});

describe('service defaulting', () => {
  it('puts a service without a namespace in "default"', () => {
    const svc: Service = {
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Service',
      metadata: { name: 'x' },
      spec: { template: { spec: spec() } },
    };
    expect(defaultService(svc).metadata.namespace).toBe('default');
  });

  it('serves on the declared port, else 8080', () => {
    expect(servingPort(spec()).containerPort).toBe(8080);
    expect(servingPort(spec({ containers: [{ image: 'a', ports: [{ containerPort: 3000 }] }] })).containerPort).toBe(
      3000,
    );
  });
});

describe('autoscaling resolution (target.go)', () => {
  const a = (annotations: Record<string, string>) =>
    Object.fromEntries(Object.entries(annotations).map(([k, v]) => [`autoscaling.knative.dev/${k}`, v]));
  it.each([
    ['CC=0 targets 70 of 100 per replica', {}, 0, { metric: 'concurrency', totalTarget: 100, target: 70 }],
    ['CC=10 targets 7 of 10', {}, 10, { totalTarget: 10, target: 7 }],
    ['a target annotation is capped by CC', { target: '50' }, 10, { totalTarget: 10, target: 7 }],
    ['a target annotation applies when CC=0', { target: '50' }, 0, { totalTarget: 50, target: 35 }],
    [
      'utilization 50% halves the total',
      { 'target-utilization-percentage': '50' },
      0,
      { target: 50, targetUtilization: 0.5 },
    ],
    ['rps targets 140 of 200', { metric: 'rps' }, 0, { metric: 'rps', totalTarget: 200, target: 140 }],
    ['the target never drops below 0.01', { target: '0.01' }, 0, { target: 0.01 }],
    [
      'default windows are 60s stable and 6s panic',
      {},
      0,
      { stableWindowMs: 60_000, panicWindowMs: 6_000, panicThreshold: 2 },
    ],
    ['a 10s window has a 1s panic window', { window: '10s' }, 0, { stableWindowMs: 10_000, panicWindowMs: 1_000 }],
    [
      'defaults: scale 0..unbounded, initial 1, TBC 211',
      {},
      0,
      { minScale: 0, maxScale: 0, initialScale: 1, targetBurstCapacity: 211 },
    ],
    ['annotations set min and max scale', { 'min-scale': '2', maxScale: '9' }, 0, { minScale: 2, maxScale: 9 }],
    [
      'scale-down delay and retention parse as durations',
      { 'scale-down-delay': '1m', 'scale-to-zero-pod-retention-period': '90s' },
      0,
      { scaleDownDelayMs: 60_000, scaleToZeroPodRetentionPeriodMs: 90_000 },
    ],
    [
      'the aggregation algorithm is read',
      { 'metric-aggregation-algorithm': 'weighted-exponential' },
      0,
      { aggregation: 'weighted-exponential' },
    ],
  ] as const)('%s', (_name, annotations, cc, expected) => {
    expect(resolveAutoscaling(a(annotations), cc)).toMatchObject(expected);
  });
});
