import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type Harness, harness, service, svcPath } from '../testing/harness.ts';

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(async () => {
  await h.close();
});

const json = async (r: Response) => (await r.json()) as any;

async function created(name: string, extra: Record<string, unknown> = {}) {
  const r = await h.api('POST', svcPath(), service(name, extra));
  expect(r.status).toBe(201);
  await h.settle();
  return json(await h.api('GET', svcPath(name)));
}

describe('authentication', () => {
  it('refuses a request without a token with a 401 Status', async () => {
    const r = await h.fetch(`${h.cp.url}${svcPath()}`);
    expect(r.status).toBe(401);
    expect(await r.json()).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Unauthorized', code: 401 });
  });

  it('refuses a wrong token, and the router token on the user API', async () => {
    for (const token of ['nope', 'router-token']) {
      const r = await h.fetch(`${h.cp.url}${svcPath()}`, { headers: { authorization: `Bearer ${token}` } });
      expect(r.status).toBe(401);
    }
  });

  it('refuses the user token on internal endpoints', async () => {
    const r = await h.fetch(`${h.cp.url}/internal/v1/routing`, { headers: { authorization: 'Bearer user-token' } });
    expect(r.status).toBe(401);
  });

  it('accepts the right token, and /healthz without one', async () => {
    expect((await h.api('GET', svcPath())).status).toBe(200);
    expect((await h.fetch(`${h.cp.url}/healthz`)).status).toBe(200);
  });
});

describe('services', () => {
  it('creates a service that becomes Ready with a URL and all traffic on its first revision', async () => {
    const svc = await created('hello');
    expect(svc.metadata).toMatchObject({ name: 'hello', namespace: 'default', generation: 1 });
    expect(svc.status).toMatchObject({
      observedGeneration: 1,
      url: 'http://hello.default.localhost:8080',
      latestCreatedRevisionName: 'hello-00001',
      latestReadyRevisionName: 'hello-00001',
      traffic: [{ revisionName: 'hello-00001', latestRevision: true, percent: 100 }],
    });
    const ready = svc.status.conditions.find((c: any) => c.type === 'Ready');
    expect(ready.status).toBe('True');
    expect(svc.status.conditions.map((c: any) => c.type)).toEqual(['Ready', 'ConfigurationsReady', 'RoutesReady']);
  });

  it('lists services Kubernetes-style, filtered by a label selector', async () => {
    await created('a', { metadata: { name: 'a', labels: { team: 'x' } } });
    await created('b', { metadata: { name: 'b', labels: { team: 'y' } } });
    const all = await json(await h.api('GET', svcPath()));
    expect(all.kind).toBe('ServiceList');
    expect(all.metadata.resourceVersion).toMatch(/^\d+$/);
    expect(all.items.map((s: any) => s.metadata.name)).toEqual(['a', 'b']);
    const x = await json(await h.api('GET', `${svcPath()}?labelSelector=team%3Dx`));
    expect(x.items.map((s: any) => s.metadata.name)).toEqual(['a']);
    const notY = await json(await h.api('GET', `${svcPath()}?labelSelector=team!%3Dy`));
    expect(notY.items.map((s: any) => s.metadata.name)).toEqual(['a']);
    expect((await h.api('GET', `${svcPath()}?labelSelector=%3D%3D`)).status).toBe(400);
  });

  it('makes a new revision for a template change and moves traffic to it once ready', async () => {
    const v1 = await created('hello');
    v1.spec.template.spec.containers[0].env[0].value = 'v2';
    const r = await h.api('PUT', svcPath('hello'), v1);
    expect(r.status).toBe(200);
    expect((await json(r)).metadata.generation).toBe(2);
    await h.settle();
    const v2 = await json(await h.api('GET', svcPath('hello')));
    expect(v2.status.latestReadyRevisionName).toBe('hello-00002');
    expect(v2.status.traffic).toEqual([{ revisionName: 'hello-00002', latestRevision: true, percent: 100 }]);
    const revs = await json(await h.api('GET', '/apis/serving.knative.dev/v1/namespaces/default/revisions'));
    expect(revs.items.map((x: any) => x.metadata.name)).toEqual(['hello-00001', 'hello-00002']);
  });

  it('makes no revision for a label change on the Service itself, but one for a template label', async () => {
    const v1 = await created('hello');
    const patch = await h.api(
      'PATCH',
      svcPath('hello'),
      { metadata: { labels: { owner: 'me' } } },
      { 'content-type': 'application/merge-patch+json' },
    );
    expect(patch.status).toBe(200);
    const patched = await json(patch);
    expect(patched.metadata.generation).toBe(1);
    expect(Number(patched.metadata.resourceVersion)).toBeGreaterThan(Number(v1.metadata.resourceVersion));
    await h.settle();
    expect((await json(await h.api('GET', svcPath('hello')))).status.latestCreatedRevisionName).toBe('hello-00001');
    await h.api(
      'PATCH',
      svcPath('hello'),
      { spec: { template: { metadata: { labels: { v: '2' } } } } },
      { 'content-type': 'application/merge-patch+json' },
    );
    await h.settle();
    expect((await json(await h.api('GET', svcPath('hello')))).status.latestCreatedRevisionName).toBe('hello-00002');
  });

  it('refuses a stale resourceVersion with 409 and accepts the current one', async () => {
    const v1 = await created('hello');
    const stale = { ...v1, metadata: { ...v1.metadata, resourceVersion: '1' } };
    stale.spec.template.spec.containerConcurrency = 3;
    const r = await h.api('PUT', svcPath('hello'), stale);
    expect(r.status).toBe(409);
    expect(await r.json()).toMatchObject({ kind: 'Status', reason: 'Conflict', code: 409 });
    const fresh = await json(await h.api('GET', svcPath('hello')));
    fresh.spec.template.spec.containerConcurrency = 3;
    expect((await h.api('PUT', svcPath('hello'), fresh)).status).toBe(200);
    const patchStale = await h.api(
      'PATCH',
      svcPath('hello'),
      { metadata: { resourceVersion: '1' }, spec: { template: { spec: { timeoutSeconds: 5 } } } },
      { 'content-type': 'application/merge-patch+json' },
    );
    expect(patchStale.status).toBe(409);
  });

  it('round-trips YAML in and out', async () => {
    const yaml = `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: from-yaml
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/min-scale: "1"
    spec:
      containerConcurrency: 5
      containers:
        - image: ghcr.io/knative/helloworld-go
`;
    const r = await h.api('POST', svcPath(), yaml, { 'content-type': 'application/yaml', accept: 'application/yaml' });
    expect(r.status).toBe(201);
    expect(r.headers.get('content-type')).toContain('yaml');
    const back = parse(await r.text());
    expect(back.spec.template.metadata.annotations['autoscaling.knative.dev/min-scale']).toBe('1');
    expect(back.spec.template.spec.containerConcurrency).toBe(5);
    const got = parse(
      await (await h.api('GET', svcPath('from-yaml'), undefined, { accept: 'application/yaml' })).text(),
    );
    expect(got.spec).toEqual(back.spec);
  });

  it('deletes a service and its revisions', async () => {
    await created('gone');
    const r = await h.api('DELETE', svcPath('gone'));
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ kind: 'Status', status: 'Success' });
    expect((await h.api('GET', svcPath('gone'))).status).toBe(404);
    await h.settle();
    expect(h.backend.list()).toEqual([]);
    expect((await h.api('DELETE', svcPath('gone'))).status).toBe(404);
  });

  it('generates a name from generateName', async () => {
    const r = await h.api('POST', svcPath(), service('', { metadata: { generateName: 'gen-' } }));
    expect(r.status).toBe(201);
    expect((await json(r)).metadata.name).toMatch(/^gen-[a-z0-9]{5}$/);
  });
});

describe('rollback and revisions', () => {
  async function twoRevisions() {
    const v1 = await created('hello');
    v1.spec.template.spec.containers[0].env[0].value = 'v2';
    delete v1.metadata.resourceVersion;
    await h.api('PUT', svcPath('hello'), v1);
    await h.settle();
  }

  it('rolls back to the previous ready revision', async () => {
    await twoRevisions();
    const r = await h.api('POST', `${svcPath('hello')}/rollback`);
    expect(r.status).toBe(200);
    const svc = await json(r);
    expect(svc.spec.traffic).toEqual([{ revisionName: 'hello-00001', latestRevision: false, percent: 100 }]);
    expect(svc.metadata.generation).toBe(3);
    await h.settle();
    const now = await json(await h.api('GET', svcPath('hello')));
    expect(now.status.traffic).toEqual([{ revisionName: 'hello-00001', latestRevision: false, percent: 100 }]);
    const audit = h.cp.store.auditLog('default', 'hello').map((a) => a.action);
    expect(audit).toContain('rollback');
  });

  it('rolls back to a named revision, and refuses one that does not exist', async () => {
    await twoRevisions();
    await h.api('POST', `${svcPath('hello')}/rollback`);
    await h.settle();
    const named = await h.api('POST', `${svcPath('hello')}/rollback`, { revisionName: 'hello-00002' });
    expect(named.status).toBe(200);
    expect((await json(named)).spec.traffic[0].revisionName).toBe('hello-00002');
    const missing = await h.api('POST', `${svcPath('hello')}/rollback`, { revisionName: 'hello-00009' });
    expect(missing.status).toBe(422);
  });

  it('refuses to delete a revision that receives traffic, and deletes one that does not', async () => {
    await twoRevisions();
    const rev = (n: string) => `/apis/serving.knative.dev/v1/namespaces/default/revisions/${n}`;
    const busy = await h.api('DELETE', rev('hello-00002'));
    expect(busy.status).toBe(409);
    expect((await json(busy)).message).toContain('receives traffic');
    expect((await h.api('DELETE', rev('hello-00001'))).status).toBe(200);
    expect((await h.api('GET', rev('hello-00001'))).status).toBe(404);
  });

  it('shows the Configuration and Route of a service', async () => {
    await created('hello');
    const cfg = await json(await h.api('GET', '/apis/serving.knative.dev/v1/namespaces/default/configurations/hello'));
    expect(cfg).toMatchObject({ kind: 'Configuration', status: { latestReadyRevisionName: 'hello-00001' } });
    expect(cfg.status.conditions[0]).toMatchObject({ type: 'Ready', status: 'True' });
    const route = await json(await h.api('GET', '/apis/serving.knative.dev/v1/namespaces/default/routes/hello'));
    expect(route).toMatchObject({ kind: 'Route', status: { url: 'http://hello.default.localhost:8080' } });
    expect(route.spec.traffic[0]).toMatchObject({ configurationName: 'hello', latestRevision: true, percent: 100 });
  });
});

describe('routing snapshot for routers', () => {
  const routing = (q: string) =>
    h.fetch(`${h.cp.url}/internal/v1/routing${q}`, { headers: { authorization: 'Bearer router-token' } });

  it('serves the snapshot at once to a router that is behind', async () => {
    await created('hello');
    const r = await routing('?since=0');
    expect(r.status).toBe(200);
    const s = await json(r);
    expect(s.routes[0]).toMatchObject({
      name: 'hello',
      hosts: ['hello.default.localhost', 'hello.default.svc.cluster.local'],
    });
    expect(s.revisions[0]).toMatchObject({ name: 'hello-00001', endpoints: [{ pod: expect.any(String) }] });
  });

  it('long-polls: 304 after the wait when nothing changed, at once when something does', async () => {
    await created('hello');
    const { version } = await json(await routing('?since=0'));
    const started = Date.now();
    const idle = await routing(`?since=${version}&waitSeconds=1`);
    expect(idle.status).toBe(304);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    const waiting = routing(`?since=${version}&waitSeconds=20`);
    await new Promise((r) => setTimeout(r, 100));
    await created('other');
    const changed = await waiting;
    expect(changed.status).toBe(200);
    expect((await json(changed)).version).toBeGreaterThan(version);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('takes activation pokes and router stats', async () => {
    const poke = await h.fetch(`${h.cp.url}/internal/v1/activate`, {
      method: 'POST',
      headers: { authorization: 'Bearer router-token', 'content-type': 'application/json' },
      body: JSON.stringify({ namespace: 'default', revision: 'hello-00001', held: 3 }),
    });
    expect(poke.status).toBe(202);
    expect(h.cp.activations).toEqual([{ namespace: 'default', revision: 'hello-00001', held: 3 }]);
    // Router stats are lines of the stats stream: a bad one is answered with the field at fault.
    const bad = await h.fetch(`${h.cp.url}/internal/v1/stats`, {
      method: 'POST',
      headers: { authorization: 'Bearer router-token', 'content-type': 'application/x-ndjson' },
      body: '{"router": 1}\n',
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ message: expect.stringMatching(/^stats stream line 1: router: /) });
    // The old endpoint is gone: one mechanism for stats.
    const old = await h.fetch(`${h.cp.url}/internal/v1/router-stats`, {
      method: 'POST',
      headers: { authorization: 'Bearer router-token', 'content-type': 'application/json' },
      body: '{}',
    });
    expect(old.status).toBe(404);
  });
});

describe('observability', () => {
  it('exposes Prometheus metrics for the API, reconciles and revisions', async () => {
    await created('hello');
    const text = await (await h.api('GET', '/metrics')).text();
    expect(text).toMatch(/skiff_api_requests_total\{method="POST",route="[^"]+services",code="201"\} 1/);
    expect(text).toContain('skiff_revisions{ready="True"} 1');
    expect(text).toMatch(/skiff_reconcile_duration_seconds_count \d+/);
    expect((await h.api('GET', '/readyz')).status).toBe(200);
  });
});
