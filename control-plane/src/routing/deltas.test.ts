import { parseRouterConfig, type RouterConfig } from '@skiff/edge-router/node';
import { buildRoutingTable, RouterCore, RoutingState, type RoutingTable } from '@skiff/edge-router/routing';
import type { RoutingService, RoutingSnapshot, RoutingTls, SnapshotRevision } from '@skiff/shared';
import { describe, expect, it } from 'vitest';
import { RoutingPublisher } from './publisher.ts';

// Deltas against full snapshots: whatever a router misses (answers dropped, a control plane that
// restarts with a new epoch, a router that starts from a snapshot of another epoch), once it asks
// again it holds exactly the control plane's routing table.

/** mulberry32: a seeded generator, so a failing scenario is named by its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const namespaces = ['default', 'team-a'];
const names = Array.from({ length: 12 }, (_, i) => `svc${i}`);

function randomPart(r: () => number, namespace: string, name: string): RoutingService {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)] as T;
  if (r() < 0.15) return { namespace, name, revisions: [] };
  const revisions: SnapshotRevision[] = [];
  const count = 1 + Math.floor(r() * 3);
  for (let i = 1; i <= count; i++) {
    revisions.push({
      namespace,
      name: `${name}-0000${i}`,
      service: name,
      containerConcurrency: pick([0, 1, 10]),
      timeoutSeconds: 300,
      endpoints: Array.from({ length: Math.floor(r() * 3) }, (_, k) => ({
        pod: `${name}-${i}-${k}`,
        url: `http://127.0.0.1:${40000 + Math.floor(r() * 1000)}`,
      })),
    });
  }
  const local = r() < 0.2;
  const hosts = [`${name}.${namespace}.svc.cluster.local`];
  if (!local) hosts.unshift(`${name}.${namespace}.example.com`);
  const first = revisions[0] as SnapshotRevision;
  const last = revisions.at(-1) as SnapshotRevision;
  const split = first === last ? 100 : Math.floor(r() * 101);
  const traffic: NonNullable<RoutingService['route']>['traffic'] = [{ revisionName: last.name, percent: split }];
  if (first !== last) {
    traffic.push({
      revisionName: first.name,
      percent: 100 - split,
      ...(r() < 0.5 ? { tag: 'prev', hosts: [`prev-${name}.${namespace}.example.com`] } : {}),
    });
  }
  // Sometimes a target whose revision is missing (not ready): the rest still routes.
  if (r() < 0.1) traffic.push({ revisionName: `${name}-00009`, percent: 0 });
  // Sometimes a revision other parts carry too (Routes created directly naming one revision),
  // with this part's view of its endpoints.
  if (r() < 0.3) {
    const shared = `shared-0000${1 + Math.floor(r() * 2)}`;
    traffic.push({ revisionName: shared, percent: 0, tag: `s${name}` });
    if (r() < 0.9) {
      revisions.push({
        namespace,
        name: shared,
        service: name,
        containerConcurrency: 0,
        timeoutSeconds: 300,
        endpoints: [{ pod: `${shared}-1`, url: `http://127.0.0.1:${41000 + Math.floor(r() * 3)}` }],
      });
    }
  }
  return {
    namespace,
    name,
    route: { namespace, name, visibility: local ? 'cluster-local' : 'public', hosts, traffic },
    revisions: r() < 0.9 ? revisions : revisions.slice(1),
  };
}

/** A table as plain data, to compare two tables built differently. */
function tableData(table: RoutingTable): unknown {
  const hosts = [...table.hosts.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([host, e]) => ({
      host,
      namespace: e.namespace,
      route: e.route,
      split: e.split && {
        revisions: e.split.revisions.map((r) => r.name),
        cumulative: e.split.cumulative,
        total: e.split.total,
      },
      pinned: e.pinned?.name,
      tags: [...e.tags.entries()].map(([t, r]) => [t, r.name]).sort(),
    }));
  const revisions = [...table.revisions.entries()].sort(([a], [b]) => a.localeCompare(b));
  return { version: table.version, hosts, revisions };
}

const content = (s: RoutingSnapshot) => ({
  version: s.version,
  epoch: s.epoch,
  routes: s.routes,
  revisions: s.revisions,
  certificates: s.certificates,
  challenges: s.challenges,
});

/** Certificates and ACME challenges, sometimes none. */
function randomTls(r: () => number): RoutingTls {
  if (r() < 0.3) return {};
  return {
    certificates: [{ hosts: [`svc${Math.floor(r() * 12)}.default.example.com`], cert: `c${r()}`, key: `k${r()}` }],
    ...(r() < 0.5 ? { challenges: [{ token: `t${Math.floor(r() * 3)}`, keyAuthorization: `a${r()}` }] } : {}),
  };
}

interface Router {
  core: RouterCore;
  state: RoutingState;
}

function router(config: RouterConfig, initial?: RoutingSnapshot): Router {
  const core = new RouterCore({
    config,
    controlPlane: {
      routing: async () => undefined,
      activate: async () => undefined,
      reportStats: async () => undefined,
    },
    random: Math.random,
    now: () => 0,
    log: { info: () => {}, error: () => {} },
  });
  const state = new RoutingState(initial);
  if (initial) core.applySnapshot(initial);
  return { core, state };
}

/** One long-poll answer taken in, as `SnapshotSource` does; false when the router was current. */
function poll(cp: RoutingPublisher, r: Router): boolean {
  const update = cp.answer(r.state.version ?? -1, true, r.state.epoch);
  if (update === undefined) return false;
  const applied = r.state.apply(update);
  if (applied === undefined) r.state.reset();
  else r.core.applyUpdate(applied, r.state);
  return true;
}

describe('routing deltas', () => {
  const config = parseRouterConfig({ SKIFF_CONTROL_PLANE_URL: 'http://cp', SKIFF_ROUTER_TOKEN: 't' });
  const local = { ...config, serveClusterLocal: true };

  it('converge to the full snapshot whatever routers miss (200 random scenarios)', { timeout: 60_000 }, () => {
    for (let seed = 1; seed <= 200; seed++) {
      const r = prng(seed);
      let epoch = 1 + Math.floor(r() * 5);
      let cp = new RoutingPublisher(epoch, { logSize: 1 + Math.floor(r() * 40) });
      const routers: Router[] = [router(config), router(local), router(config)];
      for (let step = 0; step < 80; step++) {
        const x = r();
        const ns = namespaces[Math.floor(r() * namespaces.length)] as string;
        const name = names[Math.floor(r() * names.length)] as string;
        if (x < 0.37) cp.setService(randomPart(r, ns, name));
        else if (x < 0.4) cp.setTls(randomTls(r));
        else if (x < 0.45) {
          // A resync: every service set at once, some changed, some gone.
          const parts: RoutingService[] = [];
          for (const n of namespaces) for (const s of names) if (r() < 0.7) parts.push(randomPart(r, n, s));
          cp.replaceAll(parts);
        } else if (x < 0.5) {
          // The control plane restarts: a new epoch, the same or changed content.
          const before = cp.current();
          epoch += 1;
          cp = new RoutingPublisher(epoch, { logSize: 1 + Math.floor(r() * 40) });
          cp.setTls(r() < 0.5 ? before : randomTls(r));
          const parts = [...(r() < 0.5 ? [] : [randomPart(r, ns, name)])];
          cp.replaceAll([
            ...before.routes.map((route) => ({
              namespace: route.namespace,
              name: route.name,
              route,
              revisions: before.revisions.filter((v) => v.namespace === route.namespace && v.service === route.name),
            })),
            ...parts,
          ]);
        } else if (x < 0.55) {
          // A router restarts from a snapshot kept from another control plane (another epoch, maybe higher).
          const other = new RoutingPublisher(Math.max(0, epoch + Math.floor(r() * 5) - 2));
          for (let i = 0; i < 4; i++) other.setService(randomPart(r, ns, names[i] as string));
          routers[Math.floor(r() * routers.length)] = router(r() < 0.5 ? config : local, other.current());
        } else {
          // A router's long-poll: taken, or dropped on the way (the connection broke).
          const rt = routers[Math.floor(r() * routers.length)] as Router;
          if (r() < 0.7) poll(cp, rt);
        }
      }
      for (const rt of routers) {
        for (let i = 0; i < 3 && poll(cp, rt); i++);
        expect(poll(cp, rt), `seed ${seed}: current after asking`).toBe(false);
        const full = cp.current();
        expect(content(rt.state.snapshot()), `seed ${seed}`).toEqual(content(full));
        expect([rt.core.table.certificates, [...rt.core.table.challenges]], `seed ${seed}`).toEqual([
          full.certificates ?? [],
          (full.challenges ?? []).map((c) => [c.token, c.keyAuthorization]),
        ]);
        expect(tableData(rt.core.table), `seed ${seed}`).toEqual(
          tableData(buildRoutingTable(full, { serveClusterLocal: rt.core.config.serveClusterLocal })),
        );
      }
    }
  });

  it('sends only the changed service, and a full snapshot on first contact, too far behind or from another epoch', () => {
    const cp = new RoutingPublisher(7, { logSize: 100 });
    for (let i = 0; i < 1000; i++) cp.setService(randomPart(prng(i), 'default', `s${i}`));
    const v = cp.version;
    cp.setService(randomPart(prng(5000), 'default', 's42'));
    const delta = cp.answer(v, true);
    expect(delta).toMatchObject({ kind: 'delta', since: v, version: v + 1 });
    expect((delta as { services: RoutingService[] }).services.map((s) => s.name)).toEqual(['s42']);
    // Without delta=true (an older router), the full snapshot.
    expect(cp.answer(v, false)).toMatchObject({ version: v + 1 });
    expect(cp.answer(v, false)).not.toHaveProperty('kind');
    // First contact, too far behind the change log, another epoch (lower or higher), ahead of it.
    for (const since of [-1, v - 200, 6e9 + 5, 8e9 + 1, v + 5]) {
      expect(cp.answer(since, true), String(since)).not.toHaveProperty('kind');
    }
    expect(cp.answer(cp.version, true)).toBeUndefined();
    expect(cp.answer(cp.version, true, cp.id)).toBeUndefined();
    // The same number from another control plane's run (another database): the full snapshot.
    expect(cp.answer(cp.version, true, 'another-run')).toMatchObject({ version: cp.version, epoch: cp.id });
    expect(cp.answer(cp.version, true, 'another-run')).not.toHaveProperty('kind');
    // Setting what is already there is no change.
    expect(cp.setService(randomPart(prng(5000), 'default', 's42'))).toBe(false);
  });

  it('keeps a revision two Routes share when one of them moves away or is deleted', () => {
    // Routes created directly each carry the revisions they send traffic to in their own part, so
    // two of them naming one revision both carry it: a delta for one must not take it from the other.
    const revision = (service: string, name: string, port: number): SnapshotRevision => ({
      namespace: 'default',
      name,
      service,
      containerConcurrency: 0,
      timeoutSeconds: 300,
      endpoints: [{ pod: `${name}-1`, url: `http://127.0.0.1:${port}` }],
    });
    const routePart = (name: string, revisions: string[]): RoutingService => ({
      namespace: 'default',
      name,
      route: {
        namespace: 'default',
        name,
        visibility: 'public',
        hosts: [`${name}.default.example.com`],
        traffic: revisions.map((r, i) => ({ revisionName: r, percent: i === 0 ? 100 : 0 })),
      },
      revisions: revisions.map((r) => revision(name, r, r === 'blue-00001' ? 40001 : 40002)),
    });
    const gone = (name: string): RoutingService => ({ namespace: 'default', name, revisions: [] });
    for (const [what, change] of [
      ['the later route is deleted', gone('b')],
      ['the earlier route is deleted', gone('a')],
      ['the later route moves to another revision', routePart('b', ['blue-00002'])],
      ['the earlier route moves to another revision', routePart('a', ['blue-00002'])],
    ] as const) {
      const cp = new RoutingPublisher(3);
      cp.setService(routePart('a', ['blue-00001']));
      cp.setService(routePart('b', ['blue-00001']));
      const rt = router(config);
      expect(poll(cp, rt)).toBe(true);
      // A request already went to the route left standing: its revision has a throttler.
      const standing = change.name === 'a' ? 'b' : 'a';
      const before = rt.core.resolve(`${standing}.default.example.com`, undefined);
      if (!before.ok) throw new Error(before.message);
      const throttler = rt.core.throttler(before.revision);
      cp.setService(change);
      expect(cp.answer(rt.state.version ?? -1, true, rt.state.epoch)).toHaveProperty('kind', 'delta');
      poll(cp, rt);
      const full = buildRoutingTable(cp.current(), { serveClusterLocal: false });
      expect(tableData(rt.core.table), what).toEqual(tableData(full));
      // What a user sees: the route left standing still reaches the shared revision's replica.
      const resolved = rt.core.resolve(`${standing}.default.example.com`, undefined);
      expect(resolved.ok && resolved.revision.name, what).toBe('blue-00001');
      expect(rt.core.throttler(before.revision), what).toBe(throttler);
      expect(
        throttler.endpoints.map((e) => e.url),
        what,
      ).toEqual(['http://127.0.0.1:40001']);
    }
  });

  it('wakes a waiting router with the delta', async () => {
    const cp = new RoutingPublisher(2);
    cp.setService(randomPart(prng(1), 'default', 'a'));
    const v = cp.version;
    const waiting = cp.next(v, 5_000, undefined, true);
    cp.setService(randomPart(prng(2), 'default', 'b'));
    expect(await waiting).toMatchObject({ kind: 'delta', since: v, version: v + 1 });
    expect(await cp.next(cp.version, 10, undefined, true)).toBeUndefined();
  });
});
