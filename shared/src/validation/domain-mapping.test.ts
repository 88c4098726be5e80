import { describe, expect, it } from 'vitest';
import { decodeResource } from '../parse/decode.ts';
import { mappingCandidates, mappingTarget, unresolvedMessage } from './domain-mapping.ts';

const dm = (ref: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'serving.knative.dev/v1beta1',
  kind: 'DomainMapping',
  metadata: { name: 'shop.example.com', namespace: 'default' },
  spec: { ref },
  ...extra,
});
const fields = (out: ReturnType<typeof decodeResource>) =>
  out.ok ? [] : (out.status.details?.causes ?? []).map((c) => c.field).sort();

describe('a DomainMapping checked by its schema: spec.ref (Knative’s Addressable contract)', () => {
  it.each([
    [{ apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'hello' }],
    [{ apiVersion: 'serving.knative.dev/v1', kind: 'Route', name: 'hello' }],
    // A Kubernetes Service: a tag's placeholder, {tag}-{service}.
    [{ apiVersion: 'v1', kind: 'Service', name: 'canary-hello' }],
  ])('accepts %j, in the mapping’s namespace', (ref) => {
    const out = decodeResource('DomainMapping', dm(ref));
    expect(out.ok).toBe(true);
    if (out.ok) expect(out.value.spec.ref).toEqual({ ...ref, namespace: 'default' });
  });

  it.each([
    [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'hello' }, 'spec.ref.apiVersion'],
    [{ apiVersion: 'serving.knative.dev/v1', kind: 'Revision', name: 'hello-00001' }, 'spec.ref.kind'],
    [{ apiVersion: 'v1', kind: 'Pod', name: 'hello' }, 'spec.ref.kind'],
    [{ apiVersion: 'v1', kind: 'Service', name: 'Not_A_Name' }, 'spec.ref.name'],
    [{ apiVersion: 'v1', kind: 'Service' }, 'spec.ref.name'],
    [{ apiVersion: 'v1', kind: 'Service', name: 'hello', namespace: 'other' }, 'spec.ref.namespace'],
    [{ apiVersion: 'v1', kind: 'Service', name: 'hello', port: 80 }, 'spec.ref.port'],
  ])('refuses %j at %s', (ref, field) => {
    expect(fields(decodeResource('DomainMapping', dm(ref)))).toContain(field);
  });

  it('lists every problem at once, with the field paths of each part', () => {
    const out = decodeResource('DomainMapping', {
      apiVersion: 'serving.knative.dev/v1beta1',
      kind: 'DomainMapping',
      metadata: { name: 'nodots', generateName: 'x-', labels: { 'bad key!': 'v' } },
      spec: { ref: { apiVersion: 'v1', kind: 'Pod', name: 'hello' }, tls: {} },
      extra: true,
    });
    expect(out.ok).toBe(false);
    expect(fields(out)).toEqual([
      'extra',
      'metadata.generateName',
      'metadata.labels',
      'metadata.name',
      'spec.ref.kind',
      'spec.tls.secretName',
    ]);
    if (!out.ok) {
      expect(out.status).toMatchObject({ code: 422, reason: 'Invalid', details: { kind: 'DomainMapping' } });
      expect(out.status.message).toMatch(/metadata\.name: Invalid value: "nodots": must be a fully qualified/);
    }
  });

  it.each([
    ['a domain under the cluster domain', { name: 'x.default.svc.cluster.local' }, 'metadata.name'],
    ['no name', {}, 'metadata.name'],
    ['an empty TLS Secret name', { name: 'a.example.com' }, 'spec.tls.secretName', { secretName: '' }],
  ])('refuses %s', (_what, metadata, field, tls?: unknown) => {
    const body = dm({ apiVersion: 'v1', kind: 'Service', name: 'hello' });
    body.metadata = { ...metadata, namespace: 'default' } as typeof body.metadata;
    if (tls !== undefined) (body.spec as Record<string, unknown>).tls = tls;
    expect(fields(decodeResource('DomainMapping', body))).toEqual([field]);
  });
});

describe('mappingTarget: what a ref reaches', () => {
  const services = [
    { name: 'hello', tags: ['canary', 'stable'] },
    { name: 'shop', tags: [] },
    // A Service whose name looks like another's tag placeholder: the Service wins, as names are unique.
    { name: 'canary-shop', tags: [] },
  ];
  const ref = (apiVersion: string, kind: string, name: string) => ({ apiVersion, kind, name });
  it.each([
    [ref('serving.knative.dev/v1', 'Service', 'hello'), { service: 'hello' }],
    [ref('serving.knative.dev/v1', 'Route', 'shop'), { service: 'shop' }],
    [ref('v1', 'Service', 'hello'), { service: 'hello' }],
    [ref('v1', 'Service', 'canary-hello'), { service: 'hello', tag: 'canary' }],
    [ref('v1', 'Service', 'stable-hello'), { service: 'hello', tag: 'stable' }],
    [ref('v1', 'Service', 'canary-shop'), { service: 'canary-shop' }],
    // A Knative Service ref never means a tag; a tag that is not there resolves to nothing.
    [ref('serving.knative.dev/v1', 'Service', 'canary-hello'), undefined],
    [ref('v1', 'Service', 'beta-hello'), undefined],
    [ref('serving.knative.dev/v1', 'Service', 'nope'), undefined],
  ])('%j → %j', (r, expected) => {
    expect(mappingTarget(r, services)).toEqual(expected);
  });

  it.each([
    [ref('serving.knative.dev/v1', 'Route', 'split'), { service: 'split' }],
    [ref('v1', 'Service', 'split'), { service: 'split' }],
    [ref('v1', 'Service', 'old-split'), { service: 'split', tag: 'old' }],
    // A Knative Service ref names a Service: a Route created directly is not one.
    [ref('serving.knative.dev/v1', 'Service', 'split'), undefined],
  ])('with a Route created directly: %j → %j', (r, expected) => {
    expect(mappingTarget(r, [...services, { name: 'split', tags: ['old'], kind: 'Route' as const }])).toEqual(expected);
  });

  it('says what was not found, in Knative’s words', () => {
    expect(unresolvedMessage(ref('serving.knative.dev/v1', 'Service', 'nope'), 'default')).toBe(
      'services.serving.knative.dev "nope" not found in namespace default',
    );
    expect(unresolvedMessage(ref('v1', 'Service', 'beta-hello'), 'default')).toBe(
      'services "beta-hello" not found in namespace default (no Knative Service of that name, and no Service has a tag making it: {tag}-{service})',
    );
  });
});

describe('mappingCandidates: the only Services a ref can resolve to', () => {
  const ref = (apiVersion: string, name: string) => ({ apiVersion, kind: 'Service', name });
  it.each([
    [[ref('serving.knative.dev/v1', 'canary-hello')], ['canary-hello']],
    [[ref('v1', 'hello')], ['hello']],
    [[ref('v1', 'a-b-c')], ['a-b-c', 'b-c', 'c']],
    [
      [ref('v1', 'canary-hello'), ref('serving.knative.dev/v1', 'shop')],
      ['canary-hello', 'hello', 'shop'],
    ],
    [[], []],
  ])('%j → %j', (refs, expected) => {
    expect(mappingCandidates(refs)).toEqual(expected);
  });

  it('resolves every ref as the whole namespace does', () => {
    const services = [
      { name: 'a', tags: ['x', 'x-y'] },
      { name: 'b-c', tags: ['a'] },
      { name: 'c', tags: ['a-b', 'z'] },
      { name: 'hello', tags: ['canary'] },
      { name: 'y-a', tags: ['x'] },
    ];
    const names = ['a', 'x-a', 'x-y-a', 'a-b-c', 'a-b-c-d', 'z-c', 'canary-hello', 'x-y', 'hello', 'nope'];
    for (const apiVersion of ['v1', 'serving.knative.dev/v1']) {
      for (const name of names) {
        const r = ref(apiVersion, name);
        const few = new Set(mappingCandidates([r]));
        expect(
          mappingTarget(
            r,
            services.filter((s) => few.has(s.name)),
          ),
          `${apiVersion} ${name}`,
        ).toEqual(mappingTarget(r, services));
      }
    }
  });
});
