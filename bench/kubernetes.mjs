#!/usr/bin/env node
// Benchmark: the control plane with the Kubernetes backend on the test cluster (real
// kube-apiserver, etcd, controller-manager, scheduler; kwok's fake Nodes make pods Ready).
//
//   node bench/kubernetes.mjs [--services 50] [--rounds 5]
//
// Prints the test cluster's start time, then the time from `POST .../services` to the service's
// Ready condition for one service (median of --rounds, one at a time) and for --services created
// at once (time until all are Ready, and the p50/p99 of each one's create-to-Ready). Needs the
// binaries of scripts/k8s/build.sh. No traffic goes to pods: their IPs are fake.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { apiFetch, freePort, machine, start } from './lib.mjs';

const { values: opts } = parseArgs({
  options: { services: { type: 'string', default: '50' }, rounds: { type: 'string', default: '5' } },
});
const total = Number(opts.services);
const rounds = Number(opts.rounds);
const root = fileURLToPath(new URL('..', import.meta.url));

const { register } = await import('tsx/esm/api');
register();
const { k8sAvailability, kubeRequest, startTestCluster } = await import(`${root}test/k8s/cluster.ts`);
const availability = k8sAvailability();
if (!availability.ok) {
  console.error(`cannot run: ${availability.reason}`);
  process.exit(1);
}

const clusterStarted = performance.now();
const cluster = await startTestCluster({ nodes: 2 });
const clusterMs = performance.now() - clusterStarted;
process.on('exit', () => void cluster.stop());
const ns = 'bench';
await kubeRequest(cluster, 'POST', '/api/v1/namespaces', {
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name: ns },
});
for (;;) {
  const sa = await kubeRequest(cluster, 'GET', `/api/v1/namespaces/${ns}/serviceaccounts/default`);
  if (sa.status === 200) break;
  await new Promise((r) => setTimeout(r, 100));
}

const port = await freePort();
const token = 'bench-token';
const dataDir = mkdtempSync(join(tmpdir(), 'skiff-bench-k8s-'));
await start(
  process.execPath,
  [`${root}control-plane/bin/skiff-control-plane.js`],
  {
    SKIFF_DATA_DIR: dataDir,
    SKIFF_API_PORT: String(port),
    SKIFF_API_TOKEN: token,
    SKIFF_BACKEND: 'kubernetes',
    SKIFF_KUBECONFIG: cluster.kubeconfigPath,
    SKIFF_K8S_NAMESPACE: ns,
    SKIFF_SCRAPE_PODS: 'false',
  },
  /API on http/,
);
const fetch = apiFetch(dataDir);
const api = `https://127.0.0.1:${port}/apis/serving.knative.dev/v1/namespaces/default/services`;
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
const manifest = (name) => ({
  apiVersion: 'serving.knative.dev/v1',
  kind: 'Service',
  metadata: { name },
  spec: { template: { spec: { containers: [{ image: 'ghcr.io/knative/helloworld-go:latest' }] } } },
});

async function create(name) {
  const r = await fetch(api, { method: 'POST', headers, body: JSON.stringify(manifest(name)) });
  if (r.status !== 201) throw new Error(`create ${name}: ${r.status} ${await r.text()}`);
}

/** Polls the service list every `everyMs` until every name is Ready; resolves with each one's time. */
async function readyTimes(names, since, everyMs) {
  const pending = new Set(names);
  const at = new Map();
  const deadline = performance.now() + 300_000;
  while (pending.size > 0) {
    if (performance.now() > deadline) throw new Error(`not Ready after 300 s: ${[...pending].join(', ')}`);
    const list = await (await fetch(api, { headers })).json();
    for (const s of list.items) {
      const ready = s.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      if (ready && pending.delete(s.metadata.name))
        at.set(s.metadata.name, performance.now() - since.get(s.metadata.name));
    }
    if (pending.size > 0) await new Promise((r) => setTimeout(r, everyMs));
  }
  return at;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];

const single = [];
for (let i = 0; i < rounds; i++) {
  const name = `one-${i}`;
  const since = new Map([[name, performance.now()]]);
  await create(name);
  single.push((await readyTimes([name], since, 10)).get(name));
}

const names = Array.from({ length: total }, (_, i) => `many-${i}`);
const since = new Map();
const started = performance.now();
// Skiff's own part: until every Deployment and Service is written (the cluster's controllers then
// create ReplicaSets, pods, bindings and EndpointSlices at their own client rate limits).
const written = (async () => {
  for (;;) {
    const [d, s] = await Promise.all(
      ['/apis/apps/v1', '/api/v1'].map(async (group, i) => {
        const kind = i === 0 ? 'deployments' : 'services';
        const r = await kubeRequest(
          cluster,
          'GET',
          `${group}/namespaces/${ns}/${kind}?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dskiff`,
        );
        return r.json.items.filter((o) => o.metadata.name.startsWith('many-')).length;
      }),
    );
    if (d >= total && s >= total) return performance.now() - started;
    await new Promise((r) => setTimeout(r, 20));
  }
})();
await Promise.all(
  names.map(async (n) => {
    since.set(n, performance.now());
    await create(n);
  }),
);
const each = [...(await readyTimes(names, since, 50)).values()];
const allMs = performance.now() - started;
const writtenMs = await written;

console.log(machine());
console.log(
  `test cluster start: ${(clusterMs / 1000).toFixed(1)} s (etcd, apiserver, KCM, scheduler, kwok, 2 Nodes Ready)`,
);
console.log(
  `1 service, create -> Ready: median ${median(single).toFixed(0)} ms of ${rounds} (${single.map((x) => x.toFixed(0)).join(', ')})`,
);
console.log(
  `${total} services at once: all Ready in ${(allMs / 1000).toFixed(2)} s; each create -> Ready p50 ${pct(each, 50).toFixed(0)} ms, p99 ${pct(each, 99).toFixed(0)} ms; all ${total} Deployments and Services written in ${(writtenMs / 1000).toFixed(2)} s`,
);
process.exit(0);
