import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, harness, service, svcPath } from '../testing/harness.ts';

// Bad input of every shape, on every path that takes a body: each answer is a 4xx `Status`
// naming the problem, nothing is stored, and the process keeps serving.

let h: Harness;
beforeAll(async () => {
  h = await harness();
  expect((await h.api('POST', svcPath(), service('existing'))).status).toBe(201);
});
afterAll(async () => {
  await h.close();
});

const deepJson = (n: number) =>
  `{"apiVersion":"serving.knative.dev/v1","kind":"Service","metadata":{"name":"deep"},"spec":${'['.repeat(n)}${']'.repeat(n)}}`;
const deepJsonObjects = (n: number) => `{"metadata":{"name":"deep"},"spec":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}`;
const deepYamlSeq = (n: number) => `metadata:\n  name: deep\na: ${'['.repeat(n)}${']'.repeat(n)}\n`;
const deepYamlMap = (n: number) => `metadata:\n  name: deep\na: ${'{a: '.repeat(n)}1${'}'.repeat(n)}\n`;
const deepYamlBlock = (n: number) =>
  `metadata:\n  name: deep\n${Array.from({ length: n }, (_, i) => `${' '.repeat(i)}a:\n`).join('')}`;

type BodyCase = [what: string, body: string, type: string];
const deepBodies: BodyCase[] = [
  ['JSON arrays 101 deep', deepJson(101), 'application/json'],
  ['JSON arrays 1,000 deep (stored with 201 before)', deepJson(1000), 'application/json'],
  ['JSON arrays 2,000 deep (a 500 before)', deepJson(2000), 'application/json'],
  ['JSON objects 5,000 deep', deepJsonObjects(5000), 'application/json'],
  ['YAML flow sequences 10,000 deep', deepYamlSeq(10_000), 'application/yaml'],
  ['YAML flow mappings 5,000 deep', deepYamlMap(5000), 'application/yaml'],
  ['YAML block mappings 1,000 deep', deepYamlBlock(1000), 'application/yaml'],
];

async function expectStatus(r: Response, code: number, mention: string | RegExp): Promise<void> {
  expect(r.status).toBe(code);
  const s = (await r.json()) as {
    kind: string;
    code: number;
    message: string;
    details?: { causes?: { field: string }[] };
  };
  expect(s).toMatchObject({ kind: 'Status', code });
  const text = `${s.message} ${(s.details?.causes ?? []).map((c) => c.field).join(' ')}`;
  if (typeof mention === 'string') expect(text).toContain(mention);
  else expect(text).toMatch(mention);
}

describe('nesting deeper than 100 levels is refused before parsing', () => {
  it.each(deepBodies)('POST of %s → 413', async (_what, body, type) => {
    await expectStatus(await h.api('POST', svcPath(), body, { 'content-type': type }), 413, 'nests more than 100');
  });

  it.each(deepBodies)('PUT of %s → 413', async (_what, body, type) => {
    const r = await h.api('PUT', svcPath('existing'), body, { 'content-type': type });
    await expectStatus(r, 413, 'nests more than 100');
  });

  it.each(deepBodies.filter(([, , type]) => type === 'application/json'))(
    'merge PATCH of %s → 413',
    async (_what, body) => {
      const r = await h.api('PATCH', svcPath('existing'), body, { 'content-type': 'application/merge-patch+json' });
      await expectStatus(r, 413, 'nests more than 100');
    },
  );

  it.each(deepBodies)('server-side apply PATCH of %s → 413', async (_what, body) => {
    const r = await h.api('PATCH', `${svcPath('existing')}?fieldManager=test`, body, {
      'content-type': 'application/apply-patch+yaml',
    });
    await expectStatus(r, 413, 'nests more than 100');
  });

  it('JSON patch with a value nested 2,000 deep → 413', async () => {
    const value = `${'['.repeat(2000)}${']'.repeat(2000)}`;
    const body = `[{"op":"add","path":"/metadata/labels/a","value":${value}}]`;
    const r = await h.api('PATCH', svcPath('existing'), body, { 'content-type': 'application/json-patch+json' });
    await expectStatus(r, 413, 'nests more than 100');
  });

  it('a rollback body nested 3,000 deep → 413', async () => {
    const r = await h.api('POST', `${svcPath('existing')}/rollback`, deepJson(3000));
    await expectStatus(r, 413, 'nests more than 100');
  });
});

describe('metadata that is not an object is a 422 naming it', () => {
  const values: [string, unknown][] = [
    ['a string', 'abc'],
    ['a number', 7],
    ['a boolean', true],
    ['a list', ['a']],
  ];
  const body = (metadata: unknown) => ({ ...service('x'), metadata });

  it.each(values)('POST with metadata %s', async (_what, value) => {
    await expectStatus(await h.api('POST', svcPath(), body(value)), 422, 'metadata');
  });

  it.each(values)('PUT with metadata %s', async (_what, value) => {
    await expectStatus(await h.api('PUT', svcPath('existing'), body(value)), 422, 'metadata');
  });

  it.each(values)('merge PATCH with metadata %s', async (_what, value) => {
    const r = await h.api('PATCH', svcPath('existing'), JSON.stringify({ metadata: value }), {
      'content-type': 'application/merge-patch+json',
    });
    await expectStatus(r, 422, 'metadata');
  });

  it.each(values)('server-side apply with metadata %s', async (_what, value) => {
    const r = await h.api('PATCH', `${svcPath('existing')}?fieldManager=test`, JSON.stringify(body(value)), {
      'content-type': 'application/apply-patch+yaml',
    });
    await expectStatus(r, 422, 'metadata');
  });

  it('YAML with metadata as a string', async () => {
    const yaml = 'apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: hello\nspec: {}\n';
    await expectStatus(await h.api('POST', svcPath(), yaml, { 'content-type': 'application/yaml' }), 422, 'metadata');
  });
});

describe('fields Knative does not allow are refused by their paths', () => {
  const withSpec = (change: (s: Record<string, any>) => void) => {
    const s = service('strict') as Record<string, any>;
    change(s);
    return s;
  };
  it.each([
    ['spec.template.spec.foo', (s: Record<string, any>) => (s.spec.template.spec.foo = 1)],
    ['spec.template.spec.containers[0].foo', (s: Record<string, any>) => (s.spec.template.spec.containers[0].foo = 1)],
    ['spec.template.spec.hostNetwork', (s: Record<string, any>) => (s.spec.template.spec.hostNetwork = true)],
    ['metadata.foo', (s: Record<string, any>) => (s.metadata.foo = 1)],
  ])('%s → 422', async (field, change) => {
    const r = await h.api('POST', svcPath(), withSpec(change));
    await expectStatus(r, 422, field);
  });

  it('ignores a status in the body, as Kubernetes does', async () => {
    const r = await h.api('POST', svcPath(), { ...service('with-status'), status: { bogus: true, url: 'http://x' } });
    expect(r.status).toBe(201);
    expect(((await r.json()) as { status?: { bogus?: unknown } }).status?.bogus).toBeUndefined();
    expect((await h.api('DELETE', svcPath('with-status'))).status).toBe(200);
  });
});

describe("the Service's own annotations and Kubernetes' size limits", () => {
  it('a non-numeric min-scale on the Service → 422 naming it', async () => {
    const s = service('ann') as Record<string, any>;
    s.metadata.annotations = { 'autoscaling.knative.dev/min-scale': 'abc' };
    await expectStatus(
      await h.api('POST', svcPath(), s),
      422,
      'metadata.annotations[autoscaling.knative.dev/min-scale]',
    );
  });

  it('a 900 KB annotation → 422 (at most 256 KiB of annotations)', async () => {
    const s = service('big') as Record<string, any>;
    s.metadata.annotations = { note: 'x'.repeat(900_000) };
    await expectStatus(await h.api('POST', svcPath(), s), 422, 'metadata.annotations');
  });

  it('15,000 labels in YAML are answered (here: accepted)', async () => {
    const labels = Array.from({ length: 15_000 }, (_, i) => `    l${i}: v\n`).join('');
    const yaml = `apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: labels\n  labels:\n${labels}spec:\n  template:\n    spec:\n      containers:\n      - image: x\n`;
    const r = await h.api('POST', svcPath(), yaml, { 'content-type': 'application/yaml' });
    expect(r.status).toBe(201);
    expect((await h.api('DELETE', svcPath('labels'))).status).toBe(200);
    // How long reading them takes is compared in bench/api-parse.mjs (7.4 s with the quadratic
    // check before); the first large YAML body also starts the parsing thread, seconds when busy.
  }, 30_000);

  it('a duplicate key in YAML → 400 naming the key and line', async () => {
    const yaml = 'apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: a\n  name: b\n';
    await expectStatus(
      await h.api('POST', svcPath(), yaml, { 'content-type': 'application/yaml' }),
      400,
      /line 5.*"name" is repeated/,
    );
  });
});

describe('DomainMappings are held to the same rules', () => {
  const dmPath = (name = '') =>
    `/apis/serving.knative.dev/v1beta1/namespaces/default/domainmappings${name ? `/${name}` : ''}`;
  const dm = (metadata: unknown) => ({
    apiVersion: 'serving.knative.dev/v1beta1',
    kind: 'DomainMapping',
    metadata,
    spec: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'existing' } },
  });

  it.each(deepBodies)('POST of %s → 413', async (_what, body, type) => {
    await expectStatus(await h.api('POST', dmPath(), body, { 'content-type': type }), 413, 'nests more than 100');
  });

  it.each([
    ['metadata', 'abc'],
    ['metadata', 7],
    ['metadata', ['a']],
    ['metadata.labels', { name: 'a.example.com', labels: 'abc' }],
    ['metadata.annotations', { name: 'a.example.com', annotations: ['x'] }],
  ])('POST with %s not an object → 422 naming it', async (field, metadata) => {
    const r = await h.api('POST', dmPath(), dm(metadata));
    await expectStatus(r, 422, new RegExp(`${field}: Invalid value: .*: must be an object`));
  });

  it('POST with a field ObjectMeta does not have → 422 naming it', async () => {
    const r = await h.api('POST', dmPath(), dm({ name: 'a.example.com', foo: 1 }));
    await expectStatus(r, 422, 'metadata.foo: Forbidden');
  });

  it('PUT with metadata a string → 422, and the mapping is kept as it was', async () => {
    expect((await h.api('POST', dmPath(), dm({ name: 'kept.example.com' }))).status).toBe(201);
    const r = await h.api('PUT', dmPath('kept.example.com'), dm('abc'));
    await expectStatus(r, 422, /metadata: Invalid value: "abc": must be an object/);
    const kept = await h.api('GET', dmPath('kept.example.com'));
    expect(((await kept.json()) as { spec: { ref: { name: string } } }).spec.ref.name).toBe('existing');
    expect((await h.api('DELETE', dmPath('kept.example.com'))).status).toBe(200);
  });
});

describe('after all of it', () => {
  it('stored nothing and still serves', async () => {
    const list = (await (await h.api('GET', svcPath())).json()) as { items: { metadata: { name: string } }[] };
    expect(list.items.map((i) => i.metadata.name)).toEqual(['existing']);
    expect((await h.api('GET', svcPath('existing'))).status).toBe(200);
  });
});
