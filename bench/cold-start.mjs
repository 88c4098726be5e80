#!/usr/bin/env node
// Benchmark: cold start through Skiff vs the app's own boot time.
//
//   node bench/cold-start.mjs [--rounds 7]
//
// (a) The example app started directly: time from spawn until it answers (polled every 2 ms).
// (b) Through `skiff up`: a service created with `autoscaling.knative.dev/initial-scale: "0"` sits
//     at zero replicas; time from sending the first request to the router until its response (the
//     router holds it, pokes the control plane, a replica and its queue-proxy start, the request is
//     released). Prints medians and the overhead (b) − (a). Everything on loopback.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { apiFetch, freePort, machine, median, start } from './lib.mjs';

const { values: opts } = parseArgs({ options: { rounds: { type: 'string', default: '7' } } });
const rounds = Number(opts.rounds);
const root = fileURLToPath(new URL('..', import.meta.url));
const app = join(root, 'examples/hello/app.mjs');

function get(port, host) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

async function direct() {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(process.execPath, [app], { env: { ...process.env, PORT: String(port) }, stdio: 'ignore' });
  while ((await get(port, 'localhost')) !== 200) await new Promise((r) => setTimeout(r, 2));
  const ms = performance.now() - t0;
  child.kill();
  return ms;
}

const [api, router] = [await freePort(), await freePort()];
const token = 'bench-token';
const dataDir = mkdtempSync(join(tmpdir(), 'skiff-cold-'));
await start(
  process.execPath,
  [join(root, 'control-plane/bin/skiff.js'), 'up'],
  {
    SKIFF_DATA_DIR: dataDir,
    SKIFF_API_PORT: String(api),
    SKIFF_ROUTER_PORT: String(router),
    SKIFF_API_TOKEN: token,
  },
  /Skiff is up/,
);
const fetch = apiFetch(dataDir);

async function throughRouter(i) {
  const name = `cold-${i}`;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const base = `https://127.0.0.1:${api}/apis/serving.knative.dev/v1/namespaces/default/services`;
  await fetch(base, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Service',
      metadata: { name },
      spec: {
        template: {
          metadata: { annotations: { 'autoscaling.knative.dev/initial-scale': '0' } },
          spec: { containers: [{ command: [process.execPath, app] }] },
        },
      },
    }),
  });
  // Ready at zero replicas, and known to the router (it answers 404 until then).
  for (;;) {
    const svc = await (await fetch(`${base}/${name}`, { headers })).json();
    if (svc.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True') break;
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 300));
  const t0 = performance.now();
  const status = await get(router, `${name}.default.localhost`);
  const ms = performance.now() - t0;
  if (status !== 200) throw new Error(`${name}: ${status}`);
  return ms;
}

const directMs = [];
const coldMs = [];
await direct(); // warm the file cache
for (let i = 0; i < rounds; i++) {
  directMs.push(await direct());
  coldMs.push(await throughRouter(i));
  process.stdout.write(
    `round ${i + 1}/${rounds}: direct ${directMs.at(-1).toFixed(0)} ms, through Skiff ${coldMs.at(-1).toFixed(0)} ms\n`,
  );
}
const d = median(directMs);
const c = median(coldMs);
console.log(`\nmachine: ${machine()}`);
console.log('| path | median ms | min | max |');
console.log('|---|---:|---:|---:|');
console.log(
  `| app boot to first answer (direct) | ${d.toFixed(0)} | ${Math.min(...directMs).toFixed(0)} | ${Math.max(...directMs).toFixed(0)} |`,
);
console.log(
  `| first request through the router at zero replicas | ${c.toFixed(0)} | ${Math.min(...coldMs).toFixed(0)} | ${Math.max(...coldMs).toFixed(0)} |`,
);
console.log(`\noverhead (median): ${(c - d).toFixed(0)} ms (target <= 100 ms)`);
process.exit(0);
