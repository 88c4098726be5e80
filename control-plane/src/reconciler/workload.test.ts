import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RevisionWorkload } from '../backends/backend.ts';
import { type Harness, harness, service, svcPath } from '../testing/harness.ts';

// What each revision's replicas are told about their owners (K_SERVICE, K_CONFIGURATION,
// K_REVISION and the queue-proxy's SERVING_*): Knative's deploy.go takes them from the revision's
// labels, so a revision of a Configuration created directly has an empty K_SERVICE.

let h: Harness;
let ensured: RevisionWorkload[];
beforeEach(async () => {
  h = await harness();
  ensured = [];
  const ensure = h.backend.ensure.bind(h.backend);
  h.backend.ensure = (w, replicas) => {
    ensured.push(w);
    return ensure(w, replicas);
  };
});
afterEach(async () => {
  await h.close();
});

const owners = (revision: string) => {
  const w = ensured.find((x) => x.revision === revision);
  return w && { service: w.service, configuration: w.configuration, revision: w.revision };
};

describe('a revision’s owners as its replicas see them', () => {
  it('names the Service, its Configuration and the revision for a Service’s revision', async () => {
    expect((await h.api('POST', svcPath(), service('web'))).status).toBe(201);
    await h.settle();
    expect(owners('web-00001')).toEqual({ service: 'web', configuration: 'web', revision: 'web-00001' });
  });

  it('names no Service for a revision of a Configuration created directly', async () => {
    const cfg = { ...service('blue'), kind: 'Configuration' };
    const r = await h.api('POST', '/apis/serving.knative.dev/v1/namespaces/default/configurations', cfg);
    expect(r.status).toBe(201);
    await h.settle();
    // Not routed yet: its newest revision runs until it is ready.
    expect(owners('blue-00001')).toEqual({ service: '', configuration: 'blue', revision: 'blue-00001' });
  });
});
