#!/usr/bin/env node
// Benchmark: the control plane's API and reconciler with the memory backend.
//
//   node bench/control-plane.mjs [--services 1000] [--concurrency 8]
//
// Creates N services through the API, then updates each once (a template change, so a second
// revision); prints requests/s and p50/p99 latency per operation, the time until every service is
// Ready after each phase, and the size of the SQLite file. Everything runs on loopback.
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { apiFetch, freePort, machine, start } from './lib.mjs';

const { values: opts } = parseArgs({
  options: { services: { type: 'string', default: '1000' }, concurrency: { type: 'string', default: '8' } },
});
const total = Number(opts.services);
const concurrency = Number(opts.concurrency);
const root = fileURLToPath(new URL('..', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'skiff-bench-cp-'));
const port = await freePort();
const token = 'bench-token';
await start(
  process.execPath,
  [
    ...(process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(' ') : []),
    `${root}control-plane/bin/skiff-control-plane.js`,
  ],
  { SKIFF_DATA_DIR: dataDir, SKIFF_API_PORT: String(port), SKIFF_API_TOKEN: token, SKIFF_MEMORY_READY_MS: '0' },
  /API on http/,
);
const fetch = apiFetch(dataDir);
const api = `https://127.0.0.1:${port}/apis/serving.knative.dev/v1/namespaces/default/services`;
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
const manifest = (i, target) => ({
  apiVersion: 'serving.knative.dev/v1',
  kind: 'Service',
  metadata: { name: `svc-${i}` },
  spec: { template: { spec: { containers: [{ image: 'example', env: [{ name: 'TARGET', value: target }] }] } } },
});

async function phase(name, send) {
  const latencies = [];
  let next = 0;
  let failed = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const t0 = performance.now();
        const r = await send(i);
        await r.arrayBuffer();
        latencies.push(performance.now() - t0);
        if (!r.ok) failed++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  const readyAt = await allReady(started);
  return { name, rps: total / seconds, p50: pct(50), p99: pct(99), failed, readySeconds: readyAt };
}

/** Seconds from `since` until every service reports Ready=True at its current generation. */
async function allReady(since) {
  for (;;) {
    const list = await (await fetch(api, { headers })).json();
    const ready = list.items.filter(
      (s) =>
        s.status?.observedGeneration === s.metadata.generation &&
        s.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True',
    ).length;
    if (ready === total) return (performance.now() - since) / 1000;
    await new Promise((r) => setTimeout(r, 100));
  }
}

console.log(`machine: ${machine()}`);
console.log(`${total} services, ${concurrency} concurrent clients, memory backend (replicas ready at once)\n`);
const create = await phase('create (POST)', (i) =>
  fetch(api, { method: 'POST', headers, body: JSON.stringify(manifest(i, 'v1')) }),
);
const update = await phase('update (PUT, new revision)', (i) =>
  fetch(`${api}/svc-${i}`, { method: 'PUT', headers, body: JSON.stringify(manifest(i, 'v2')) }),
);
const size = readdirSync(dataDir)
  .filter((f) => f.startsWith('skiff.db'))
  .reduce((n, f) => n + statSync(join(dataDir, f)).size, 0);
console.log('| operation | req/s | p50 ms | p99 ms | failed | all Ready after (s) |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const p of [create, update]) {
  console.log(
    `| ${p.name} | ${p.rps.toFixed(0)} | ${p.p50.toFixed(1)} | ${p.p99.toFixed(1)} | ${p.failed} | ${p.readySeconds.toFixed(1)} |`,
  );
}
console.log(
  `\nSQLite file (with WAL): ${(size / 1024 / 1024).toFixed(1)} MiB for ${total} services and ${2 * total} revisions`,
);
process.exit(0);
