import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, harness, service, svcPath } from '../testing/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await harness();
  expect((await h.api('POST', svcPath(), service('existing'))).status).toBe(201);
});
afterAll(async () => {
  await h.close();
});

const svc = (spec: Record<string, unknown>, meta: Record<string, unknown> = { name: 'bad' }) =>
  JSON.stringify({ apiVersion: 'serving.knative.dev/v1', kind: 'Service', metadata: meta, spec });
const tmpl = (spec: Record<string, unknown>, metadata?: Record<string, unknown>) => ({
  template: { ...(metadata ? { metadata } : {}), spec: { containers: [{ image: 'x' }], ...spec } },
});
const container = (c: Record<string, unknown>) => tmpl({ containers: [{ image: 'x', ...c }] });

// [what, method, path, body, content type, expected status, expected field or message part]
const cases: [string, string, string, string, string, number, string][] = [
  ['malformed JSON', 'POST', svcPath(), '{"apiVersion": ', 'application/json', 400, 'line 1'],
  ['JSON with a trailing comma', 'POST', svcPath(), '{"a": 1,}', 'application/json', 400, 'invalid JSON'],
  ['malformed YAML', 'POST', svcPath(), 'a: [1, 2\nb: {', 'application/yaml', 400, 'invalid YAML'],
  ['YAML with a duplicate key', 'POST', svcPath(), 'kind: Service\nkind: Route\n', 'application/yaml', 400, 'unique'],
  ['two YAML documents', 'POST', svcPath(), 'a: 1\n---\nb: 2\n', 'application/yaml', 400, 'exactly one document'],
  ['an empty body', 'POST', svcPath(), '', 'application/json', 400, 'empty'],
  ['a JSON array', 'POST', svcPath(), '[1,2]', 'application/json', 400, 'Service object'],
  ['a JSON string', 'POST', svcPath(), '"hello"', 'application/json', 400, 'Service object'],
  ['text/plain', 'POST', svcPath(), svc(tmpl({})), 'text/plain', 415, 'not supported'],
  [
    'a strategic merge patch (refused for custom resources)',
    'PATCH',
    svcPath('existing'),
    '{}',
    'application/strategic-merge-patch+json',
    415,
    'application/json-patch+json',
  ],
  [
    'a JSON patch without a path',
    'PATCH',
    svcPath('existing'),
    '[{"op":"add"}]',
    'application/json-patch+json',
    400,
    'operation 0',
  ],
  [
    'a JSON patch whose test fails',
    'PATCH',
    svcPath('existing'),
    '[{"op":"test","path":"/metadata/name","value":"other"}]',
    'application/json-patch+json',
    400,
    'operation 0',
  ],
  ['a JSON patch that is not a list', 'PATCH', svcPath('existing'), '{}', 'application/json-patch+json', 400, 'array'],
  ['dryRun=Some', 'POST', `${svcPath()}?dryRun=Some`, svc(tmpl({}), { name: 'x' }), 'application/json', 400, 'dryRun'],
  [
    'an unknown fieldSelector',
    'GET',
    `${svcPath()}?fieldSelector=spec.x%3Dy`,
    '',
    '',
    400,
    'not a known field selector',
  ],
  ['a bad continue token', 'GET', `${svcPath()}?limit=1&continue=zzz`, '', '', 400, 'continue'],
  [
    'a wrong apiVersion',
    'POST',
    svcPath(),
    JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' }, spec: tmpl({}) }),
    'application/json',
    422,
    'apiVersion',
  ],
  [
    'a Deployment',
    'POST',
    svcPath(),
    JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: {} }),
    'application/json',
    422,
    'kind',
  ],
  [
    'a Route posted to services',
    'POST',
    svcPath(),
    JSON.stringify({ apiVersion: 'serving.knative.dev/v1', kind: 'Route', metadata: { name: 'x' }, spec: {} }),
    'application/json',
    400,
    'write it to routes',
  ],
  ['no name', 'POST', svcPath(), svc(tmpl({}), {}), 'application/json', 422, 'metadata.name'],
  ['an upper-case name', 'POST', svcPath(), svc(tmpl({}), { name: 'Bad' }), 'application/json', 422, 'metadata.name'],
  [
    'another namespace in the body',
    'POST',
    svcPath(),
    svc(tmpl({}), { name: 'x', namespace: 'other' }),
    'application/json',
    400,
    'does not match the namespace',
  ],
  [
    'a resourceVersion on create',
    'POST',
    svcPath(),
    svc(tmpl({}), { name: 'x', resourceVersion: '5' }),
    'application/json',
    422,
    'metadata.resourceVersion',
  ],
  [
    'a name that exists',
    'POST',
    svcPath(),
    svc(tmpl({}), { name: 'existing' }),
    'application/json',
    409,
    'already exists',
  ],
  ['no template', 'POST', svcPath(), svc({}), 'application/json', 422, 'spec.template'],
  [
    'an unknown spec field',
    'POST',
    svcPath(),
    svc({ ...tmpl({}), replicas: 3 }),
    'application/json',
    422,
    'spec.replicas',
  ],
  [
    'no containers',
    'POST',
    svcPath(),
    svc(tmpl({ containers: [] })),
    'application/json',
    422,
    'spec.template.spec.containers',
  ],
  [
    'containerConcurrency 5000',
    'POST',
    svcPath(),
    svc(tmpl({ containerConcurrency: 5000 })),
    'application/json',
    422,
    'containerConcurrency',
  ],
  [
    'containerConcurrency as a string',
    'POST',
    svcPath(),
    svc(tmpl({ containerConcurrency: 'ten' })),
    'application/json',
    422,
    'containerConcurrency',
  ],
  [
    'timeoutSeconds 9999',
    'POST',
    svcPath(),
    svc(tmpl({ timeoutSeconds: 9999 })),
    'application/json',
    422,
    'timeoutSeconds',
  ],
  [
    'a reserved port',
    'POST',
    svcPath(),
    svc(container({ ports: [{ containerPort: 8012 }] })),
    'application/json',
    422,
    'containerPort',
  ],
  [
    'a reserved env var',
    'POST',
    svcPath(),
    svc(container({ env: [{ name: 'PORT', value: '1' }] })),
    'application/json',
    422,
    'env[0].name',
  ],
  [
    'a probe with two handlers',
    'POST',
    svcPath(),
    svc(container({ readinessProbe: { tcpSocket: {}, httpGet: {} } })),
    'application/json',
    422,
    'readinessProbe',
  ],
  [
    'traffic summing to 90',
    'POST',
    svcPath(),
    svc({ ...tmpl({}), traffic: [{ percent: 90 }] }),
    'application/json',
    422,
    'spec.traffic',
  ],
  [
    'a percent of 101',
    'POST',
    svcPath(),
    svc({ ...tmpl({}), traffic: [{ percent: 101 }] }),
    'application/json',
    422,
    'spec.traffic[0].percent',
  ],
  [
    'duplicate tags',
    'POST',
    svcPath(),
    svc({
      ...tmpl({}),
      traffic: [
        { percent: 50, tag: 'a' },
        { percent: 50, tag: 'a', revisionName: 'bad-00001' },
      ],
    }),
    'application/json',
    422,
    'spec.traffic[1].tag',
  ],
  [
    'a BYO name without the prefix',
    'POST',
    svcPath(),
    svc(tmpl({}, { name: 'other-v1' })),
    'application/json',
    422,
    'spec.template.metadata.name',
  ],
  [
    'a bad min-scale annotation',
    'POST',
    svcPath(),
    svc(tmpl({}, { annotations: { 'autoscaling.knative.dev/min-scale': '-1' } })),
    'application/json',
    422,
    'min-scale',
  ],
  [
    'a bad window annotation',
    'POST',
    svcPath(),
    svc(tmpl({}, { annotations: { 'autoscaling.knative.dev/window': '1s' } })),
    'application/json',
    422,
    'window',
  ],
  [
    'a name that differs from the URL',
    'PUT',
    svcPath('existing'),
    svc(tmpl({}), { name: 'other' }),
    'application/json',
    400,
    'does not match the name',
  ],
  [
    'an update of a missing service',
    'PUT',
    svcPath('missing'),
    svc(tmpl({}), { name: 'missing' }),
    'application/json',
    404,
    'not found',
  ],
  [
    'a patch that breaks validation',
    'PATCH',
    svcPath('existing'),
    '{"spec":{"template":{"spec":{"containerConcurrency":-1}}}}',
    'application/merge-patch+json',
    422,
    'containerConcurrency',
  ],
  [
    'a patch that is not JSON',
    'PATCH',
    svcPath('existing'),
    '{oops',
    'application/merge-patch+json',
    400,
    'invalid JSON',
  ],
  [
    'a non-numeric resourceVersion',
    'PUT',
    svcPath('existing'),
    svc(tmpl({}), { name: 'existing', resourceVersion: 'abc' }),
    'application/json',
    409,
    'modified',
  ],
  ['a bad label selector', 'GET', `${svcPath()}?labelSelector=a%20b%20c`, '', '', 400, 'labelSelector'],
  ['a POST to a single service', 'POST', svcPath('existing'), svc(tmpl({})), 'application/json', 405, 'does not allow'],
  ['an unknown path', 'GET', '/apis/serving.knative.dev/v1/namespaces/default/widgets', '', '', 404, 'could not find'],
  [
    'a rollback body of the wrong type',
    'POST',
    `${svcPath('existing')}/rollback`,
    '{"revisionName": 5}',
    'application/json',
    422,
    'revisionName',
  ],
];

describe('bad input gets a clear error, never a 5xx', () => {
  it.each(cases)('%s → %s', async (_what, method, path, body, type, status, mention) => {
    const headers: Record<string, string> = method === 'GET' ? {} : { 'content-type': type };
    const r = await h.api(method, path, method === 'GET' ? undefined : body, headers);
    expect(r.status).toBe(status);
    const s = (await r.json()) as {
      kind: string;
      code: number;
      message: string;
      details?: { causes?: { field: string }[] };
    };
    expect(s.kind).toBe('Status');
    expect(s.code).toBe(status);
    const text = `${s.message} ${(s.details?.causes ?? []).map((c) => c.field).join(' ')}`;
    expect(text).toContain(mention);
  });

  it('answers 413 for a body over 3 MiB, as kube-apiserver does', async () => {
    const big = svc({ ...tmpl({}, { annotations: { a: 'x'.repeat(3 * 1024 * 1024) } }) });
    const r = await h.api('POST', svcPath(), big);
    expect(r.status).toBe(413);
    expect(await r.json()).toMatchObject({ kind: 'Status', reason: 'RequestEntityTooLarge' });
  });

  it('reads a body of 1.1 MiB, and refuses its 1.1 MiB annotation by Kubernetes’ 256 KiB limit', async () => {
    const big = svc({ ...tmpl({}, { annotations: { a: 'x'.repeat(1100 * 1024) } }) });
    const r = await h.api('POST', svcPath(), big);
    expect(r.status).toBe(422);
    const s = (await r.json()) as { details: { causes: { field: string }[] } };
    expect(s.details.causes.map((c) => c.field)).toEqual(['spec.template.metadata.annotations']);
  });

  it('leaves the store untouched by every refused request', async () => {
    const list = (await (await h.api('GET', svcPath())).json()) as { items: { metadata: { name: string } }[] };
    expect(list.items.map((i) => i.metadata.name)).toEqual(['existing']);
  });
});
