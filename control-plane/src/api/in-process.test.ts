import { describe, expect, it } from 'vitest';
import { RoutingPublisher } from '../routing/publisher.ts';
import { Store } from '../store/store.ts';
import { service, svcPath } from '../testing/harness.ts';
import { createApi } from './app.ts';
import { ApiMetrics } from './metrics.ts';

// The same API without a socket (Hono's app.request), with a store in memory.
function app() {
  const store = new Store(':memory:');
  const changed: string[] = [];
  const api = createApi({
    store,
    publisher: new RoutingPublisher(store.nextRoutingEpoch()),
    tokens: { user: 'u', router: 'r' },
    metrics: new ApiMetrics(),
    changed: (ns, name) => changed.push(`${ns}/${name}`),
    revisionDeleted: () => {},
    activate: () => {},
    routerStats: () => {},
    ready: () => true,
  });
  return { api, store, changed };
}

const auth = { authorization: 'Bearer u', 'content-type': 'application/json' };

describe('API in process', () => {
  it('creates, reads and lists a service, and asks for it to be reconciled', async () => {
    const { api, changed } = app();
    const created = await api.request(svcPath(), {
      method: 'POST',
      headers: auth,
      body: JSON.stringify(service('hello')),
    });
    expect(created.status).toBe(201);
    expect(changed).toEqual(['default/hello']);
    const got = await api.request(svcPath('hello'), { headers: auth });
    expect(((await got.json()) as { spec: { traffic: unknown } }).spec.traffic).toEqual([
      { latestRevision: true, percent: 100 },
    ]);
    const list = (await (await api.request(svcPath(), { headers: auth })).json()) as { kind: string; items: unknown[] };
    expect(list).toMatchObject({ kind: 'ServiceList' });
    expect(list.items).toHaveLength(1);
  });

  it('refuses a missing token before touching the store', async () => {
    const { api, store } = app();
    const r = await api.request(svcPath(), { method: 'POST', body: JSON.stringify(service('x')) });
    expect(r.status).toBe(401);
    expect(store.listServices()).toEqual([]);
  });

  it('records every write in the audit log', async () => {
    const { api, store } = app();
    await api.request(svcPath(), { method: 'POST', headers: auth, body: JSON.stringify(service('hello')) });
    await api.request(svcPath('hello'), {
      method: 'PATCH',
      headers: { ...auth, 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ spec: { template: { spec: { containerConcurrency: 2 } } } }),
    });
    await api.request(svcPath('hello'), { method: 'DELETE', headers: auth });
    expect(store.auditLog('default', 'hello').map((a) => [a.actor, a.action])).toEqual([
      ['user', 'delete'],
      ['user', 'update'],
      ['user', 'create'],
    ]);
  });
});
