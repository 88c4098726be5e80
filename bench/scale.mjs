#!/usr/bin/env node
// Benchmark: cost as the number of services grows (issue 18). Every figure with 10 and with N
// (default 10,000) services in the same run.
//
//   node bench/scale.mjs [--services 10000] [--rounds 3] [--writes 200] [--changes 20]
//
// API (the control plane program, memory backend, SQLite in a real file, HTTPS on loopback):
//   creates/s and updates/s with 1, 8 and 64 concurrent clients (group commit shares fsyncs among
//   concurrent writes); a paged list of all services (limit=500): per-page p99 and whole-list time.
//   Beside each create rate, the CPU per create of the control plane and of this client.
// Routing: a change to one service (a new revision) until a router's long-poll answer carries it:
//   p50/p99 and the bytes of that answer, a delta (routers today) against a full snapshot (the
//   peer: what every router was sent per change before deltas).
// Router: req/s (wrk) and RSS of the bundled Node router with 10 and with N services in its
//   snapshot, against the same app.
// Autoscaler (bench/scale-autoscaler.ts, stats from test/helpers/stat-simulator.mjs): with 10 and
//   N revisions of 1–3 replicas, stats pushed over HTTPS stats streams against the peer, scraping
//   each replica over HTTP: CPU per second (cores) and per decision tick, stats heard per second
//   (a scrape's cost per stat says what scraping all of them would take), and the lag from a load
//   step at one revision to its scale-up decision.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { freePort, machine, median, need, start, waitForPort, wrk } from './lib.mjs';

const { values: opts } = parseArgs({
  options: {
    services: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '3' },
    writes: { type: 'string', default: '200' },
    changes: { type: 'string', default: '20' },
    'skip-router': { type: 'boolean', default: false },
    // Writes a V8 CPU profile of each control plane run (`--cpu-prof`) into this directory.
    profile: { type: 'string' },
    // api, router or autoscaler: only that part (all by default).
    only: { type: 'string' },
    // NODE_OPTIONS for both routers (V8 flags to compare; default: routerNodeOptions, as deployed).
    'router-node-options': { type: 'string' },
  },
});
const large = Number(opts.services);
/** The V8 options the router is deployed with (`routerNodeOptions`, shared/src/config/router.ts). */
const routerNodeOptions =
  opts['router-node-options'] ??
  /routerNodeOptions = '([^']*)'/.exec(
    readFileSync(new URL('../shared/src/config/router.ts', import.meta.url), 'utf8'),
  )?.[1];
if (routerNodeOptions === undefined) throw new Error('routerNodeOptions not found in shared/src/config/router.ts');
const rounds = Number(opts.rounds);
const writes = Number(opts.writes);
const changes = Number(opts.changes);
const sizes = [10, large];
const root = fileURLToPath(new URL('..', import.meta.url));
const token = 'bench-token';
const routerToken = 'bench-router-token';

// Every directory this run makes (a data dir at 10,000 services is about 60 MB) goes at exit,
// whether the run ends, fails or is interrupted (lib.mjs exits on SIGINT and SIGTERM).
const made = [];
const tempDir = (prefix) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
};
process.on('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const sortNum = (xs) => [...xs].sort((a, b) => a - b);
const rssMiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
/** CPU time (user + system) a process has used, in ms (clock ticks of 10 ms). */
const cpuMs = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};

const manifest = (name, target) => ({
  apiVersion: 'serving.knative.dev/v1',
  kind: 'Service',
  metadata: { name },
  spec: { template: { spec: { containers: [{ image: 'example', env: [{ name: 'TARGET', value: target }] }] } } },
});

async function controlPlane(seed) {
  const dataDir = tempDir('skiff-bench-scale-');
  // The services to start with, stored through the API in process (faster than over HTTPS on a
  // loaded machine); the control plane reconciles them all at start.
  execFileSync(process.execPath, ['--import', 'tsx', `${root}bench/scale-seed.ts`, dataDir, String(seed)], {
    cwd: root,
    stdio: 'inherit',
  });
  const port = await freePort();
  const proc = await start(
    process.execPath,
    [
      ...(opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${opts.profile}`] : []),
      `${root}control-plane/bin/skiff-control-plane.js`,
    ],
    {
      SKIFF_DATA_DIR: dataDir,
      SKIFF_API_PORT: String(port),
      SKIFF_API_TOKEN: token,
      SKIFF_ROUTER_TOKEN: routerToken,
      SKIFF_MEMORY_READY_MS: '0',
    },
    /API on http/,
    300_000,
  );
  // As `apiFetch`, with a longer connect timeout: 64 TLS handshakes at once on a loaded machine.
  const dispatcher = new Agent({ connect: { ca: readFileSync(join(dataDir, 'ca.crt'), 'utf8'), timeout: 60_000 } });
  // undici's `request` rather than its `fetch`: the same HTTPS requests on the same kept-alive
  // connections, without a WHATWG Request, Response and body stream each. With `fetch` this client
  // spent 2.0 ms of CPU per create at 64 clients, as much as half the control plane's, on a 2-core
  // machine where both share the cores; with `request` 0.95 ms. (Every body is read to its end,
  // a 304's included, or its connection is not reused.)
  const fetch = async (url, init = {}) => {
    const r = await request(url, { method: init.method ?? 'GET', headers: init.headers, body: init.body, dispatcher });
    const ok = r.statusCode >= 200 && r.statusCode < 300;
    return {
      status: r.statusCode,
      ok,
      text: () => r.body.text(),
      json: () => r.body.json(),
      arrayBuffer: () => r.body.arrayBuffer(),
    };
  };
  const base = `https://127.0.0.1:${port}`;
  const services = `${base}/apis/serving.knative.dev/v1/namespaces/default/services`;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const routerHeaders = { authorization: `Bearer ${routerToken}` };
  return { proc, dataDir, fetch, base, services, headers, routerHeaders };
}

/** `count` requests made by `concurrency` clients; requests/s and failures. */
async function drive(count, concurrency, send) {
  let next = 0;
  let failed = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const r = await send(i);
        await r.arrayBuffer();
        if (!r.ok) failed++;
      }
    }),
  );
  return { rps: count / ((performance.now() - started) / 1000), failed };
}

/** Waits until the routing snapshot routes `count` services; returns it. */
async function routed(cp, count) {
  const deadline = Date.now() + 1_800_000;
  for (;;) {
    // While it reconciles thousands of services at start the control plane may not even accept
    // a connection in time: ask again (the time it took is reported).
    const snap = await cp
      .fetch(`${cp.base}/internal/v1/routing`, { headers: cp.routerHeaders })
      .then((r) => r.json())
      .catch(() => ({ routes: [] }));
    if (snap.routes.length >= count) return snap;
    if (Date.now() > deadline) throw new Error(`only ${snap.routes.length} of ${count} services routed`);
    await new Promise((res) => setTimeout(res, 500));
  }
}

async function apiFigures(size) {
  const cp = await controlPlane(size);
  const t0 = performance.now();
  let snap = await routed(cp, size);
  console.log(
    `${size} services: all routed ${((performance.now() - t0) / 1000).toFixed(1)} s after the control plane started`,
  );
  const out = {
    size,
    creates: {},
    updates: {},
    cpCreateMs: {},
    clientCreateMs: {},
    pageP99: [],
    listMs: [],
    change: [],
    deltaBytes: [],
    fullBytes: [],
  };
  for (let r = 0; r < rounds; r++) {
    // 64 connections open before any figure (their TLS handshakes are not what is measured).
    await drive(64, 64, () => cp.fetch(`${cp.services}?limit=1`, { headers: cp.headers }));
    for (const c of [1, 8, 64]) {
      const name = (i) => `w-${r}-${c}-${i}`;
      // CPU per write of the control plane and of this client (steadier than writes/s on a shared
      // machine, and they say which of the two a figure is bound by).
      const cpu0 = { cp: cpuMs(cp.proc.pid), client: process.cpuUsage() };
      const created = await drive(writes, c, (i) =>
        cp.fetch(cp.services, { method: 'POST', headers: cp.headers, body: JSON.stringify(manifest(name(i), 'v1')) }),
      );
      const cpu1 = { cp: cpuMs(cp.proc.pid), client: process.cpuUsage() };
      const updated = await drive(writes, c, (i) =>
        cp.fetch(`${cp.services}/${name(i)}`, {
          method: 'PUT',
          headers: cp.headers,
          body: JSON.stringify(manifest(name(i), 'v2')),
        }),
      );
      if (created.failed || updated.failed) throw new Error(`${created.failed + updated.failed} writes failed`);
      out.creates[c] ??= [];
      out.creates[c].push(created.rps);
      out.updates[c] ??= [];
      out.updates[c].push(updated.rps);
      const clientMs = (a, b) => (b.user + b.system - a.user - a.system) / 1000;
      out.cpCreateMs[c] ??= [];
      out.cpCreateMs[c].push((cpu1.cp - cpu0.cp) / writes);
      out.clientCreateMs[c] ??= [];
      out.clientCreateMs[c].push(clientMs(cpu0.client, cpu1.client) / writes);
    }
    // A paged list of everything, as kubectl get does with its default chunk size.
    const pages = [];
    const t0 = performance.now();
    let cont;
    do {
      const p0 = performance.now();
      const q = new URLSearchParams({ limit: '500', ...(cont ? { continue: cont } : {}) });
      const list = await (await cp.fetch(`${cp.services}?${q}`, { headers: cp.headers })).json();
      pages.push(performance.now() - p0);
      cont = list.metadata.continue;
    } while (cont);
    out.listMs.push(performance.now() - t0);
    out.pageP99.push(pct(sortNum(pages), 99));
  }
  // One change at a time until a router (a delta long-poll, as the Node router asks) has it.
  snap = await (await cp.fetch(`${cp.base}/internal/v1/routing`, { headers: cp.routerHeaders })).json();
  let version = snap.version;
  const epoch = snap.epoch;
  const generations = new Map();
  for (let k = 0; k < changes; k++) {
    const name = `svc-${k % size}`;
    const target = `change-${k}`;
    const generation = (generations.get(name) ?? 1) + 1;
    generations.set(name, generation);
    const expected = `${name}-${String(generation).padStart(5, '0')}`;
    const q = new URLSearchParams({ since: String(version), waitSeconds: '30', delta: 'true', epoch });
    const t0 = performance.now();
    const put = cp.fetch(`${cp.services}/${name}`, {
      method: 'PUT',
      headers: cp.headers,
      body: JSON.stringify(manifest(name, target)),
    });
    // Long-poll until an answer routes the service to a revision made after the change.
    let seen = false;
    let bytes = 0;
    while (!seen) {
      const r = await cp.fetch(`${cp.base}/internal/v1/routing?${q}`, { headers: cp.routerHeaders });
      if (r.status === 304) {
        await r.arrayBuffer();
        continue;
      }
      const text = await r.text();
      bytes += text.length;
      const answer = JSON.parse(text);
      version = answer.version;
      q.set('since', String(version));
      const routes = answer.kind === 'delta' ? answer.services.map((x) => x.route) : answer.routes;
      const route = routes.find((x) => x?.namespace === 'default' && x.name === name);
      seen = route?.traffic.some((t) => t.revisionName === expected && t.percent === 100) ?? false;
    }
    out.change.push(performance.now() - t0);
    out.deltaBytes.push(bytes);
    await (await put).arrayBuffer();
  }
  // The peer: the full snapshot a router was sent for each change before deltas.
  const full = await cp.fetch(`${cp.base}/internal/v1/routing`, { headers: cp.routerHeaders });
  out.fullBytes.push((await full.text()).length);
  out.rss = rssMiB(cp.proc.pid);
  const exited = new Promise((res) => cp.proc.once('exit', res));
  cp.proc.kill('SIGTERM');
  await exited; // (a profile is written as it exits)
  rmSync(cp.dataDir, { recursive: true, force: true });
  return out;
}

// --- the router with 10 and N services ----------------------------------------------------------

function snapshot(services, endpoint) {
  const routes = [];
  const revisions = [];
  for (let i = 0; i < services; i++) {
    const name = i === 0 ? 'hello' : `svc-${i}`;
    const rev = `${name}-00001`;
    routes.push({
      namespace: 'default',
      name,
      visibility: 'public',
      hosts: i === 0 ? [`${name}.default.example.com`, '127.0.0.1'] : [`${name}.default.example.com`],
      traffic: [{ revisionName: rev, percent: 100, tag: 'current', hosts: [`current-${name}.default.example.com`] }],
    });
    revisions.push({
      namespace: 'default',
      name: rev,
      service: name,
      containerConcurrency: 0,
      timeoutSeconds: 300,
      endpoints: [{ pod: `${rev}-pod`, url: endpoint }],
    });
  }
  return { version: 1, generatedAt: new Date().toISOString(), routes, revisions };
}

async function routerFigures() {
  need('wrk', 'apt-get install wrk (.ci/run installs it)');
  execFileSync(process.execPath, ['../scripts/bundle.mjs', 'src/entry/node.ts', 'dist/main.js'], {
    cwd: `${root}edge-router`,
    stdio: 'inherit',
  });
  const work = tempDir('skiff-bench-scale-router-');
  const appPort = await freePort();
  await start(process.execPath, [`${root}test/apps/app.mjs`], { PORT: String(appPort) }, /app listening/);
  const appUrl = `http://127.0.0.1:${appPort}`;
  // A stand-in control plane per router (its own process: wrk blocks this one) with one snapshot.
  const script = join(work, 'control-plane.mjs');
  writeFileSync(
    script,
    `import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
const body = readFileSync(process.argv[2]);
createServer((req, res) => {
  if (req.headers.authorization !== 'Bearer ${routerToken}') return res.writeHead(401).end();
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/internal/v1/routing') {
    if (url.searchParams.has('since')) return setTimeout(() => res.writeHead(304).end(), 1000 * Number(url.searchParams.get('waitSeconds')));
    return res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  }
  req.resume();
  req.on('end', () => res.writeHead(204).end());
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('control plane listening'));
`,
  );
  const routers = [];
  for (const size of sizes) {
    const file = join(work, `snapshot-${size}.json`);
    writeFileSync(file, JSON.stringify(snapshot(size, appUrl)));
    const cpPort = await freePort();
    await start(process.execPath, [script, file], { PORT: String(cpPort) }, /listening/);
    const port = await freePort();
    const proc = await start(
      process.execPath,
      [`${root}edge-router/dist/main.js`],
      {
        PORT: String(port),
        SKIFF_ROUTER_HOST: '127.0.0.1',
        SKIFF_CONTROL_PLANE_URL: `http://127.0.0.1:${cpPort}`,
        SKIFF_ROUTER_TOKEN: routerToken,
        NODE_OPTIONS: routerNodeOptions,
      },
      /routing snapshot \d+/,
      60_000,
    );
    await waitForPort(port);
    routers.push({ size, port, proc, rps: [], rss: [], cpuUs: [] });
  }
  for (const t of routers) wrk(`http://127.0.0.1:${t.port}/`, { seconds: 2, connections: 50 }); // warm up
  const ratios = [];
  const cpuRatios = [];
  for (let r = 0; r < rounds * 2; r++) {
    // Alternate which router goes first, so neither always follows the other.
    for (const t of r % 2 ? [...routers].reverse() : routers) {
      const cpu0 = cpuMs(t.proc.pid);
      const result = wrk(`http://127.0.0.1:${t.port}/`, { seconds: 5, connections: 50 });
      // CPU per request: what the router spends, which the machine's other load moves far less than req/s.
      t.cpuUs.push(((cpuMs(t.proc.pid) - cpu0) * 1000) / result.requests);
      if (result.errors || result.socketErrors) console.error(`router ${t.size}: errors ${result.errors}`);
      t.rps.push(result.rps);
      t.rss.push(rssMiB(t.proc.pid));
    }
    ratios.push(routers[1].rps.at(-1) / routers[0].rps.at(-1));
    cpuRatios.push(routers[1].cpuUs.at(-1) / routers[0].cpuUs.at(-1));
  }
  return { routers, ratios, cpuRatios };
}

// --- the autoscaler with 10 and N revisions ---------------------------------------------------

function autoscalerRun(mode, size) {
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', `${root}bench/scale-autoscaler.ts`, mode, String(size), '20', '3'],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 },
  );
  return JSON.parse(out.trim().split('\n').at(-1));
}

function autoscalerFigures() {
  const runs = new Map();
  for (let r = 0; r < rounds; r++) {
    for (const mode of ['push', 'scrape']) {
      for (const size of sizes) {
        const key = `${mode} ${size}`;
        if (!runs.has(key)) runs.set(key, []);
        runs.get(key).push(autoscalerRun(mode, size));
        console.log(`autoscaler ${key}: ${JSON.stringify(runs.get(key).at(-1))} (load ${loadavg()})`);
      }
    }
  }
  return runs;
}

// --- run ----------------------------------------------------------------------------------------

console.log(`machine: ${machine()}; load average at start ${loadavg()}`);
console.log(`sizes ${sizes.join(' and ')} services; ${rounds} rounds; ${writes} writes per figure\n`);
const part = (name) => opts.only === undefined || opts.only === name;
const api = [];
for (const size of part('api') ? sizes : []) {
  const t0 = performance.now();
  api.push(await apiFigures(size));
  console.log(`${size} services: API figures in ${((performance.now() - t0) / 1000).toFixed(0)} s (load ${loadavg()})`);
}
const f = (x) => x.toFixed(0);
if (part('api')) {
  console.log(`\n| API (median of rounds) | ${sizes.map((s) => `${s} services`).join(' | ')} |`);
  console.log(`|---|${sizes.map(() => '---:').join('|')}|`);
  for (const c of [1, 8, 64]) {
    console.log(`| creates/s, ${c} clients | ${api.map((a) => f(median(a.creates[c]))).join(' | ')} |`);
  }
  for (const c of [1, 8, 64]) {
    const ms = (k) => api.map((a) => median(a[k][c]).toFixed(2)).join(' | ');
    console.log(`| control plane CPU ms per create, ${c} clients | ${ms('cpCreateMs')} |`);
    console.log(`| this client's CPU ms per create, ${c} clients | ${ms('clientCreateMs')} |`);
  }
  for (const c of [1, 8, 64]) {
    console.log(`| updates/s, ${c} clients | ${api.map((a) => f(median(a.updates[c]))).join(' | ')} |`);
  }
  console.log(`| paged list (limit 500): page p99 ms | ${api.map((a) => median(a.pageP99).toFixed(1)).join(' | ')} |`);
  console.log(`| paged list: whole list ms | ${api.map((a) => f(median(a.listMs))).join(' | ')} |`);
  const changesSorted = api.map((a) => sortNum(a.change));
  console.log(`| change → router, p50 ms | ${changesSorted.map((s) => pct(s, 50).toFixed(1)).join(' | ')} |`);
  console.log(`| change → router, p99 ms | ${changesSorted.map((s) => pct(s, 99).toFixed(1)).join(' | ')} |`);
  console.log(`| bytes to the router per change (delta) | ${api.map((a) => f(median(a.deltaBytes))).join(' | ')} |`);
  console.log(
    `| bytes of the full snapshot (sent per change before) | ${api.map((a) => f(a.fullBytes[0])).join(' | ')} |`,
  );
  console.log(`| control plane RSS MiB at the end | ${api.map((a) => a.rss.toFixed(0)).join(' | ')} |`);
  const big = api[1];
  console.log(
    `\nbars: creates at 64 clients ${f(median(big.creates[64]))}/s with ${large} services (>= 500: ${median(big.creates[64]) >= 500 ? 'met' : 'NOT met'}); ` +
      `change → router p99 ${pct(changesSorted[1], 99).toFixed(1)} ms (<= 50: ${pct(changesSorted[1], 99) <= 50 ? 'met' : 'NOT met'})`,
  );
}

if (!opts['skip-router'] && part('router')) {
  const { routers, ratios, cpuRatios } = await routerFigures();
  console.log(
    `\n| router (Node, wrk -c50, 5 s rounds, NODE_OPTIONS=${routerNodeOptions || '(none)'}) | req/s median | CPU µs per request, median | RSS MiB (max) |`,
  );
  console.log('|---|---:|---:|---:|');
  for (const t of routers) {
    console.log(
      `| ${t.size} services | ${f(median(t.rps))} | ${median(t.cpuUs).toFixed(1)} | ${Math.max(...t.rss).toFixed(0)} |`,
    );
  }
  console.log(
    `CPU per request with ${large} services / with 10: ${median(cpuRatios).toFixed(3)} (per round ${cpuRatios.map((x) => x.toFixed(3)).join(', ')})`,
  );
  const ratio = median(ratios);
  const rss = Math.max(...routers[1].rss);
  console.log(
    `\nbars: router req/s with ${large} services / with 10: ${ratio.toFixed(3)} (median of per-round ratios ${ratios.map((x) => x.toFixed(3)).join(', ')}; >= 0.95: ${ratio >= 0.95 ? 'met' : 'NOT met'}); RSS ${rss.toFixed(0)} MiB (<= 150: ${rss <= 150 ? 'met' : 'NOT met'})`,
  );
}
if (part('autoscaler')) {
  const runs = autoscalerFigures();
  const m = (key, f) => median(runs.get(key).map(f));
  console.log(
    `\n| autoscaler, 1–3 replicas per revision (median of ${rounds} runs of 20 s) | ${sizes.map((s) => `push, ${s}`).join(' | ')} | ${sizes.map((s) => `scrape, ${s}`).join(' | ')} |`,
  );
  console.log(`|---|${[...sizes, ...sizes].map(() => '---:').join('|')}|`);
  const keys = [...sizes.map((s) => `push ${s}`), ...sizes.map((s) => `scrape ${s}`)];
  const row = (label, f, digits) =>
    console.log(`| ${label} | ${keys.map((k) => m(k, f).toFixed(digits)).join(' | ')} |`);
  row('replicas simulated', (x) => x.replicas, 0);
  row('CPU, cores (whole process)', (x) => x.cores, 3);
  row('CPU per decision tick, ms', (x) => x.tickCpuMsMedian, 1);
  row('stats heard per second', (x) => x.heardPerSecond, 0);
  row('CPU per stat heard, µs', (x) => (x.cores / x.heardPerSecond) * 1e6, 1);
  row('load step → scale-up decision, ms (median of 3 steps)', (x) => median(x.lagMs), 0);
  row('RSS MiB', (x) => x.rssMiB, 0);
  const pushBig = m(`push ${large}`, (x) => x.cores);
  const scrapeCost = m(`scrape ${large}`, (x) => x.cores / x.heardPerSecond);
  const replicas = m(`push ${large}`, (x) => x.replicas);
  console.log(
    `\nbars: autoscaler with ${large} revisions, pushed: ${pushBig.toFixed(3)} cores (<= 1: ${pushBig <= 1 ? 'met' : 'NOT met'}); ` +
      `scraping all ${replicas} replicas each second would take ${(scrapeCost * replicas).toFixed(2)} cores at the measured cost per scrape`,
  );
}
console.log(`\nload average at the end ${loadavg()}`);
process.exit(0);
