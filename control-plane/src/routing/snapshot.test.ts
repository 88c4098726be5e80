import type { RevisionSpec } from '@skiff/shared';
import { describe, expect, it } from 'vitest';
import { buildSnapshot, type SnapshotService } from './snapshot.ts';

const spec: RevisionSpec = { containers: [{ image: 'hello' }] } as RevisionSpec;
const service = (name: string, annotations?: Record<string, string>): SnapshotService => ({
  namespace: 'default',
  name,
  labels: {},
  ...(annotations ? { annotations } : {}),
  traffic: [{ revisionName: `${name}-00001`, percent: 100, latestRevision: true }],
});
const revision = (name: string) => ({
  namespace: 'default',
  name: `${name}-00001`,
  service: name,
  spec,
  endpoints: [],
});

describe('buildSnapshot: what plain HTTP does per host (Knative’s http-protocol)', () => {
  const annotated = (value: string) => ({ 'networking.knative.dev/http-protocol': value });
  it.each([
    // [platform setting, the Service's annotation, what the route says]
    [undefined, undefined, undefined],
    ['enabled', undefined, undefined],
    ['redirected', undefined, 'redirected'],
    ['disabled', undefined, 'disabled'],
    // The annotation overrides the platform, both ways.
    ['redirected', 'enabled', undefined],
    ['enabled', 'redirected', 'redirected'],
    ['disabled', 'redirected', 'redirected'],
    [undefined, 'disabled', 'disabled'],
  ] as const)('platform %s, annotation %s → %s', (platform, annotation, expected) => {
    const snap = buildSnapshot(
      [service('hello', annotation ? annotated(annotation) : undefined)],
      [revision('hello')],
      'example.com',
      [],
      platform,
    );
    expect(snap.routes[0]?.httpProtocol).toBe(expected);
  });
});

describe('buildSnapshot: mapped domains', () => {
  const tagged: SnapshotService = {
    namespace: 'default',
    name: 'hello',
    labels: {},
    traffic: [
      { revisionName: 'hello-00002', percent: 100, latestRevision: true },
      { revisionName: 'hello-00001', percent: 0, latestRevision: false, tag: 'old' },
    ],
  };
  it('puts a domain mapped to the Service on its split, and one mapped to a tag on that tag only', () => {
    const snap = buildSnapshot([tagged], [], 'example.com', [
      { domain: 'Shop.Example.org', namespace: 'default', service: 'hello' },
      { domain: 'old.example.org', namespace: 'default', service: 'hello', tag: 'old' },
    ]);
    const route = snap.routes[0];
    expect(route?.hosts).toEqual(['hello.default.example.com', 'hello.default.svc.cluster.local', 'shop.example.org']);
    expect(route?.traffic.find((t) => t.tag === 'old')?.hosts).toEqual([
      'old-hello.default.example.com',
      'old-hello.default.svc.cluster.local',
      'old.example.org',
    ]);
  });
});
