#!/usr/bin/env node
// Benchmark: Skiff's API as a Kubernetes API server, against the test cluster's kube-apiserver
// serving a Knative-shaped CRD (services.serving.knative.dev, status subresource) as the peer.
//
//   node bench/api.mjs [--services 100] [--watchers 1000] [--rounds 3] [--skiff-only]
//
// 1. `kubectl apply -f` of --services Services in one file (the cluster's kubectl v1.36, client-side
//    apply with validation, as a user runs it): wall time, median of --rounds, Skiff and the peer
//    interleaved; everything is deleted between rounds.
// 2. --watchers watches (`?watch=true&fieldSelector=metadata.name=w`, one TLS connection each) on
//    one Service, then one update: the time from sending the update to each watcher's MODIFIED
//    event (p50/p99/max), and the server's RSS before the watches, with them open, and after.
//
// Skiff runs as the control-plane program with the memory backend (replicas are records: this
// measures the API, not processes). Needs the binaries of scripts/k8s/build.sh (kubectl and the
// peer); --skiff-only measures Skiff alone (no ratios), with KUBECTL=path for a kubectl built
// elsewhere when the cluster binaries are not built yet. Loopback only.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, machine, median, start } from './lib.mjs';

const { values: opts } = parseArgs({
  options: {
    services: { type: 'string', default: '100' },
    watchers: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
    'skiff-only': { type: 'boolean', default: false },
  },
});
const withPeer = !opts['skiff-only'];
const total = Number(opts.services);
const watchers = Number(opts.watchers);
const rounds = Number(opts.rounds);
const root = fileURLToPath(new URL('..', import.meta.url));

const { register } = await import('tsx/esm/api');
register();
const { k8sAvailability, kubeRequest, startTestCluster } = await import(`${root}test/k8s/cluster.ts`);
const availability = k8sAvailability();
if (!availability.ok && (withPeer || !process.env.KUBECTL)) {
  console.error(`cannot run: ${availability.reason}`);
  process.exit(1);
}
const kubectlBin = process.env.KUBECTL ?? join(availability.binDir, 'kubectl');
const work = mkdtempSync(join(tmpdir(), 'skiff-bench-api-'));
const targets = [];

// The peer: kube-apiserver with Knative's Service as a CRD (Knative ships its CRDs with
// x-kubernetes-preserve-unknown-fields on spec and status; validation is its webhook's job).
if (withPeer) {
  const cluster = await startTestCluster({ nodes: 1 });
  process.on('exit', () => void cluster.stop());
  const preserve = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  const crd = await kubeRequest(cluster, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'services.serving.knative.dev' },
    spec: {
      group: 'serving.knative.dev',
      scope: 'Namespaced',
      names: { plural: 'services', singular: 'service', kind: 'Service', shortNames: ['kservice', 'ksvc'] },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: { openAPIV3Schema: { type: 'object', properties: { spec: preserve, status: preserve } } },
        },
      ],
    },
  });
  if (crd.status !== 201) throw new Error(`CRD: ${crd.status} ${crd.body}`);
  for (;;) {
    const r = await kubeRequest(cluster, 'GET', '/apis/serving.knative.dev/v1/namespaces/default/services');
    if (r.status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const pid = Number(
    (await run('pgrep', ['-n', '-f', `kube-apiserver.*${new URL(cluster.server).port}`])).stdout.trim(),
  );
  targets.push({ name: 'kube-apiserver', kubeconfig: cluster.kubeconfigPath, pid });
}

// Skiff: the control plane program, memory backend, its own kubeconfig.
const port = await freePort();
const dataDir = join(work, 'skiff');
const skiff = await start(
  process.execPath,
  [`${root}control-plane/bin/skiff-control-plane.js`],
  { SKIFF_DATA_DIR: dataDir, SKIFF_API_PORT: String(port), SKIFF_API_TOKEN: 'bench-token', SKIFF_MEMORY_READY_MS: '0' },
  /API on http/,
  60_000,
);

targets.unshift({ name: 'skiff', kubeconfig: join(dataDir, 'kubeconfig'), pid: skiff.pid });
for (const t of targets) {
  const k = readFileSync(t.kubeconfig, 'utf8');
  t.server = /server: (\S+)/.exec(k)[1];
  t.token = /token: (\S+)/.exec(k)[1];
  const ca = /certificate-authority-data: (\S+)/.exec(k);
  t.agent = new Agent({
    keepAlive: true,
    maxSockets: Number.POSITIVE_INFINITY,
    ...(ca ? { ca: Buffer.from(ca[1], 'base64').toString() } : { rejectUnauthorized: false }),
  });
}

function run(command, args, input) {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { encoding: 'utf8', maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
      error && command !== 'pgrep' ? reject(new Error(`${command} ${args.join(' ')}: ${stderr}`)) : resolve({ stdout }),
    );
    if (input !== undefined) child.stdin.end(input);
  });
}
const kubectl = (t, args, input) =>
  run(kubectlBin, ['--kubeconfig', t.kubeconfig, '--cache-dir', join(work, `cache-${t.name}`), ...args], input);

const manifest = (name, target) => `---
apiVersion: serving.knative.dev/v1
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
`;
const file = join(work, 'services.yaml');
writeFileSync(file, Array.from({ length: total }, (_, i) => manifest(`svc-${i}`, 'v1')).join(''));

const progress = (m) => console.error(`[api bench] ${m}`);
progress(`targets up: ${targets.map((t) => t.name).join(', ')}`);
// Discovery and OpenAPI are cached by kubectl; warm both caches so rounds measure the writes.
for (const t of targets) await kubectl(t, ['get', 'ksvc']);

const applyMs = Object.fromEntries(targets.map((t) => [t.name, []]));
for (let round = 0; round < rounds; round++) {
  for (const t of round % 2 === 0 ? targets : [...targets].reverse()) {
    progress(`round ${round + 1}: kubectl apply on ${t.name}`);
    const t0 = performance.now();
    await kubectl(t, ['apply', '-f', file]);
    applyMs[t.name].push(performance.now() - t0);
    const listed = JSON.parse((await kubectl(t, ['get', 'ksvc', '-o', 'json'])).stdout).items.length;
    if (listed !== total) throw new Error(`${t.name}: ${listed} services after apply, not ${total}`);
    await kubectl(t, ['delete', 'ksvc', '--all', '--wait=true']);
  }
}

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? Number.NaN);
}

function call(t, method, path, body, type = 'application/json') {
  return new Promise((resolve, reject) => {
    const url = new URL(path, t.server);
    const req = request(
      url,
      { method, agent: t.agent, headers: { authorization: `Bearer ${t.token}`, 'content-type': type } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const path = '/apis/serving.knative.dev/v1/namespaces/default/services';
/** Opens a watch; resolves once the response started, with a promise of the first MODIFIED. */
function openWatch(t, rv, sent) {
  return new Promise((resolve, reject) => {
    const url = new URL(`${path}?watch=true&fieldSelector=metadata.name%3Dw&resourceVersion=${rv}`, t.server);
    const req = request(url, { agent: t.agent, headers: { authorization: `Bearer ${t.token}` } }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`${t.name} watch: ${res.statusCode}`));
      let buf = '';
      const modified = new Promise((done) => {
        res.on('data', (d) => {
          buf += d;
          let nl = buf.indexOf('\n');
          while (nl >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (JSON.parse(line).type === 'MODIFIED') {
              done(performance.now() - sent.at);
              req.destroy();
            }
            nl = buf.indexOf('\n');
          }
        });
      });
      // Wrapped: resolving with the promise itself would wait for the event.
      resolve({ modified });
    });
    req.on('error', (e) => (e.code === 'ECONNRESET' ? undefined : reject(e)));
    req.end();
  });
}

const fanout = {};
for (const t of targets) {
  const created = await call(t, 'POST', path, JSON.stringify(serviceJson('w')));
  if (created.status !== 201) throw new Error(`${t.name} create: ${created.status} ${created.body}`);
  await new Promise((r) => setTimeout(r, 1000));
  const list = JSON.parse((await call(t, 'GET', `${path}?fieldSelector=metadata.name%3Dw`)).body);
  progress(`${t.name}: opening ${watchers} watches`);
  const rssBefore = rssKiB(t.pid);
  const sent = { at: 0 };
  const opened = [];
  for (let i = 0; i < watchers; i += 50) {
    opened.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(50, watchers - i) }, () => openWatch(t, list.metadata.resourceVersion, sent)),
      )),
    );
  }
  await new Promise((r) => setTimeout(r, 500));
  const rssOpen = rssKiB(t.pid);
  sent.at = performance.now();
  const patch = JSON.stringify({ metadata: { labels: { bench: 'updated' } } });
  const patched = await call(t, 'PATCH', `${path}/w`, patch, 'application/merge-patch+json');
  if (patched.status !== 200) throw new Error(`${t.name} patch: ${patched.status} ${patched.body}`);
  const latencies = (await Promise.all(opened.map((o) => o.modified))).sort((a, b) => a - b);
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  await new Promise((r) => setTimeout(r, 500));
  fanout[t.name] = { p50: q(0.5), p99: q(0.99), max: latencies.at(-1), rssBefore, rssOpen, rssAfter: rssKiB(t.pid) };
  t.agent.destroy();
}

function serviceJson(name) {
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name },
    spec: { template: { spec: { containers: [{ image: 'ghcr.io/knative/helloworld-go' }] } } },
  };
}

const ms = (v) => `${v.toFixed(0)} ms`;
const mib = (kib) => `${(kib / 1024).toFixed(0)} MiB`;
console.log(`machine: ${machine()}`);
console.log(`\nkubectl apply -f (${total} Services), median of ${rounds}:`);
for (const t of targets) {
  console.log(`  ${t.name.padEnd(15)} ${ms(median(applyMs[t.name]))}  (${applyMs[t.name].map(ms).join(', ')})`);
}
if (withPeer) {
  console.log(
    `  ratio skiff / kube-apiserver: ${(median(applyMs.skiff) / median(applyMs['kube-apiserver'])).toFixed(2)}`,
  );
}
console.log(`\n${watchers} watchers on one Service, one update → MODIFIED:`);
for (const t of targets) {
  const f = fanout[t.name];
  console.log(
    `  ${t.name.padEnd(15)} p50 ${ms(f.p50)}  p99 ${ms(f.p99)}  max ${ms(f.max)}  RSS ${mib(f.rssBefore)} → ${mib(f.rssOpen)} with watches → ${mib(f.rssAfter)}`,
  );
}
if (withPeer) {
  console.log(`  ratio p99 skiff / kube-apiserver: ${(fanout.skiff.p99 / fanout['kube-apiserver'].p99).toFixed(2)}`);
} else {
  console.log('  (--skiff-only: no peer in this run, so no ratios)');
}
process.exit(0);
