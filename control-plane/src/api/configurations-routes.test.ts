import { buildRoutingTable, resolveRevision } from '@skiff/edge-router/routing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, harness, service, svcPath } from '../testing/harness.ts';

// Configurations and Routes written directly, as Knative lets users write them, and what a
// Service's own ones do when written to.

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(async () => {
  await h.close();
});

const base = '/apis/serving.knative.dev/v1/namespaces/default';
const json = async (r: Response) => (await r.json()) as any;
const get = async (path: string) => json(await h.api('GET', path));
const merge = { 'content-type': 'application/merge-patch+json' };

const configuration = (name: string, target: string) => ({
  apiVersion: 'serving.knative.dev/v1',
  kind: 'Configuration',
  metadata: { name },
  spec: {
    template: {
      spec: { containers: [{ image: 'ghcr.io/knative/helloworld-go', env: [{ name: 'TARGET', value: target }] }] },
    },
  },
});
const route = (name: string, traffic: unknown[]) => ({
  apiVersion: 'serving.knative.dev/v1',
  kind: 'Route',
  metadata: { name },
  spec: { traffic },
});
const routing = async () =>
  json(await h.fetch(`${h.cp.url}/internal/v1/routing?since=0`, { headers: { authorization: 'Bearer router-token' } }));

describe('a Configuration created directly', () => {
  it('stamps a revision per template change, as a Service does, and reports the latest ones', async () => {
    const r = await h.api('POST', `${base}/configurations`, configuration('blue', 'v1'));
    expect(r.status).toBe(201);
    await h.settle();
    const cfg = await get(`${base}/configurations/blue`);
    expect(cfg.metadata.ownerReferences).toBeUndefined();
    expect(cfg.status).toMatchObject({
      observedGeneration: 1,
      latestCreatedRevisionName: 'blue-00001',
      latestReadyRevisionName: 'blue-00001',
    });
    expect(cfg.status.conditions[0]).toMatchObject({ type: 'Ready', status: 'True' });
    const rev = await get(`${base}/revisions/blue-00001`);
    expect(rev.metadata.labels['serving.knative.dev/configuration']).toBe('blue');
    expect(rev.metadata.labels['serving.knative.dev/service']).toBeUndefined();
    // Not a Service, and not routed by itself.
    expect((await h.api('GET', svcPath('blue'))).status).toBe(404);
    expect((await routing()).routes).toEqual([]);

    const patched = await h.api(
      'PATCH',
      `${base}/configurations/blue`,
      {
        spec: {
          template: {
            spec: { containers: [{ image: 'ghcr.io/knative/helloworld-go', env: [{ name: 'TARGET', value: 'v2' }] }] },
          },
        },
      },
      merge,
    );
    expect(patched.status).toBe(200);
    expect((await json(patched)).metadata.generation).toBe(2);
    await h.settle();
    expect((await get(`${base}/configurations/blue`)).status.latestReadyRevisionName).toBe('blue-00002');
  });

  it('refuses bad input with field paths, and a name a Service holds', async () => {
    const bad = configuration('bad', 'v1') as any;
    bad.spec.template.spec.containers[0].imag = 'x';
    const r = await h.api('POST', `${base}/configurations`, bad);
    expect(r.status).toBe(422);
    expect(JSON.stringify((await json(r)).details.causes)).toContain('spec.template.spec.containers[0].imag');
    await h.api('POST', svcPath(), service('web'));
    const taken = await h.api('POST', `${base}/configurations`, configuration('web', 'v1'));
    expect(taken.status).toBe(409);
    expect((await json(taken)).message).toMatch(/already exists: Service "web" owns the Configuration of its name/);
  });

  it('dryRun=All stores nothing; delete takes its revisions', async () => {
    const dry = await h.api('POST', `${base}/configurations?dryRun=All`, configuration('dry', 'v1'));
    expect(dry.status).toBe(201);
    expect((await h.api('GET', `${base}/configurations/dry`)).status).toBe(404);
    await h.api('POST', `${base}/configurations`, configuration('gone', 'v1'));
    await h.settle();
    expect((await h.api('DELETE', `${base}/configurations/gone`)).status).toBe(200);
    await h.settle();
    expect((await h.api('GET', `${base}/revisions/gone-00001`)).status).toBe(404);
  });
});

describe('a Route created directly', () => {
  it('splits traffic among named revisions and a configuration’s latest, with tags, and routers get it', async () => {
    await h.api('POST', `${base}/configurations`, configuration('blue', 'v1'));
    await h.settle();
    await h.api(
      'PATCH',
      `${base}/configurations/blue`,
      { metadata: { labels: { a: 'b' } }, spec: { template: { metadata: { labels: { v: '2' } } } } },
      merge,
    );
    await h.settle();
    const created = await h.api(
      'POST',
      `${base}/routes`,
      route('split', [
        { revisionName: 'blue-00001', percent: 40, tag: 'old' },
        { configurationName: 'blue', percent: 60 },
      ]),
    );
    expect(created.status).toBe(201);
    await h.settle();
    const rt = await get(`${base}/routes/split`);
    expect(rt.status.conditions.find((c: any) => c.type === 'Ready')).toMatchObject({ status: 'True' });
    expect(rt.status.url).toBe('http://split.default.localhost:8080');
    expect(rt.status.traffic).toEqual([
      {
        revisionName: 'blue-00001',
        latestRevision: false,
        percent: 40,
        tag: 'old',
        url: 'http://old-split.default.localhost:8080',
      },
      { revisionName: 'blue-00002', latestRevision: true, percent: 60 },
    ]);
    const snapshot = await routing();
    const part = snapshot.routes.find((r: any) => r.name === 'split');
    expect(part.hosts).toContain('split.default.localhost');
    expect(part.traffic.map((t: any) => [t.revisionName, t.percent])).toEqual([
      ['blue-00001', 40],
      ['blue-00002', 60],
    ]);
    expect(snapshot.revisions.map((r: any) => r.name).sort()).toEqual(['blue-00001', 'blue-00002']);
    // Both revisions run (traffic reaches them): each has a replica.
    for (const name of ['blue-00001', 'blue-00002']) {
      expect(h.backend.observe('default', name).desired).toBeGreaterThan(0);
      expect((await get(`${base}/revisions/${name}`)).metadata.labels['serving.knative.dev/routingState']).toBe(
        'active',
      );
    }
    // A revision the Route sends traffic to cannot be deleted.
    expect((await h.api('DELETE', `${base}/revisions/blue-00001`)).status).toBe(409);
  });

  it('reports a target it cannot resolve, and keeps what it served', async () => {
    await h.api('POST', `${base}/routes`, route('lost', [{ configurationName: 'nowhere', percent: 100 }]));
    await h.settle();
    const rt = await get(`${base}/routes/lost`);
    expect(rt.status.conditions.find((c: any) => c.type === 'AllTrafficAssigned')).toMatchObject({
      status: 'False',
      reason: 'ConfigurationMissing',
      message: 'Configuration "nowhere" referenced in traffic not found.',
    });
    // Once the configuration exists and is ready, the route follows.
    await h.api('POST', `${base}/configurations`, configuration('nowhere', 'v1'));
    await h.settle();
    expect((await get(`${base}/routes/lost`)).status.traffic).toEqual([
      { revisionName: 'nowhere-00001', latestRevision: true, percent: 100 },
    ]);
  });

  it('refuses a target naming neither a revision nor a configuration, and a name a Service holds', async () => {
    const r = await h.api('POST', `${base}/routes`, route('bad', [{ percent: 100 }]));
    expect(r.status).toBe(422);
    expect((await json(r)).details.causes[0].field).toBe('spec.traffic[0]');
    await h.api('POST', svcPath(), service('web'));
    expect((await h.api('POST', `${base}/routes`, route('web', []))).status).toBe(409);
    // And the other way: a Service cannot take a name a Route created directly has.
    await h.api('POST', `${base}/routes`, route('mine', []));
    const svc = await h.api('POST', svcPath(), service('mine'));
    expect(svc.status).toBe(409);
    expect((await json(svc)).message).toMatch(/a Route created directly has the name/);
  });

  it('is reached by a DomainMapping (kind Route, or a v1 Service of its name or a tag’s), as Knative resolves an Addressable', async () => {
    const dmPath = (name = '') =>
      `/apis/serving.knative.dev/v1beta1/namespaces/default/domainmappings${name ? `/${name}` : ''}`;
    const mapping = (domain: string, ref: Record<string, string>) => ({
      apiVersion: 'serving.knative.dev/v1beta1',
      kind: 'DomainMapping',
      metadata: { name: domain },
      spec: { ref },
    });
    // Made before the Route: it resolves once the Route is there.
    const early = await h.api(
      'POST',
      dmPath(),
      mapping('shop.example.com', { apiVersion: 'serving.knative.dev/v1', kind: 'Route', name: 'split' }),
    );
    expect(early.status).toBe(201);
    await h.settle();
    const ready = async (domain: string) =>
      (await get(dmPath(domain))).status.conditions?.find((c: any) => c.type === 'Ready');
    expect(await ready('shop.example.com')).toMatchObject({ status: 'False', reason: 'ResolveFailed' });
    await h.api('POST', `${base}/configurations`, configuration('blue', 'v1'));
    await h.settle();
    await h.api(
      'PATCH',
      `${base}/configurations/blue`,
      { spec: { template: { metadata: { labels: { v: '2' } } } } },
      merge,
    );
    await h.settle();
    await h.api(
      'POST',
      `${base}/routes`,
      route('split', [
        { revisionName: 'blue-00001', percent: 0, tag: 'old' },
        { configurationName: 'blue', percent: 100 },
      ]),
    );
    await h.api('POST', dmPath(), mapping('old.example.com', { apiVersion: 'v1', kind: 'Service', name: 'old-split' }));
    // A Knative Service ref never names a Route created directly.
    await h.api(
      'POST',
      dmPath(),
      mapping('ksvc.example.com', { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'split' }),
    );
    await h.settle();
    expect(await ready('shop.example.com')).toMatchObject({ status: 'True' });
    expect(await ready('old.example.com')).toMatchObject({ status: 'True' });
    expect(await ready('ksvc.example.com')).toMatchObject({ status: 'False', reason: 'ResolveFailed' });
    // What the router does with the snapshot: the domain reaches the Route's split, the tag's its revision.
    const table = buildRoutingTable(await routing(), { serveClusterLocal: false });
    const pick = (host: string) => {
      const r = resolveRevision(table, host, undefined, () => 0.5);
      return r.ok ? r.revision.name : r.status;
    };
    expect(pick('shop.example.com')).toBe('blue-00002');
    expect(pick('old.example.com')).toBe('blue-00001');
    expect(pick('ksvc.example.com')).toBe(404);
    // The Route deleted: its domains leave the routers too.
    expect((await h.api('DELETE', `${base}/routes/split`)).status).toBe(200);
    await h.settle();
    const after = buildRoutingTable(await routing(), { serveClusterLocal: false });
    expect(resolveRevision(after, 'shop.example.com', undefined, () => 0.5)).toMatchObject({ ok: false, status: 404 });
  });

  it('deleted, it leaves the routers', async () => {
    await h.api('POST', `${base}/configurations`, configuration('c', 'v1'));
    await h.api('POST', `${base}/routes`, route('r', [{ configurationName: 'c', percent: 100 }]));
    await h.settle();
    expect((await routing()).routes.map((r: any) => r.name)).toEqual(['r']);
    expect((await h.api('DELETE', `${base}/routes/r`)).status).toBe(200);
    await h.settle();
    expect((await routing()).routes).toEqual([]);
  });
});

describe('a Service’s own Configuration and Route', () => {
  it('are owned by it; a direct edit is reconciled back (the Service wins) with a Warning; delete is refused', async () => {
    const svc = await json(await h.api('POST', svcPath(), service('web')));
    await h.settle();
    const cfg = await get(`${base}/configurations/web`);
    expect(cfg.metadata.ownerReferences).toEqual([
      {
        apiVersion: 'serving.knative.dev/v1',
        kind: 'Service',
        name: 'web',
        uid: svc.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expect(cfg.metadata.uid).not.toBe(svc.metadata.uid);
    const edit = await h.api(
      'PATCH',
      `${base}/configurations/web`,
      { spec: { template: { spec: { containers: [{ image: 'other' }] } } } },
      merge,
    );
    expect(edit.status).toBe(200);
    expect(edit.headers.get('warning')).toMatch(/owned by Service web.*reconciled this change back/);
    expect((await json(edit)).spec.template.spec.containers[0].image).toBe('ghcr.io/knative/helloworld-go');
    const rt = await h.api('PUT', `${base}/routes/web`, route('web', [{ revisionName: 'nope', percent: 100 }]));
    expect(rt.status).toBe(200);
    expect(rt.headers.get('warning')).toMatch(/route web is owned by Service web/);
    await h.settle();
    expect((await get(svcPath('web'))).metadata.generation).toBe(1);
    expect((await get(`${base}/routes/web`)).spec.traffic).toEqual([
      { configurationName: 'web', latestRevision: true, percent: 100 },
    ]);
    const del = await h.api('DELETE', `${base}/configurations/web`);
    expect(del.status).toBe(409);
    expect((await json(del)).message).toMatch(/owned by Service "web".*delete the Service instead/);
  });
});
