#!/usr/bin/env node
// Benchmark: the autoscaler under a scripted load shape on the local backend.
//
//   node bench/autoscale.mjs [--stable-window 20s] [--panic-window-percentage 30] [--grace 5s]
//
// Runs `skiff up` with short windows (a 20 s stable window and a 6 s panic window, Knative's
// default panic window length; its default 10% of a short window would leave a panic window of
// one or two seconds), deploys the test app with a target of 10 in flight per
// replica (70% utilization: 7), and drives closed-loop clients sending 100 ms requests through the
// router: a ramp from 1 to 30 clients, down to 10 for 25 s, a 10× spike to 100, then idle. Prints, per second,
// offered concurrency, ready and desired replicas and failed requests; then the time from the
// spike to enough capacity, the overshoot, and the failures (which must be 0).
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { apiFetch, freePort, machine, start } from './lib.mjs';

const { values: opts } = parseArgs({
  options: {
    'stable-window': { type: 'string', default: '20s' },
    'panic-window-percentage': { type: 'string', default: '30' },
    grace: { type: 'string', default: '5s' },
  },
});
const root = fileURLToPath(new URL('..', import.meta.url));
const app = join(root, 'test/apps/app.mjs');
const dataDir = mkdtempSync(join(tmpdir(), 'skiff-bench-autoscale-'));
const [api, routerPort] = [await freePort(), await freePort()];
const token = 'bench-token';
const platform = await start(
  process.execPath,
  [
    join(root, 'control-plane/bin/skiff.js'),
    'up',
    '--autoscaler-stable-window',
    opts['stable-window'],
    '--autoscaler-panic-window-percentage',
    opts['panic-window-percentage'],
    '--autoscaler-scale-to-zero-grace-period',
    opts.grace,
  ],
  {
    SKIFF_DATA_DIR: dataDir,
    SKIFF_API_PORT: String(api),
    SKIFF_ROUTER_PORT: String(routerPort),
    SKIFF_API_TOKEN: token,
  },
  /Skiff is up/,
);
const apiUrl = `https://127.0.0.1:${api}`;
const fetch = apiFetch(dataDir);
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
const perReplica = 7; // target 10 × 70%

const created = await fetch(`${apiUrl}/apis/serving.knative.dev/v1/namespaces/default/services`, {
  method: 'POST',
  headers,
  body: JSON.stringify({
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name: 'shape' },
    spec: {
      template: {
        metadata: { annotations: { 'autoscaling.knative.dev/target': '10' } },
        spec: { containers: [{ command: [process.execPath, app] }] },
      },
    },
  }),
});
if (created.status !== 201) throw new Error(`create: ${created.status} ${await created.text()}`);
for (;;) {
  const s = await (
    await fetch(`${apiUrl}/apis/serving.knative.dev/v1/namespaces/default/services/shape`, { headers })
  ).json();
  if (s.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True') break;
  await new Promise((r) => setTimeout(r, 100));
}

async function gauges() {
  const text = await (await fetch(`${apiUrl}/metrics`, { headers })).text();
  const value = (name) => Number(text.match(new RegExp(`${name}\\{[^}]*revision="shape-00001"\\} (\\S+)`))?.[1] ?? 0);
  return {
    desired: value('kn_revision_pods_desired'),
    ready: value('kn_revision_pods_count'),
    panic: value('kn_revision_panic_mode'),
  };
}

const agent = new Agent({ keepAlive: true, maxSockets: 1000 });
let ok = 0;
let failed = 0;
function hit() {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: routerPort,
        path: '/sleep?ms=100',
        headers: { host: 'shape.default.localhost' },
        agent,
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) ok++;
          else failed++;
          resolve();
        });
        res.on('error', () => {
          failed++;
          resolve();
        });
      },
    );
    req.on('error', () => {
      failed++;
      resolve();
    });
    req.end();
  });
}

// The shape: seconds → clients.
const phases = [
  { name: 'ramp', seconds: 30, clients: (s) => 1 + s },
  { name: 'low', seconds: 25, clients: () => 10 },
  { name: 'spike', seconds: 20, clients: () => 100 },
  { name: 'idle', seconds: 50, clients: () => 0 },
];
let clients = 0;
let running = 0;
const loops = [];
function setClients(n) {
  clients = n;
  while (running < clients) {
    const id = running++;
    loops.push(
      (async () => {
        while (id < clients) await hit();
        running--;
      })(),
    );
  }
}

console.log(
  `autoscale benchmark, ${machine()}, stable window ${opts['stable-window']}, panic window ${opts['panic-window-percentage']}%, grace ${opts.grace}`,
);
console.log('   t  phase   offered  ready  desired  panic  ok/s  failed');
const rows = [];
let t = 0;
for (const phase of phases) {
  for (let s = 0; s < phase.seconds; s++, t++) {
    setClients(phase.clients(s));
    const okBefore = ok;
    await new Promise((r) => setTimeout(r, 1000));
    const g = await gauges();
    const row = { t, phase: phase.name, offered: clients, ...g, okPerSecond: ok - okBefore, failed };
    rows.push(row);
    console.log(
      `${String(t).padStart(4)}  ${phase.name.padEnd(6)} ${String(clients).padStart(8)} ${String(g.ready).padStart(6)} ${String(g.desired).padStart(8)} ${String(g.panic).padStart(6)} ${String(row.okPerSecond).padStart(5)} ${String(failed).padStart(7)}`,
    );
  }
}
setClients(0);
await Promise.all(loops);

// "Enough capacity": the replicas the autoscaler settles on for the spike (its last 5 s), which
// is what the measured concurrency needs on this machine; offered / 7 assumes no client or router time.
const spike = rows.filter((r) => r.phase === 'spike');
const settled = Math.round(spike.slice(-5).reduce((n, r) => n + r.desired, 0) / 5);
const enough = spike.find((r) => r.ready >= settled);
const mostly = spike.find((r) => r.ready >= 0.9 * settled);
const peak = Math.max(...rows.filter((r) => r.t >= spike[0].t).map((r) => r.ready));
const idleStart = rows.find((r) => r.phase === 'idle').t;
const zero = rows.find((r) => r.phase === 'idle' && r.ready === 0);
console.log('');
console.log(
  `spike (10 → 100 clients): enough capacity (${settled} ready, offered/7 = ${Math.ceil(100 / perReplica)}) after ${enough ? `${enough.t - spike[0].t + 1} s` : 'never'}, panic ${spike.some((r) => r.panic) ? 'entered' : 'not entered'}`,
);
console.log(`spike to 90% of that capacity: ${mostly ? `${mostly.t - spike[0].t + 1} s` : 'never'}`);
console.log(
  `overshoot: ${peak - settled} replicas above ${settled} (${Math.round(((peak - settled) / settled) * 100)}%)`,
);
console.log(`idle to zero replicas: ${zero ? `${zero.t - idleStart + 1} s` : 'not within the idle phase'}`);
console.log(`requests: ${ok} ok, ${failed} failed`);
platform.kill('SIGTERM');
await new Promise((r) => platform.once('exit', r));
rmSync(dataDir, { recursive: true, force: true });
process.exit(failed === 0 ? 0 : 1);
