import { describe, expect, it } from 'vitest';
import { mappingTarget, unresolvedMessage, validateDomainMapping } from './domain-mapping.ts';

const dm = (ref: Record<string, unknown>) => ({
  apiVersion: 'serving.knative.dev/v1beta1',
  kind: 'DomainMapping',
  metadata: { name: 'shop.example.com' },
  spec: { ref },
});

describe('validateDomainMapping: spec.ref (Knative’s Addressable contract)', () => {
  it.each([
    [{ apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'hello' }],
    [{ apiVersion: 'serving.knative.dev/v1', kind: 'Route', name: 'hello' }],
    // A Kubernetes Service: a tag's placeholder, {tag}-{service}.
    [{ apiVersion: 'v1', kind: 'Service', name: 'canary-hello' }],
  ])('accepts %j', (ref) => {
    const out = validateDomainMapping(dm(ref), 'default');
    expect(out.ok).toBe(true);
    if (out.ok) expect(out.value.spec.ref).toEqual({ ...ref, namespace: 'default' });
  });

  it.each([
    [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'hello' }, 'spec.ref.apiVersion'],
    [{ apiVersion: 'serving.knative.dev/v1', kind: 'Revision', name: 'hello-00001' }, 'spec.ref.kind'],
    [{ apiVersion: 'v1', kind: 'Pod', name: 'hello' }, 'spec.ref.kind'],
    [{ apiVersion: 'v1', kind: 'Service', name: 'Not_A_Name' }, 'spec.ref.name'],
    [{ apiVersion: 'v1', kind: 'Service' }, 'spec.ref.name'],
  ])('refuses %j at %s', (ref, field) => {
    const out = validateDomainMapping(dm(ref), 'default');
    expect(out.ok).toBe(false);
    if (!out.ok) expect(out.causes.map((c) => c.field)).toContain(field);
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

  it('says what was not found, in Knative’s words', () => {
    expect(unresolvedMessage(ref('serving.knative.dev/v1', 'Service', 'nope'), 'default')).toBe(
      'services.serving.knative.dev "nope" not found in namespace default',
    );
    expect(unresolvedMessage(ref('v1', 'Service', 'beta-hello'), 'default')).toBe(
      'services "beta-hello" not found in namespace default (no Knative Service of that name, and no Service has a tag making it: {tag}-{service})',
    );
  });
});
