import { describe, expect, it } from 'vitest';
import { ActivateRequestSchema, RouterStatsSchema, RoutingSnapshotSchema, StatSchema } from '../index.ts';

describe('wire contracts', () => {
  it('accepts a routing snapshot with tags and endpoints', () => {
    const snapshot = {
      version: 7,
      generatedAt: '2026-11-22T08:00:00.000Z',
      routes: [
        {
          namespace: 'default',
          name: 'hello',
          visibility: 'public',
          hosts: ['hello.default.localhost', 'hello.default.svc.cluster.local'],
          traffic: [
            { revisionName: 'hello-00001', percent: 90, tag: 'old', hosts: ['old-hello.default.localhost'] },
            { revisionName: 'hello-00002', percent: 10 },
          ],
        },
      ],
      revisions: [
        {
          namespace: 'default',
          name: 'hello-00001',
          service: 'hello',
          containerConcurrency: 1,
          timeoutSeconds: 300,
          endpoints: [{ pod: 'hello-00001-a', url: 'http://127.0.0.1:40001' }],
        },
      ],
    };
    expect(RoutingSnapshotSchema.parse(snapshot)).toEqual(snapshot);
  });

  it('rejects a snapshot target with a percent above 100', () => {
    const bad = {
      version: 1,
      generatedAt: '',
      routes: [
        { namespace: 'd', name: 'h', visibility: 'public', hosts: [], traffic: [{ revisionName: 'r', percent: 101 }] },
      ],
      revisions: [],
    };
    expect(RoutingSnapshotSchema.safeParse(bad).success).toBe(false);
  });

  it('accepts a queue-proxy stat and rejects negative concurrency', () => {
    const stat = {
      namespace: 'default',
      revision: 'hello-00001',
      pod: 'hello-00001-a',
      averageConcurrency: 3.9,
      averageProxiedConcurrency: 0.5,
      requestsPerSecond: 19,
      proxiedRequestsPerSecond: 2,
      processUptimeSeconds: 12.5,
      periodMs: 1000,
      timestamp: 1_790_000_000_000,
    };
    expect(StatSchema.parse(stat)).toEqual(stat);
    expect(StatSchema.safeParse({ ...stat, averageConcurrency: -1 }).success).toBe(false);
  });

  it('accepts router stats and an activation poke', () => {
    expect(
      RouterStatsSchema.safeParse({
        router: 'r1',
        timestamp: 1,
        periodMs: 1000,
        revisions: [
          { namespace: 'default', revision: 'a-00001', averageHeld: 2, averageInFlight: 1, requestsPerSecond: 3 },
        ],
      }).success,
    ).toBe(true);
    expect(ActivateRequestSchema.safeParse({ namespace: 'default', revision: 'a-00001', held: 1 }).success).toBe(true);
    expect(ActivateRequestSchema.safeParse({ revision: 'a-00001' }).success).toBe(false);
  });
});
