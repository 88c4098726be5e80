// Seeds a data dir with N services through the API in process (no TLS, no reconciler), for
// bench/scale.mjs: the control plane then starts on it and reconciles them all.
//   node --import tsx bench/scale-seed.ts <data-dir> <count>
import { join } from 'node:path';
import { createApi } from '../control-plane/src/api/app.ts';
import { ApiMetrics } from '../control-plane/src/api/metrics.ts';
import { RoutingPublisher } from '../control-plane/src/routing/publisher.ts';
import { Store } from '../control-plane/src/store/store.ts';

const [dataDir, countArg] = process.argv.slice(2);
if (!dataDir || !countArg) throw new Error('usage: scale-seed.ts <data-dir> <count>');
const count = Number(countArg);
const store = new Store(join(dataDir, 'skiff.db'));
const api = createApi({
  store,
  publisher: new RoutingPublisher(store.nextRoutingEpoch()),
  tokens: { user: 'seed', router: 'seed-router' },
  metrics: new ApiMetrics(),
  changed: () => {},
  revisionDeleted: () => {},
  activate: () => {},
  routerStats: () => {},
  ready: () => true,
});
let next = 0;
await Promise.all(
  Array.from({ length: 64 }, async () => {
    while (next < count) {
      const name = `svc-${next++}`;
      const r = await api.request('/apis/serving.knative.dev/v1/namespaces/default/services', {
        method: 'POST',
        headers: { authorization: 'Bearer seed', 'content-type': 'application/json' },
        body: JSON.stringify({
          apiVersion: 'serving.knative.dev/v1',
          kind: 'Service',
          metadata: { name },
          spec: { template: { spec: { containers: [{ image: 'example', env: [{ name: 'TARGET', value: 'v1' }] }] } } },
        }),
      });
      if (r.status !== 201) throw new Error(`${name}: ${r.status} ${await r.text()}`);
    }
  }),
);
store.close();
console.log(`seeded ${count} services`);
