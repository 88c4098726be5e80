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
    expect(byName.get('services/status')).toMatchObject({ verbs: ['get', 'patch', 'update'] });
    expect(byName.get('revisions/status')).toMatchObject({ verbs: ['get'] });
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

  it('pages across namespaces and under a selector, every selected item once, in namespace then name order', async () => {
    const made: string[] = [];
    for (const ns of ['a', 'a-b', 'default']) {
      for (const n of ['x1', 'x2', 'x3', 'x4']) {
        const labels = { tier: n === 'x2' || n === 'x4' ? 'back' : 'front' };
        const r = await h.api('POST', svcPath('', ns), service(n, { metadata: { name: n, labels } }));
        expect(r.status).toBe(201);
        made.push(`${ns}/${n}`);
      }
    }
    const all = '/apis/serving.knative.dev/v1/services';
    const walk = async (query: string, limit: number) => {
      const seen: string[] = [];
      const remaining: (number | undefined)[] = [];
      let cont = '';
      do {
        const page = await get(`${all}?limit=${limit}${query}${cont ? `&continue=${cont}` : ''}`);
        expect(page.items.length).toBeLessThanOrEqual(limit);
        seen.push(...page.items.map((i: any) => `${i.metadata.namespace}/${i.metadata.name}`));
        cont = page.metadata.continue ?? '';
        if (cont) remaining.push(page.metadata.remainingItemCount);
      } while (cont);
      return { seen, remaining };
    };
    const plain = await walk('', 5);
    expect(plain.seen).toEqual(made);
    expect(plain.remaining).toEqual([7, 2]);
    // A selector: full pages of what it keeps, and no count of the rest (kube-apiserver gives none).
    const back = await walk(`&labelSelector=${encodeURIComponent('tier=back')}`, 2);
    expect(back.seen).toEqual(made.filter((k) => k.endsWith('x2') || k.endsWith('x4')));
    expect(back.remaining).toEqual([undefined, undefined]);
    // The same order without a limit, and a token that is not one of ours is refused.
    expect((await get(all)).items.map((i: any) => `${i.metadata.namespace}/${i.metadata.name}`)).toEqual(made);
    const bad = await h.api(
      'GET',
      `${all}?limit=2&continue=${Buffer.from('{"rv":1,"after":"nope"}').toString('base64url')}`,
    );
    expect(bad.status).toBe(400);
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

describe('server-side apply, managedFields and the status subresource', () => {
  const applyYaml = (name: string, target: string, extra = '') =>
    `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: ${name}
spec:
  template:
    spec:
      containers:
        - image: ghcr.io/knative/helloworld-go
          env:
            - name: TARGET
              value: ${target}
${extra}`;
  const apply = (name: string, body: string, query: string) =>
    h.api('PATCH', `${svcPath(name)}?${query}`, body, { 'content-type': 'application/apply-patch+yaml' });

  it('creates by apply, owns the applied fields, and records other writers as Update', async () => {
    const r = await apply('ssa', applyYaml('ssa', 'v1'), 'fieldManager=alice');
    expect(r.status).toBe(201);
    const svc = await json(r);
    expect(svc.metadata.managedFields).toEqual([
      expect.objectContaining({
        manager: 'alice',
        operation: 'Apply',
        apiVersion: 'serving.knative.dev/v1',
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:spec': { 'f:template': { 'f:spec': { 'f:containers': {} } } } },
      }),
    ]);
    const patched = await h.api(
      'PATCH',
      `${svcPath('ssa')}?fieldManager=kubectl-patch`,
      { metadata: { labels: { team: 'a' } } },
      { 'content-type': 'application/merge-patch+json' },
    );
    expect((await json(patched)).metadata.managedFields.map((m: any) => [m.manager, m.operation])).toEqual([
      ['alice', 'Apply'],
      ['kubectl-patch', 'Update'],
    ]);
  });

  it('a second manager changing alice’s field gets 409 naming her and the field; force takes it', async () => {
    expect((await apply('two', applyYaml('two', 'v1'), 'fieldManager=alice')).status).toBe(201);
    await h.settle();
    const refused = await apply('two', applyYaml('two', 'v2'), 'fieldManager=bob');
    expect(refused.status).toBe(409);
    const status = await json(refused);
    expect(status).toMatchObject({ kind: 'Status', reason: 'Conflict', code: 409 });
    expect(status.message).toBe('Apply failed with 1 conflict: conflict with "alice": .spec.template.spec.containers');
    expect(status.details.causes).toEqual([
      { reason: 'FieldManagerConflict', message: 'conflict with "alice"', field: '.spec.template.spec.containers' },
    ]);
    await h.settle();
    const unchanged = await get(svcPath('two'));
    expect(unchanged.metadata.generation).toBe(1);
    const forced = await apply('two', applyYaml('two', 'v2'), 'fieldManager=bob&force=true');
    expect(forced.status).toBe(200);
    const svc = await json(forced);
    expect(svc.metadata.generation).toBe(2);
    expect(svc.spec.template.spec.containers[0].env[0].value).toBe('v2');
    expect(svc.metadata.managedFields.map((m: any) => m.manager)).toEqual(['bob']);
    // The same configuration again changes nothing.
    await h.settle();
    const settled = await get(svcPath('two'));
    const again = await apply('two', applyYaml('two', 'v2'), 'fieldManager=bob');
    expect((await json(again)).metadata.resourceVersion).toBe(settled.metadata.resourceVersion);
  });

  it('drops a field the manager no longer applies; apply needs a fieldManager; dryRun stores nothing', async () => {
    const traffic = `  traffic:
    - latestRevision: true
      percent: 100
      tag: current
`;
    expect((await apply('drop', applyYaml('drop', 'v1', traffic), 'fieldManager=alice')).status).toBe(201);
    const dropped = await json(await apply('drop', applyYaml('drop', 'v1'), 'fieldManager=alice'));
    expect(dropped.spec.traffic).toEqual([{ latestRevision: true, percent: 100 }]);
    const noManager = await apply('drop', applyYaml('drop', 'v1'), 'force=true');
    expect(noManager.status).toBe(400);
    expect((await json(noManager)).message).toContain('fieldManager');
    const dry = await apply('drop', applyYaml('drop', 'v9'), 'fieldManager=alice&dryRun=All');
    expect((await json(dry)).spec.template.spec.containers[0].env[0].value).toBe('v9');
    expect((await get(svcPath('drop'))).spec.template.spec.containers[0].env[0].value).toBe('v1');
  });

  it('bumps generation only for spec changes; status.observedGeneration follows it', async () => {
    await created('gen');
    const relabelled = await h.api(
      'PATCH',
      svcPath('gen'),
      { metadata: { labels: { a: 'b' } } },
      { 'content-type': 'application/merge-patch+json' },
    );
    expect((await json(relabelled)).metadata.generation).toBe(1);
    await h.api(
      'PATCH',
      svcPath('gen'),
      { spec: { template: { spec: { containers: [{ image: 'x' }] } } } },
      { 'content-type': 'application/merge-patch+json' },
    );
    await h.settle();
    const svc = await get(svcPath('gen'));
    expect(svc.metadata.generation).toBe(2);
    expect(svc.status.observedGeneration).toBe(2);
  });

  it('serves the status subresource for every resource', async () => {
    await created('st');
    const svc = await get(`${svcPath('st')}/status`);
    expect(svc).toMatchObject({ kind: 'Service', status: { observedGeneration: 1 } });
    for (const [resource, name] of [
      ['configurations', 'st'],
      ['routes', 'st'],
      ['revisions', 'st-00001'],
    ]) {
      const r = await h.api('GET', `/apis/serving.knative.dev/v1/namespaces/default/${resource}/${name}/status`);
      expect(r.status).toBe(200);
    }
    expect((await h.api('GET', `${svcPath('nope')}/status`)).status).toBe(404);
  });

  it('PUT …/status changes only the status: spec ignored, generation kept, a stale resourceVersion is 409', async () => {
    const svc = await created('put');
    const body = structuredClone(svc);
    body.spec.template.spec.containers[0].env[0].value = 'ignored';
    body.metadata.labels = { ignored: 'yes' };
    body.status.conditions[0].message = 'written by a controller';
    const r = await h.api('PUT', `${svcPath('put')}/status`, body);
    expect(r.status).toBe(200);
    const written = await json(r);
    expect(written.status.conditions[0].message).toBe('written by a controller');
    expect(written.spec).toEqual(svc.spec);
    expect(written.metadata.labels ?? {}).toEqual(svc.metadata.labels ?? {});
    expect(written.metadata.generation).toBe(svc.metadata.generation);
    expect(Number(written.metadata.resourceVersion)).toBeGreaterThan(Number(svc.metadata.resourceVersion));
    // The same body again, at the resourceVersion it was read at: someone wrote since.
    const stale = await h.api('PUT', `${svcPath('put')}/status`, body);
    expect(stale.status).toBe(409);
    expect(await json(stale)).toMatchObject({ kind: 'Status', reason: 'Conflict' });
    // No revision came of the ignored spec.
    await h.settle();
    const revisions = await get('/apis/serving.knative.dev/v1/namespaces/default/revisions');
    expect(revisions.items.map((i: any) => i.metadata.name)).toEqual(['put-00001']);
    const bad = await h.api('PUT', `${svcPath('put')}/status`, { status: { observedGeneration: 'one' } });
    expect(bad.status).toBe(422);
    expect((await json(bad)).details.causes[0].field).toBe('status.observedGeneration');
  });

  it('PATCH …/status (merge, JSON) changes only the status; a resourceVersion in the patch is a precondition', async () => {
    const svc = await created('pst');
    const merge = await h.api(
      'PATCH',
      `${svcPath('pst')}/status`,
      { spec: { traffic: [{ revisionName: 'nope', percent: 100 }] }, status: { url: 'http://patched.example' } },
      { 'content-type': 'application/merge-patch+json' },
    );
    expect(merge.status).toBe(200);
    const merged = await json(merge);
    expect(merged.status.url).toBe('http://patched.example');
    expect(merged.spec).toEqual(svc.spec);
    expect(merged.metadata.generation).toBe(1);
    const jsonPatch = await h.api(
      'PATCH',
      `${svcPath('pst')}/status`,
      [{ op: 'replace', path: '/status/url', value: 'http://json.example' }],
      { 'content-type': 'application/json-patch+json' },
    );
    expect((await json(jsonPatch)).status.url).toBe('http://json.example');
    const stale = await h.api(
      'PATCH',
      `${svcPath('pst')}/status`,
      { metadata: { resourceVersion: svc.metadata.resourceVersion }, status: { url: 'http://stale.example' } },
      { 'content-type': 'application/merge-patch+json' },
    );
    expect(stale.status).toBe(409);
    expect(
      (
        await h.api(
          'PATCH',
          `${svcPath('none')}/status`,
          { status: {} },
          { 'content-type': 'application/merge-patch+json' },
        )
      ).status,
    ).toBe(404);
  });

  it('applies to …/status server-side: merged into the status, owned by its manager under subresource status', async () => {
    await created('sst');
    const applyStatus = (manager: string, url: string, force = false) =>
      h.api(
        'PATCH',
        `${svcPath('sst')}/status?fieldManager=${manager}${force ? '&force=true' : ''}`,
        `apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: sst\nstatus:\n  url: ${url}\n`,
        { 'content-type': 'application/apply-patch+yaml' },
      );
    const r = await applyStatus('probe', 'http://probe.example');
    expect(r.status).toBe(200);
    const applied = await json(r);
    // Merged: the reconciler's conditions stay; the spec and its generation are untouched.
    expect(applied.status.url).toBe('http://probe.example');
    expect(applied.status.conditions.map((c: any) => c.type)).toContain('Ready');
    expect(applied.metadata.generation).toBe(1);
    expect(applied.metadata.managedFields).toContainEqual(
      expect.objectContaining({
        manager: 'probe',
        operation: 'Apply',
        subresource: 'status',
        fieldsV1: { 'f:status': { 'f:url': {} } },
      }),
    );
    // The Service's own fields keep their owner, and the object's own apply ignores the status entry.
    expect(applied.metadata.managedFields.filter((m: any) => m.subresource === undefined)).toHaveLength(1);
    const conflict = await applyStatus('other', 'http://other.example');
    expect(conflict.status).toBe(409);
    const status = await json(conflict);
    expect(status.message).toBe('Apply failed with 1 conflict: conflict with "probe": .status.url');
    expect(status.details.causes).toEqual([
      { reason: 'FieldManagerConflict', message: 'conflict with "probe"', field: '.status.url' },
    ]);
    expect((await get(svcPath('sst'))).status.url).toBe('http://probe.example');
    const forced = await json(await applyStatus('other', 'http://other.example', true));
    expect(forced.status.url).toBe('http://other.example');
    const owners = forced.metadata.managedFields.filter((m: any) => m.subresource === 'status');
    expect(owners.map((m: any) => m.manager)).toEqual(['other']);
    // A merge patch of the status is recorded as an Update of the status.
    const merged = await h.api(
      'PATCH',
      `${svcPath('sst')}/status?fieldManager=ctl`,
      { status: { address: { url: 'http://a.example' } } },
      { 'content-type': 'application/merge-patch+json' },
    );
    expect((await json(merged)).metadata.managedFields).toContainEqual(
      expect.objectContaining({ manager: 'ctl', operation: 'Update', subresource: 'status' }),
    );
    expect((await applyStatus('', 'http://x.example')).status).toBe(400);
  });

  it('applies a DomainMapping server-side: created, owned, a second manager’s change is 409 naming the first', async () => {
    const dmPath = (name = '') =>
      `/apis/serving.knative.dev/v1beta1/namespaces/default/domainmappings${name ? `/${name}` : ''}`;
    const dm = (target: string) =>
      `apiVersion: serving.knative.dev/v1beta1\nkind: DomainMapping\nmetadata:\n  name: shop.example.com\nspec:\n  ref:\n    apiVersion: serving.knative.dev/v1\n    kind: Service\n    name: ${target}\n`;
    const applyDm = (manager: string, target: string, force = false) =>
      h.api('PATCH', `${dmPath('shop.example.com')}?fieldManager=${manager}${force ? '&force=true' : ''}`, dm(target), {
        'content-type': 'application/apply-patch+yaml',
      });
    const r = await applyDm('alice', 'web');
    expect(r.status).toBe(201);
    const created = await json(r);
    expect(created.spec.ref).toEqual({
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Service',
      name: 'web',
      namespace: 'default',
    });
    expect(created.metadata.managedFields).toEqual([
      expect.objectContaining({
        manager: 'alice',
        operation: 'Apply',
        apiVersion: 'serving.knative.dev/v1beta1',
        fieldsV1: { 'f:spec': { 'f:ref': { 'f:apiVersion': {}, 'f:kind': {}, 'f:name': {} } } },
      }),
    ]);
    expect((await applyDm('alice', 'web')).status).toBe(200);
    const conflict = await applyDm('bob', 'shop');
    expect(conflict.status).toBe(409);
    expect((await json(conflict)).message).toBe('Apply failed with 1 conflict: conflict with "alice": .spec.ref.name');
    expect((await get(dmPath('shop.example.com'))).spec.ref.name).toBe('web');
    const forced = await applyDm('bob', 'shop', true);
    expect(forced.status).toBe(200);
    const taken = await json(forced);
    expect(taken.spec.ref.name).toBe('shop');
    expect(taken.metadata.generation).toBe(2);
    expect(
      taken.metadata.managedFields.map((m: any) => [m.manager, Object.keys(m.fieldsV1['f:spec']['f:ref'])]),
    ).toEqual([
      ['alice', ['f:apiVersion', 'f:kind']],
      ['bob', ['f:apiVersion', 'f:kind', 'f:name']],
    ]);
    // Checked by its schema like any write, every problem with its field path; nothing stored.
    const bad = await h.api(
      'PATCH',
      `${dmPath('bad')}?fieldManager=alice`,
      'apiVersion: serving.knative.dev/v1beta1\nkind: DomainMapping\nspec:\n  ref:\n    apiVersion: v1\n    kind: Pod\n    name: x\n  tls: {}\n',
      { 'content-type': 'application/apply-patch+yaml' },
    );
    expect(bad.status).toBe(422);
    expect((await json(bad)).details.causes.map((c: any) => c.field).sort()).toEqual([
      'metadata.name',
      'spec.ref.kind',
      'spec.tls.secretName',
    ]);
    expect((await h.api('GET', dmPath('bad'))).status).toBe(404);
    // Its status subresource too.
    const st = await h.api(
      'PATCH',
      `${dmPath('shop.example.com')}/status?fieldManager=probe`,
      'apiVersion: serving.knative.dev/v1beta1\nkind: DomainMapping\nstatus:\n  url: http://probe.example\n',
      { 'content-type': 'application/apply-patch+yaml' },
    );
    expect(st.status).toBe(200);
    expect((await json(st)).metadata.managedFields.at(-1)).toMatchObject({ manager: 'probe', subresource: 'status' });
  });

  it('a rollback updates managedFields: its manager owns spec.traffic', async () => {
    const v1 = await created('rb');
    v1.spec.template.spec.containers[0].env[0].value = 'v2';
    delete v1.metadata.resourceVersion;
    await h.api('PUT', `${svcPath('rb')}?fieldManager=deployer`, v1);
    await h.settle();
    const r = await h.api('POST', `${svcPath('rb')}/rollback`, undefined, { 'user-agent': 'skiff' });
    expect(r.status).toBe(200);
    const managed = (await json(r)).metadata.managedFields;
    const skiff = managed.find((m: any) => m.manager === 'skiff');
    expect(skiff).toMatchObject({ operation: 'Update', apiVersion: 'serving.knative.dev/v1' });
    expect(skiff.fieldsV1).toEqual({ 'f:spec': { 'f:traffic': {} } });
    // The deployer keeps the template it wrote.
    expect(managed.find((m: any) => m.manager === 'deployer').fieldsV1['f:spec']['f:template']).toBeDefined();
  });
});
