#!/usr/bin/env node
// Benchmark: the edge router (Node) against nginx as a keep-alive reverse proxy, in front of the
// same app; plus the routing-table lookup cost with 10 and with 10,000 services.
//
//   node bench/edge-router.mjs [--rounds 5] [--seconds 5] [--connections 50] [--lookup-only] [--no-callgrind]
//
// Needs wrk and nginx (Debian: apt-get install wrk nginx), and valgrind for instruction counts.
// Everything runs on loopback. Targets: (a) nginx → app, (b) router → app, (c) router →
// queue-proxy → app, and (d) router → app with 10,000 services in its snapshot. Prints requests/s
// and p50/p99 (median over rounds, targets interleaved so machine noise hits all of them alike)
// and the ratios against nginx. The lookup (host → revision) is measured on its own: time per
// lookup in paired rounds, and instructions per lookup under callgrind (repeatable on a busy machine).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { freePort, machine, median, need, start, startNginx, waitForPort, wrk } from './lib.mjs';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    'lookup-only': { type: 'boolean', default: false },
    'no-callgrind': { type: 'boolean', default: false },
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

// The lookup runs in a child process of its own (this one holds wrk's results and, later, the
// servers): both snapshots parsed from JSON as the router gets them, the same ten hosts looked up
// in each (present in both tables; half with a port, half in mixed case, as Host headers come).
writeFileSync(join(work, 'snapshot-10.json'), JSON.stringify(snapshot(10, 'http://127.0.0.1:1')));
writeFileSync(join(work, 'snapshot-10000.json'), JSON.stringify(snapshot(10_000, 'http://127.0.0.1:1')));
writeFileSync(
  join(work, 'lookup.mjs'),
  `import { readFileSync } from 'node:fs';
import { buildRoutingTable, resolveRevision } from './table.mjs';
const [mode, ...args] = process.argv.slice(2);
const table = (n) => buildRoutingTable(JSON.parse(readFileSync(new URL(\`snapshot-\${n}.json\`, import.meta.url), 'utf8')), { serveClusterLocal: false });
const hosts = ${JSON.stringify(Array.from({ length: 10 }, (_, i) => (i === 0 ? host : i % 2 ? `svc-${i}.default.example.com:8080` : `Svc-${i}.Default.example.com`)))};
const random = () => 0.5;
function run(t, n) {
  let found = 0;
  for (let i = 0; i < n; i++) if (resolveRevision(t, hosts[i % 10], undefined, random).ok) found++;
  if (found !== n) throw new Error('lookup missed');
}
if (mode === 'time') {
  // Paired rounds: each measures both tables back to back (order alternating), after a full GC
  // so that the garbage of building 10,000 services is not collected inside a measured block.
  const [rounds, perBlock] = args.map(Number);
  const tables = [table(10), table(10000)];
  for (let r = 0; r < 30; r++) for (const t of tables) run(t, 10000);
  const ns = [[], []];
  for (let r = 0; r < rounds; r++) {
    for (const k of r % 2 ? [1, 0] : [0, 1]) {
      gc();
      const t0 = process.hrtime.bigint();
      run(tables[k], perBlock);
      ns[k].push(Number(process.hrtime.bigint() - t0) / perBlock);
    }
  }
  console.log(JSON.stringify(ns));
} else {
  // Instruction count under callgrind: one table, warmed up and collected, then n lookups.
  const [services, n] = args.map(Number);
  const t = table(services);
  for (let r = 0; r < 30; r++) run(t, 10000);
  gc();
  run(t, n);
}
`,
);

/** `q`-quantile of `values` (nearest rank). */
function quantile(values, q) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
}

/**
 * Nanoseconds per lookup with 10 and with 10,000 services, from 201 paired rounds of 50,000
 * lookups each: the figure is the median of the per-round ratios (noise of the shared machine
 * falls on both halves of a round alike), with its interquartile range.
 */
function lookupTimes() {
  const out = execFileSync(process.execPath, ['--expose-gc', join(work, 'lookup.mjs'), 'time', '201', '50000'], {
    encoding: 'utf8',
  });
  const [ns10, ns10k] = JSON.parse(out);
  const ratios = ns10k.map((v, i) => v / ns10[i]);
  return {
    ns10: median(ns10),
    ns10k: median(ns10k),
    ratio: median(ratios),
    q1: quantile(ratios, 0.25),
    q3: quantile(ratios, 0.75),
  };
}

/**
 * Instructions per lookup under valgrind's callgrind, which counts the same on a busy machine as on
 * an idle one (V8 in `--predictable` mode: no concurrent compiler or GC threads): the difference
 * between 500,000 lookups and none, each after the same build, warm-up and full GC.
 */
function lookupInstructions() {
  if (opts['no-callgrind']) return undefined;
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
  } catch {
    console.log('valgrind not found (apt-get install valgrind): no instruction counts');
    return undefined;
  }
  const count = (services, n) => {
    const result = spawnSync(
      'valgrind',
      [
        '--tool=callgrind',
        '--callgrind-out-file=/dev/null',
        '--smc-check=all-non-file',
        process.execPath,
        '--predictable',
        '--expose-gc',
        join(work, 'lookup.mjs'),
        'count',
        String(services),
        String(n),
      ],
      { encoding: 'utf8' },
    );
    const collected = /Collected : (\d+)/.exec(result.stderr)?.[1];
    if (result.status !== 0 || collected === undefined) throw new Error(`callgrind failed:\n${result.stderr}`);
    return Number(collected);
  };
  const n = 500_000;
  const per = (services) => (count(services, n) - count(services, 0)) / n;
  return { i10: per(10), i10k: per(10_000) };
}

const lookup = lookupTimes();
const instructions = lookupInstructions();
const pct = (ratio) => `${ratio >= 1 ? '+' : '−'}${Math.abs((ratio - 1) * 100).toFixed(1)}%`;
function lookupReport() {
  const lines = [
    `routing lookup time: ${lookup.ns10.toFixed(1)} ns with 10 services, ${lookup.ns10k.toFixed(1)} ns with 10,000; ` +
      `paired ratio ${pct(lookup.ratio)} (interquartile ${pct(lookup.q1)} … ${pct(lookup.q3)})`,
  ];
  if (instructions !== undefined) {
    lines.push(
      `routing lookup instructions (callgrind): ${instructions.i10.toFixed(0)} with 10 services, ${instructions.i10k.toFixed(0)} with 10,000 (${pct(instructions.i10k / instructions.i10)})`,
    );
  }
  return lines.join('\n');
}
const lookupOk = lookup.ratio <= 1.1 && (instructions === undefined || instructions.i10k <= instructions.i10 * 1.1);

if (opts['lookup-only']) {
  console.log(lookupReport());
  console.log(`requirement (lookup with 10,000 services within 10% of 10): ${lookupOk ? 'met' : 'NOT met'}`);
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
  /serving \S*:\d+/,
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
  // Each round starts at another target, so none always runs right after the same one.
  for (const t of targets.map((_, i) => targets[(i + r) % targets.length])) {
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
console.log(`\n${lookupReport()}`);
console.log(
  `end to end with 10,000 services: ${((manyServices.rps / main.rps - 1) * 100).toFixed(1)}% req/s vs 10 services`,
);
console.log(`router → queue-proxy → app vs nginx → app: ${median(summary[3].ratios).toFixed(2)}×`);
console.log(`requirement (router on Node >= 0.5x nginx): ${ratio >= 0.5 ? 'met' : 'NOT met'} (${ratio.toFixed(2)}x)`);
console.log(`requirement (lookup with 10,000 services within 10% of 10): ${lookupOk ? 'met' : 'NOT met'}`);
// A graceful stop: nginx's workers outlive a SIGKILL of their master.
await new Promise((resolve) => {
  nginxProcess.once('exit', resolve);
  nginxProcess.kill('SIGQUIT');
});
process.exit(0);
