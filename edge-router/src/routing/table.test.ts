import type { RoutingSnapshot, SnapshotRevision, SnapshotRoute } from '@skiff/shared';
import { describe, expect, it } from 'vitest';
import { normalizeHost } from './host.ts';
import { seededRandom } from './random.ts';
import { buildRoutingTable, pickWeighted, resolveRevision } from './table.ts';

const rev = (name: string, namespace = 'default'): SnapshotRevision => ({
  namespace,
  name,
  service: name.split('-')[0] as string,
  containerConcurrency: 0,
  timeoutSeconds: 300,
  endpoints: [{ pod: `${name}-pod`, url: `http://127.0.0.1:1${name.length}` }],
});
const route = (name: string, traffic: SnapshotRoute['traffic'], extra: Partial<SnapshotRoute> = {}): SnapshotRoute => ({
  namespace: 'default',
  name,
  visibility: 'public',
  hosts: [`${name}.default.example.com`],
  traffic,
  ...extra,
});
const snapshot = (routes: SnapshotRoute[], revisions: SnapshotRevision[]): RoutingSnapshot => ({
  version: 7,
  generatedAt: '2026-11-22T00:00:00Z',
  routes,
  revisions,
});
const fixed = (x: number) => () => x;

describe('normalizeHost', () => {
  it.each([
    ['hello.default.example.com', 'hello.default.example.com'],
    ['Hello.Default.EXAMPLE.com', 'hello.default.example.com'],
    ['hello.default.example.com:8080', 'hello.default.example.com'],
    ['hello.default.example.com.', 'hello.default.example.com'],
    ['[::1]:8080', '[::1]'],
    ['', undefined],
    [null, undefined],
    [':80', undefined],
  ])('%j → %j', (input, expected) => {
    expect(normalizeHost(input)).toBe(expected);
  });
});

describe('routing table', () => {
  const table = buildRoutingTable(
    snapshot(
      [
        route('hello', [
          { revisionName: 'hello-00001', percent: 90, tag: 'stable' },
          { revisionName: 'hello-00002', percent: 10, tag: 'next', hosts: ['next-hello.default.example.com'] },
        ]),
        route('secret', [{ revisionName: 'secret-00001', percent: 100 }], {
          visibility: 'cluster-local',
          hosts: ['secret.default.svc.cluster.local'],
        }),
        route('ghost', [{ revisionName: 'ghost-00001', percent: 100 }]),
      ],
      [rev('hello-00001'), rev('hello-00002'), rev('secret-00001')],
    ),
    { serveClusterLocal: false },
  );

  it('resolves the main host by weight, with the port and case ignored', () => {
    expect(resolveRevision(table, 'HELLO.default.example.com:80', null, fixed(0.5))).toMatchObject({
      ok: true,
      revision: { name: 'hello-00001' },
    });
    expect(resolveRevision(table, 'hello.default.example.com', null, fixed(0.95))).toMatchObject({
      revision: { name: 'hello-00002' },
    });
  });

  it('sends a tag host to its revision whatever the draw', () => {
    for (const x of [0, 0.5, 0.99]) {
      expect(resolveRevision(table, 'next-hello.default.example.com', null, fixed(x))).toMatchObject({
        revision: { name: 'hello-00002' },
      });
    }
  });

  it('lets a known tag header pick its revision and an unknown one fall through to the split', () => {
    expect(resolveRevision(table, 'hello.default.example.com', 'next', fixed(0))).toMatchObject({
      revision: { name: 'hello-00002' },
    });
    expect(resolveRevision(table, 'hello.default.example.com', 'nope', fixed(0))).toMatchObject({
      revision: { name: 'hello-00001' },
    });
  });

  it('answers 404 for unknown hosts and for cluster-local routes on the public host set', () => {
    expect(resolveRevision(table, 'nobody.default.example.com', null, fixed(0))).toEqual({
      ok: false,
      status: 404,
      message: 'no service is served at host nobody.default.example.com',
    });
    expect(resolveRevision(table, 'secret.default.svc.cluster.local', null, fixed(0))).toMatchObject({ status: 404 });
    expect(resolveRevision(table, undefined, null, fixed(0))).toMatchObject({ status: 404 });
  });

  it('serves cluster-local routes when the router is an in-cluster one', () => {
    const internal = buildRoutingTable(
      snapshot(
        [route('secret', [{ revisionName: 'secret-00001', percent: 100 }], { visibility: 'cluster-local' })],
        [rev('secret-00001')],
      ),
      { serveClusterLocal: true },
    );
    expect(resolveRevision(internal, 'secret.default.example.com', null, fixed(0))).toMatchObject({ ok: true });
  });

  it('answers 503 for a route whose revisions are all missing from the snapshot', () => {
    expect(resolveRevision(table, 'ghost.default.example.com', null, fixed(0))).toEqual({
      ok: false,
      status: 503,
      message: 'route default/ghost has no revision receiving traffic',
    });
  });
});

describe('pickWeighted', () => {
  it('lands a seeded 90/10 split within half a point over 100,000 draws', () => {
    const table = buildRoutingTable(
      snapshot(
        [
          route('s', [
            { revisionName: 's-00001', percent: 90 },
            { revisionName: 's-00002', percent: 10 },
          ]),
        ],
        [rev('s-00001'), rev('s-00002')],
      ),
      { serveClusterLocal: false },
    );
    const split = table.lookup('s.default.example.com')?.split;
    if (!split) throw new Error('no split');
    const random = seededRandom(42);
    let second = 0;
    for (let i = 0; i < 100_000; i++) if (pickWeighted(split, random)?.name === 's-00002') second++;
    expect(Math.abs(second / 1000 - 10)).toBeLessThan(0.5);
  });

  it('gives the same sequence for the same seed', () => {
    const a = seededRandom(7);
    const b = seededRandom(7);
    expect(Array.from({ length: 5 }, a)).toEqual(Array.from({ length: 5 }, b));
  });
});
