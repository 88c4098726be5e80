import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, harness, service, svcPath } from '../testing/harness.ts';

// What kubectl and client-go need from a Kubernetes API server, asked over HTTPS as they ask it.

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(async () => {
  await h.close();
});

const json = async (r: Response) => (await r.json()) as any;
const get = async (path: string, headers: Record<string, string> = {}) =>
  json(await h.api('GET', path, undefined, headers));

async function created(name: string) {
  const r = await h.api('POST', svcPath(), service(name));
  expect(r.status).toBe(201);
  await h.settle();
  return get(svcPath(name));
}

describe('discovery', () => {
  it('answers /version, /api, /apis and the group with Knative’s names', async () => {
    expect(await get('/version')).toMatchObject({ major: '1', minor: '36' });
    expect(await get('/api')).toMatchObject({ kind: 'APIVersions', versions: [] });
    const groups = await get('/apis');
    expect(groups.groups).toEqual([
      expect.objectContaining({
        name: 'serving.knative.dev',
        preferredVersion: { groupVersion: 'serving.knative.dev/v1', version: 'v1' },
      }),
    ]);
    expect(await get('/apis/serving.knative.dev')).toMatchObject({ kind: 'APIGroup', name: 'serving.knative.dev' });
  });

  it('lists the resources with short names, categories, verbs and status subresources', async () => {
    const list = await get('/apis/serving.knative.dev/v1');
    const byName = new Map(list.resources.map((r: any) => [r.name, r]));
    expect(byName.get('services')).toMatchObject({
      kind: 'Service',
      singularName: 'service',
      namespaced: true,
      shortNames: ['kservice', 'ksvc'],
      categories: ['all', 'knative', 'serving'],
    });
    expect((byName.get('services') as any).verbs).toEqual(expect.arrayContaining(['create', 'patch', 'watch']));
    expect(byName.get('configurations')).toMatchObject({ shortNames: ['config', 'cfg'] });
    expect(byName.get('revisions')).toMatchObject({ shortNames: ['rev'] });
    expect(byName.get('routes')).toMatchObject({ shortNames: ['rt'] });
    for (const r of ['services', 'configurations', 'revisions', 'routes']) {
      expect(byName.get(`${r}/status`)).toMatchObject({ verbs: ['get', 'patch', 'update'] });
    }
  });

  it('answers aggregated discovery with its own content type when asked', async () => {
    const accept = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json';
    const r = await h.api('GET', '/apis', undefined, { accept });
    expect(r.headers.get('content-type')).toBe('application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
    const doc = await json(r);
    const services = doc.items[0].versions[0].resources.find((x: any) => x.resource === 'services');
    expect(services).toMatchObject({
      scope: 'Namespaced',
      responseKind: { group: 'serving.knative.dev', version: 'v1', kind: 'Service' },
      shortNames: ['kservice', 'ksvc'],
      subresources: [{ subresource: 'status' }],
    });
  });
});

const table = {
  accept:
    'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json',
};

describe('reads as kubectl makes them', () => {
  it('serves a Table with Knative’s printer columns for lists and single objects', async () => {
    const svc = await created('tabled');
    const t = await get(svcPath(), table);
    expect(t.kind).toBe('Table');
    expect(t.columnDefinitions.map((c: any) => c.name)).toEqual([
      'Name',
      'URL',
      'LatestCreated',
      'LatestReady',
      'Ready',
      'Reason',
    ]);
    expect(t.rows[0].cells).toEqual(['tabled', svc.status.url, 'tabled-00001', 'tabled-00001', 'True', null]);
    expect(t.rows[0].object).toMatchObject({ kind: 'PartialObjectMetadata', metadata: { name: 'tabled' } });
    const one = await get(svcPath('tabled'), table);
    expect(one.rows).toHaveLength(1);
    const revs = await get('/apis/serving.knative.dev/v1/namespaces/default/revisions', table);
    expect(revs.columnDefinitions.map((c: any) => c.name)).toEqual([
      'Name',
      'Config Name',
      'Generation',
      'Ready',
      'Reason',
      'Actual Replicas',
      'Desired Replicas',
    ]);
    expect(revs.rows[0].cells.slice(0, 4)).toEqual(['tabled-00001', 'tabled', '1', 'True']);
    const cfg = await get('/apis/serving.knative.dev/v1/namespaces/default/configurations', table);
    expect(cfg.columnDefinitions.map((c: any) => c.name)).toEqual([
      'Name',
      'LatestCreated',
      'LatestReady',
      'Ready',
      'Reason',
    ]);
    const rt = await get('/apis/serving.knative.dev/v1/namespaces/default/routes', table);
    expect(rt.columnDefinitions.map((c: any) => c.name)).toEqual(['Name', 'URL', 'Ready', 'Reason']);
  });

  it('selects by fieldSelector metadata.name (kubectl wait, kn --wait), and by !=', async () => {
    await created('a');
    await created('b');
    const names = async (q: string) =>
      (await get(`${svcPath()}?fieldSelector=${encodeURIComponent(q)}`)).items.map((i: any) => i.metadata.name);
    expect(await names('metadata.name=b')).toEqual(['b']);
    expect(await names('metadata.name==a')).toEqual(['a']);
    expect(await names('metadata.name!=a')).toEqual(['b']);
    expect(await names('metadata.namespace=default,metadata.name=a')).toEqual(['a']);
    expect(await names('metadata.namespace=other')).toEqual([]);
  });

  it('pages a list with limit and continue, every item once', async () => {
    for (const n of ['p1', 'p2', 'p3', 'p4', 'p5']) {
      expect((await h.api('POST', svcPath(), service(n))).status).toBe(201);
    }
    const seen: string[] = [];
    let cont = '';
    let pages = 0;
    do {
      const page = await get(`${svcPath()}?limit=2${cont ? `&continue=${cont}` : ''}`);
      seen.push(...page.items.map((i: any) => i.metadata.name));
      cont = page.metadata.continue ?? '';
      if (cont) expect(page.metadata.remainingItemCount).toBe(5 - seen.length);
      pages++;
    } while (cont);
    expect(seen).toEqual(['p1', 'p2', 'p3', 'p4', 'p5']);
    expect(pages).toBe(3);
  });
});

describe('writes as kube-apiserver does them', () => {
  it('dryRun=All validates and defaults a create, answers the object, stores nothing', async () => {
    const r = await h.api('POST', `${svcPath()}?dryRun=All`, service('dry'));
    expect(r.status).toBe(201);
    const body = await json(r);
    expect(body.metadata).toMatchObject({ name: 'dry', generation: 1 });
    expect(body.spec.template.spec.containerConcurrency).toBe(0);
    expect(body.spec.traffic).toEqual([{ latestRevision: true, percent: 100 }]);
    await h.settle();
    expect((await h.api('GET', svcPath('dry'))).status).toBe(404);
    const bad = await h.api('POST', `${svcPath()}?dryRun=All`, service('Bad'));
    expect(bad.status).toBe(422);
  });

  it('dryRun=All on PUT, merge and JSON patch and DELETE changes no generation, revision or object', async () => {
    const before = await created('kept');
    const rv = before.metadata.resourceVersion;
    const changed = structuredClone(before);
    changed.spec.template.spec.containers[0].env = [{ name: 'TARGET', value: 'dry' }];
    const put = await json(await h.api('PUT', `${svcPath('kept')}?dryRun=All`, changed));
    expect(put.metadata.generation).toBe(2);
    expect(put.metadata.resourceVersion).toBe(rv);
    const merge = await h.api(
      'PATCH',
      `${svcPath('kept')}?dryRun=All`,
      { spec: { template: { spec: { containers: [{ image: 'x', env: [{ name: 'TARGET', value: 'm' }] }] } } } },
      { 'content-type': 'application/merge-patch+json' },
    );
    expect(merge.status).toBe(200);
    expect((await json(merge)).spec.template.spec.containers[0].env[0].value).toBe('m');
    const patch = await h.api(
      'PATCH',
      `${svcPath('kept')}?dryRun=All`,
      JSON.stringify([{ op: 'replace', path: '/spec/template/spec/containers/0/env/0/value', value: 'j' }]),
      { 'content-type': 'application/json-patch+json' },
    );
    expect(patch.status).toBe(200);
    const del = await h.api('DELETE', `${svcPath('kept')}?dryRun=All`);
    expect(del.status).toBe(200);
    await h.settle();
    const after = await get(svcPath('kept'));
    expect(after.metadata.generation).toBe(1);
    expect(after.metadata.resourceVersion).toBe(rv);
    expect(after.spec).toEqual(before.spec);
    const revisions = await get('/apis/serving.knative.dev/v1/namespaces/default/revisions');
    expect(revisions.items.map((r: any) => r.metadata.name)).toEqual(['kept-00001']);
  });

  it('applies a JSON patch (RFC 6902) as a new generation', async () => {
    await created('jp');
    const r = await h.api(
      'PATCH',
      svcPath('jp'),
      JSON.stringify([
        { op: 'test', path: '/metadata/name', value: 'jp' },
        { op: 'add', path: '/metadata/labels', value: { team: 'a' } },
        { op: 'replace', path: '/spec/template/spec/containers/0/env/0/value', value: 'v2' },
      ]),
      { 'content-type': 'application/json-patch+json' },
    );
    expect(r.status).toBe(200);
    const svc = await json(r);
    expect(svc.metadata.labels).toEqual({ team: 'a' });
    expect(svc.metadata.generation).toBe(2);
    await h.settle();
    expect((await get(svcPath('jp'))).status.latestCreatedRevisionName).toBe('jp-00002');
  });

  it('takes a body without Content-Type as JSON (kubectl create --raw)', async () => {
    const r = await h.api('POST', svcPath(), JSON.stringify(service('raw')), { 'content-type': '' });
    expect(r.status).toBe(201);
  });

  it('names an object from metadata.generateName', async () => {
    const body = service('');
    (body.metadata as Record<string, unknown>) = { generateName: 'gen-' };
    const r = await h.api('POST', svcPath(), body);
    expect(r.status).toBe(201);
    expect((await json(r)).metadata.name).toMatch(/^gen-[a-z0-9]{5}$/);
  });

  it('honours DeleteOptions: preconditions refuse with 409, propagationPolicy is checked', async () => {
    const svc = await created('del');
    const wrongUid = await h.api('DELETE', svcPath('del'), { preconditions: { uid: 'nope' } });
    expect(wrongUid.status).toBe(409);
    expect((await json(wrongUid)).message).toContain('Precondition failed: UID');
    const badPolicy = await h.api('DELETE', `${svcPath('del')}?propagationPolicy=Sometimes`);
    expect(badPolicy.status).toBe(400);
    const ok = await h.api('DELETE', svcPath('del'), {
      kind: 'DeleteOptions',
      apiVersion: 'meta.k8s.io/v1',
      propagationPolicy: 'Background',
      preconditions: { uid: svc.metadata.uid, resourceVersion: svc.metadata.resourceVersion },
    });
    expect(ok.status).toBe(200);
    expect((await h.api('GET', svcPath('del'))).status).toBe(404);
  });
});
