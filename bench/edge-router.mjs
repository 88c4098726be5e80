#!/usr/bin/env node
// Benchmark: the edge router (Node) against nginx as a keep-alive reverse proxy, in front of the
// same app; plus the routing-table lookup cost with 10 and with 10,000 services.
//
//   node bench/edge-router.mjs [--rounds 5] [--seconds 5] [--connections 50]
//
// Needs wrk and nginx (Debian: apt-get install wrk nginx). Everything runs on loopback. Targets:
//   (a) nginx → app, (b) router → app, (c) router → queue-proxy → app, and (d) router → app with
//   10,000 services in its snapshot. Prints requests/s and p50/p99 (median over rounds, targets
//   interleaved so machine noise hits all of them alike) and the ratios against nginx.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { freePort, machine, median, need, start, startNginx, waitForPort, wrk } from './lib.mjs';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    'lookup-only': { type: 'boolean', default: false },
  },
});
need('wrk', 'apt-get install wrk');
need('nginx', 'apt-get install nginx');
const root = fileURLToPath(new URL('..', import.meta.url));
const rounds = Number(opts.rounds);
const seconds = Number(opts.seconds);
const connections = Number(opts.connections);
const host = 'hello.default.example.com';
const token = 'bench-router-token';

// The router and the queue-proxy as they ship: one bundled file each.
for (const pkg of ['edge-router', 'queue-proxy']) {
  const entry = pkg === 'edge-router' ? 'src/entry/node.ts' : 'src/main.ts';
  execFileSync(process.execPath, ['../scripts/bundle.mjs', entry, 'dist/main.js'], {
    cwd: `${root}${pkg}`,
    stdio: 'inherit',
  });
}

// --- routing-table lookup cost: 10 vs 10,000 services -------------------------------------------
const work = mkdtempSync(join(tmpdir(), 'skiff-bench-router-'));
await build({
  entryPoints: [`${root}edge-router/src/routing/table.ts`],
  outfile: join(work, 'table.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  logLevel: 'warning',
});
const { buildRoutingTable, resolveRevision } = await import(pathToFileURL(join(work, 'table.mjs')).href);

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
      // wrk sends `Host: 127.0.0.1:<port>`; the benchmarked service answers there too.
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

/**
 * Nanoseconds per lookup of the same ten hosts (present in both tables; half with a port, half in
 * mixed case, as Host headers come). Both tables are built first and measured in alternation, so
 * that garbage collection of the build and machine noise fall on both alike.
 */
function lookupCosts() {
  const tables = [10, 10_000].map((n) =>
    buildRoutingTable(snapshot(n, 'http://127.0.0.1:1'), { serveClusterLocal: false }),
  );
  const hosts = Array.from({ length: 10 }, (_, i) =>
    i === 0 ? host : i % 2 ? `svc-${i}.default.example.com:8080` : `Svc-${i}.Default.example.com`,
  );
  const random = () => 0.5;
  const n = 1_000_000;
  const samples = [[], []];
  for (let round = 0; round < 16; round++) {
    for (const [k, table] of tables.entries()) {
      const t0 = process.hrtime.bigint();
      let found = 0;
      for (let i = 0; i < n; i++) if (resolveRevision(table, hosts[i % 10], undefined, random).ok) found++;
      const ns = Number(process.hrtime.bigint() - t0) / n;
      if (found !== n) throw new Error('lookup missed');
      if (round >= 4) samples[k].push(ns); // the first rounds warm the JIT
    }
  }
  return samples.map(median);
}
const [lookup10, lookup10k] = lookupCosts();

if (opts['lookup-only']) {
  console.log(`routing lookup: ${lookup10.toFixed(1)} ns with 10 services, ${lookup10k.toFixed(1)} ns with 10,000`);
  process.exit(0);
}

// --- end to end through wrk -----------------------------------------------------------------------
const appPort = await freePort();
await start(process.execPath, [`${root}test/apps/app.mjs`], { PORT: String(appPort) }, /app listening/);
const appUrl = `http://127.0.0.1:${appPort}`;

const nginxPort = await freePort();
const nginxProcess = await startNginx(nginxPort, appPort, 1);

const qpPort = await freePort();
await start(
  process.execPath,
  [`${root}queue-proxy/dist/main.js`],
  {
    USER_PORT: String(appPort),
    QUEUE_SERVING_PORT: String(qpPort),
    QUEUE_ADMIN_PORT: String(await freePort()),
    QUEUE_METRICS_PORT: String(await freePort()),
    SERVING_NAMESPACE: 'default',
    SERVING_REVISION: 'hello-00001',
    CONTAINER_CONCURRENCY: '0',
  },
  /serving :\d+/,
);

/** A stand-in control plane in its own process (wrk blocks this one), serving one fixed snapshot. */
async function controlPlane(snap) {
  const file = join(work, `snapshot-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(snap));
  const script = join(work, 'control-plane.mjs');
  writeFileSync(
    script,
    `import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
const body = readFileSync(process.argv[2]);
createServer((req, res) => {
  if (req.headers.authorization !== 'Bearer ${token}') return res.writeHead(401).end();
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/internal/v1/routing') {
    // One fixed snapshot: a long-poll for anything newer just waits its time out.
    if (url.searchParams.has('since')) return setTimeout(() => res.writeHead(304).end(), 1000 * Number(url.searchParams.get('waitSeconds')));
    return res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  }
  req.resume();
  req.on('end', () => res.writeHead(204).end());
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('control plane listening'));
`,
  );
  const port = await freePort();
  await start(process.execPath, [script, file], { PORT: String(port) }, /listening/);
  return `http://127.0.0.1:${port}`;
}

async function router(snap) {
  const port = await freePort();
  await start(
    process.execPath,
    [`${root}edge-router/dist/main.js`],
    {
      PORT: String(port),
      SKIFF_ROUTER_HOST: '127.0.0.1',
      SKIFF_CONTROL_PLANE_URL: await controlPlane(snap),
      SKIFF_ROUTER_TOKEN: token,
    },
    /routing snapshot \d+/,
  );
  return port;
}

const targets = [
  { name: 'app direct', port: appPort },
  { name: 'nginx (1 worker) → app', port: nginxPort, nginx: true },
  { name: 'router (node) → app', port: await router(snapshot(10, appUrl)), main: true },
  { name: 'router (node) → queue-proxy → app', port: await router(snapshot(10, `http://127.0.0.1:${qpPort}`)) },
  { name: 'router (node) → app, 10,000 services', port: await router(snapshot(10_000, appUrl)), large: true },
];
for (const t of targets) await waitForPort(t.port);

console.log(`machine: ${machine()}`);
console.log(
  `load: wrk -t1 -c${connections} -d${seconds}s, ${rounds} rounds, GET / (13-byte body; the router serves the service at host 127.0.0.1)\n`,
);
const url = (t) => `http://127.0.0.1:${t.port}/`;
for (const t of targets) wrk(url(t), { seconds: 1, connections }); // warm up
const runs = new Map(targets.map((t) => [t.name, []]));
for (let r = 0; r < rounds; r++) {
  for (const t of targets) {
    const result = wrk(url(t), { seconds, connections });
    if (result.errors > 0 || result.socketErrors) {
      console.error(`${t.name}: ${result.errors} non-2xx, socket errors: ${result.socketErrors ?? 'none'}`);
    }
    runs.get(t.name).push(result);
  }
  process.stdout.write(`round ${r + 1}/${rounds} done\n`);
}

const summary = targets.map((t) => {
  const list = runs.get(t.name);
  return {
    ...t,
    rps: median(list.map((x) => x.rps)),
    p50: median(list.map((x) => x.p50)),
    p99: median(list.map((x) => x.p99)),
    ratios: list.map((x, i) => x.rps / runs.get(targets[1].name)[i].rps),
  };
});
console.log('\n| target | req/s (median) | p50 ms | p99 ms | req/s vs nginx (median of per-round ratios) |');
console.log('|---|---:|---:|---:|---:|');
for (const s of summary) {
  console.log(
    `| ${s.name} | ${s.rps.toFixed(0)} | ${s.p50.toFixed(2)} | ${s.p99.toFixed(2)} | ${median(s.ratios).toFixed(2)}× |`,
  );
}
const main = summary.find((s) => s.main);
const manyServices = summary.find((s) => s.large);
const ratio = median(main.ratios);
console.log(
  `\nrouting lookup (resolve host → revision): ${lookup10.toFixed(1)} ns with 10 services, ${lookup10k.toFixed(1)} ns with 10,000 (${((lookup10k / lookup10 - 1) * 100).toFixed(1)}%)`,
);
console.log(
  `end to end with 10,000 services: ${((manyServices.rps / main.rps - 1) * 100).toFixed(1)}% req/s vs 10 services`,
);
const lookupOk = lookup10k <= lookup10 * 1.1;
console.log(`router → queue-proxy → app vs nginx → app: ${median(summary[3].ratios).toFixed(2)}×`);
console.log(`requirement (router on Node >= 0.5x nginx): ${ratio >= 0.5 ? 'met' : 'NOT met'} (${ratio.toFixed(2)}x)`);
console.log(`requirement (lookup with 10,000 services within 10% of 10): ${lookupOk ? 'met' : 'NOT met'}`);
// A graceful stop: nginx's workers outlive a SIGKILL of their master.
await new Promise((resolve) => {
  nginxProcess.once('exit', resolve);
  nginxProcess.kill('SIGQUIT');
});
process.exit(0);
