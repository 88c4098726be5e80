import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, harness, service, svcPath } from '../testing/harness.ts';

// OpenAPI as kubectl reads it: v3 for `explain` and to learn that the server validates fields
// (`fieldValidation` on PATCH), v2 for older clients. kubectl's own use is in test/platform/kubectl.test.ts.

let h: Harness;
beforeAll(async () => {
  h = await harness();
});
afterAll(async () => {
  await h.close();
});

const get = async (path: string) => {
  const r = await h.api('GET', path);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^application\/json/);
  return (await r.json()) as any;
};

const gvk = (kind: string) => ({ group: 'serving.knative.dev', version: 'v1', kind });

describe('OpenAPI v3', () => {
  it('lists the group at /openapi/v3 and serves its document at the relative URL', async () => {
    const root = await get('/openapi/v3');
    const entry = root.paths['apis/serving.knative.dev/v1'];
    expect(entry.serverRelativeURL).toMatch(/^\/openapi\/v3\/apis\/serving\.knative\.dev\/v1\?hash=[0-9A-F]+$/i);
    const doc = await get(entry.serverRelativeURL);
    expect(doc.openapi).toMatch(/^3\./);
    for (const kind of ['Service', 'Configuration', 'Revision', 'Route']) {
      const schema = doc.components.schemas[`dev.knative.serving.v1.${kind}`];
      expect(schema['x-kubernetes-group-version-kind']).toEqual([gvk(kind)]);
      expect(schema.description).toEqual(expect.any(String));
      expect(Object.keys(schema.properties)).toEqual(
        expect.arrayContaining(['apiVersion', 'kind', 'metadata', 'spec', 'status']),
      );
    }
  });

  it('serves DomainMapping at v1beta1, as Knative does, with its fields and verbs', async () => {
    const root = await get('/openapi/v3');
    const entry = root.paths['apis/serving.knative.dev/v1beta1'];
    expect(entry.serverRelativeURL).toMatch(/^\/openapi\/v3\/apis\/serving\.knative\.dev\/v1beta1\?hash=[0-9a-f]+$/);
    const doc = await get(entry.serverRelativeURL);
    const dm = doc.components.schemas['dev.knative.serving.v1beta1.DomainMapping'];
    expect(dm['x-kubernetes-group-version-kind']).toEqual([
      { group: 'serving.knative.dev', version: 'v1beta1', kind: 'DomainMapping' },
    ]);
    expect(dm.properties.spec.required).toEqual(['ref']);
    expect(dm.properties.spec.properties.ref.properties.name.description).toMatch(/Service the domain reaches/);
    const item = doc.paths['/apis/serving.knative.dev/v1beta1/namespaces/{namespace}/domainmappings/{name}'];
    expect(Object.keys(item).sort()).toEqual(['delete', 'get', 'patch', 'put']);
  });

  it('describes fields from the zod schemas (kubectl explain ksvc.spec.template.spec)', async () => {
    const doc = await get('/openapi/v3/apis/serving.knative.dev/v1');
    const svc = doc.components.schemas['dev.knative.serving.v1.Service'];
    const template = svc.properties.spec.properties.template;
    expect(template.description).toMatch(/new, immutable Revision/);
    const spec = template.properties.spec;
    expect(spec.required).toEqual(['containers']);
    expect(spec.properties.containerConcurrency).toMatchObject({ type: 'integer', description: expect.any(String) });
    expect(spec.properties.containers.type).toBe('array');
    expect(spec.properties.containers.items.properties.image.type).toBe('string');
    // Unknown fields are refused, as Knative's webhook does: no preserve-unknown-fields on the spec.
    expect(spec['x-kubernetes-preserve-unknown-fields']).toBeUndefined();
    expect(spec.additionalProperties).toBe(false);
    // Quantities and probe ports take a number or a string.
    const resources = spec.properties.containers.items.properties.resources.properties.limits;
    expect(resources.additionalProperties['x-kubernetes-int-or-string']).toBe(true);
    const traffic = svc.properties.spec.properties.traffic.items.properties;
    expect(traffic.percent).toMatchObject({ type: 'integer', nullable: true });
  });

  it('declares fieldValidation on each writable PATCH, so kubectl leaves validation to the server', async () => {
    const doc = await get('/openapi/v3/apis/serving.knative.dev/v1');
    const patch = doc.paths['/apis/serving.knative.dev/v1/namespaces/{namespace}/services/{name}'].patch;
    expect(patch['x-kubernetes-group-version-kind']).toEqual(gvk('Service'));
    expect(patch.parameters).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'fieldValidation', in: 'query' })]),
    );
    // Revisions are made by Skiff: no PATCH to advertise.
    expect(doc.paths['/apis/serving.knative.dev/v1/namespaces/{namespace}/revisions/{name}'].patch).toBeUndefined();
  });

  it('validates writes the way the document says (strict fields, Status naming the path)', async () => {
    const bad = service('strict', {});
    (bad as any).spec.template.spec.containers[0].imag = 'x';
    const r = await h.api('POST', `${svcPath()}?fieldValidation=Strict`, bad);
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    const status = (await r.json()) as any;
    expect(status.kind).toBe('Status');
    expect(JSON.stringify(status.details.causes)).toContain('spec.template.spec.containers[0].imag');
  });
});

describe('OpenAPI v2', () => {
  it('serves Swagger 2.0 definitions with group-version-kind and no nullable', async () => {
    const doc = await get('/openapi/v2');
    expect(doc.swagger).toBe('2.0');
    const svc = doc.definitions['dev.knative.serving.v1.Service'];
    expect(svc['x-kubernetes-group-version-kind']).toEqual([gvk('Service')]);
    expect(doc.definitions['dev.knative.serving.v1beta1.DomainMapping']['x-kubernetes-group-version-kind']).toEqual([
      { group: 'serving.knative.dev', version: 'v1beta1', kind: 'DomainMapping' },
    ]);
    expect(JSON.stringify(doc)).not.toContain('"nullable"');
    expect(JSON.stringify(doc)).not.toContain('#/components/');
  });
});
