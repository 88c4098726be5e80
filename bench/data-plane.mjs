#!/usr/bin/env node
// Benchmark: the data path's HTTP/1.1 engine (`@skiff/http`) as the router and the queue-proxy run
// it, against the same hops built from an earlier commit (`--before`, default: the last commit
// before the two engines were merged into one) and against nginx, all in one run; the
// queue-proxy's memory under load; gRPC unary through both hops against nginx's grpc_pass chain
// (h2load, Debian nghttp2-client); the engine's line counts before and after.
//
//   node bench/data-plane.mjs [--rounds 3] [--seconds 4] [--connections 50] [--before <git ref>]
//                             [--only grpc|http1] [--grpc-before <git ref>]
//
// `--only grpc` runs the gRPC part alone, `--only http1` the HTTP/1.1 part and the memory alone;
// `--grpc-before <ref>` adds router → queue-proxy → app bundled from that ref to the gRPC targets,
// same run (an HTTP/2 change against the code before it).
// The gRPC targets include two bare node:http2 hops (bench/h2-bare-hop.mjs) — what node:http2 alone
// costs — and print each hop's CPU per call beside req/s.
//
// Needs wrk, nginx and openssl (Debian: apt-get install wrk nginx openssl) and git. Everything runs on loopback.
// Targets are interleaved (each round starts at another one) so machine noise hits all alike;
// figures are medians over rounds, ratios the median of per-round ratios against nginx.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { freePort, machine, median, need, start, startNginx, waitForPort, wrk } from './lib.mjs';

/** main just before issue 14 merged the router's and the queue-proxy's connection engines. */
const premerge = '1cce8a199a7b78d49af294ff2f7da21a950d72b9';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '4' },
    connections: { type: 'string', default: '50' },
    before: { type: 'string', default: premerge },
    'rss-seconds': { type: 'string', default: '6' },
    only: { type: 'string' },
    'grpc-before': { type: 'string' },
  },
});
need('wrk', 'apt-get install wrk');
need('nginx', 'apt-get install nginx');
need('openssl', 'apt-get install openssl');
const root = fileURLToPath(new URL('..', import.meta.url));
const rounds = Number(opts.rounds);
const seconds = Number(opts.seconds);
const connections = Number(opts.connections);
const token = 'bench-router-token';
const work = mkdtempSync(join(tmpdir(), 'skiff-bench-data-plane-'));
if (opts.only !== undefined && opts.only !== 'grpc' && opts.only !== 'http1') {
  throw new Error(`--only takes grpc or http1, not ${opts.only}`);
}
const http1 = opts.only !== 'grpc';
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

// --- bundles: after (this tree) and before (the ref, from git) -------------------------------------
const banner = {
  js: "import { createRequire as __skiffRequire } from 'node:module'; const require = __skiffRequire(import.meta.url);",
};
/** Resolves `@skiff/<pkg>[/<sub>]` inside `tree` (exports map, else the deep path as written). */
function workspaces(tree) {
  return {
    name: 'skiff-workspaces',
    setup(b) {
      b.onResolve({ filter: /^@skiff\// }, (args) => {
        const [, pkg, ...rest] = args.path.split('/');
        const dir = join(tree, pkg);
        const sub = rest.length > 0 ? `./${rest.join('/')}` : '.';
        const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
        const target = manifest.exports?.[sub] ?? sub;
        return { path: join(dir, target) };
      });
    },
  };
}
/** Bundles `entry` of `tree` as that tree ships it: CommonJS when its package says so (scripts/bundle.mjs). */
async function bundle(tree, entry, outfile) {
  const manifest = JSON.parse(readFileSync(join(tree, entry.split('/')[0], 'package.json'), 'utf8'));
  const cjs = manifest.bundle?.format === 'cjs';
  await build({
    entryPoints: [join(tree, entry)],
    outfile: cjs ? outfile.replace(/\.mjs$/, '.cjs') : outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: cjs ? 'cjs' : 'esm',
    ...(cjs ? {} : { banner }),
    nodePaths: [join(root, 'node_modules')],
    plugins: [workspaces(tree)],
    logLevel: 'warning',
  });
  return cjs ? outfile.replace(/\.mjs$/, '.cjs') : outfile;
}
/** The tree of `ref`, extracted from git into the work folder. */
function treeOf(label, ref) {
  const dir = join(work, label);
  mkdirSync(dir);
  execFileSync('sh', ['-c', `git -C '${root}' archive '${ref}' | tar -x -C '${dir}'`]);
  return dir;
}
const trees = [['after', root.replace(/\/$/, '')]];
if (http1) trees.push(['before', treeOf('before', opts.before)]);
if (opts['grpc-before'] !== undefined) trees.push(['grpcBefore', treeOf('grpc-before', opts['grpc-before'])]);
const builds = {};
for (const [label, tree] of trees) {
  builds[label] = { router: join(work, `router-${label}.mjs`), qp: join(work, `qp-${label}.mjs`) };
  await bundle(tree, 'edge-router/src/entry/node.ts', builds[label].router);
  builds[label].qp = await bundle(tree, 'queue-proxy/src/main.ts', builds[label].qp);
}

// --- processes --------------------------------------------------------------------------------------
const appPort = await freePort();
await start(process.execPath, [`${root}test/apps/app.mjs`], { PORT: String(appPort) }, /app listening/);
const nginxPort = await freePort();
const nginxProcesses = [await startNginx(nginxPort, appPort, 1)];
const nginx2Port = await freePort();
nginxProcesses.push(await startNginx(nginx2Port, nginxPort, 1));

/**
 * How a tree's queue-proxy is deployed: Node flags on its command line (`queueProxyNodeFlags`,
 * shared/src/config/queue-proxy.ts), or, in trees before them, `NODE_OPTIONS` (`queueProxyNodeOptions`).
 */
function deployOf(tree) {
  const file = join(tree, 'shared/src/config/queue-proxy.ts');
  if (!existsSync(file)) return undefined;
  const source = readFileSync(file, 'utf8');
  const flags = /queueProxyNodeFlags[^=]*= \[([^\]]*)\]/.exec(source)?.[1];
  if (flags !== undefined) {
    const list = [...flags.matchAll(/'([^']*)'/g)].map((m) => m[1]);
    return { flags: list, nodeOptions: '', label: list.join(' ') };
  }
  const nodeOptions = /queueProxyNodeOptions = '([^']*)'/.exec(source)?.[1];
  return nodeOptions === undefined ? undefined : { flags: [], nodeOptions, label: `NODE_OPTIONS=${nodeOptions}` };
}
const deployed = deployOf(root);
if (deployed === undefined) throw new Error('queueProxyNodeFlags not found in shared/src/config/queue-proxy.ts');
const deployedNodeOptions = deployed.label;
/** The before tree's, when it had them: its queue-proxy as it was deployed, beside this tree's. */
const beforeDeployed = http1 ? deployOf(join(work, 'before')) : undefined;
const beforeNodeOptions = beforeDeployed?.label;
/**
 * The environment a deployed queue-proxy has: the local backend gives it PATH and its own settings
 * only (the image: node's defaults). Nothing else inherited from the bench's shell: this machine's
 * NODE_EXTRA_CA_CERTS alone made Node parse a CA bundle at start, 1.8 MiB of RSS no replica has.
 */
const onlyPath = Object.fromEntries(
  Object.keys(process.env).map((k) => [k, k === 'PATH' ? process.env.PATH : undefined]),
);

async function queueProxy(bundleFile, deploy = { flags: [], nodeOptions: '' }, env = {}) {
  const port = await freePort();
  const child = await start(
    process.execPath,
    [...deploy.flags, bundleFile],
    {
      ...onlyPath,
      NODE_OPTIONS: deploy.nodeOptions,
      USER_PORT: String(appPort),
      QUEUE_SERVING_PORT: String(port),
      QUEUE_ADMIN_PORT: String(await freePort()),
      QUEUE_METRICS_PORT: String(await freePort()),
      SERVING_NAMESPACE: 'default',
      SERVING_REVISION: 'hello-00001',
      CONTAINER_CONCURRENCY: '0',
      ...env,
    },
    /serving \S*:\d+/,
  );
  await waitForPort(port);
  return { port, pid: child.pid };
}

function snapshot(endpoint) {
  return {
    version: 1,
    generatedAt: new Date().toISOString(),
    routes: [
      {
        namespace: 'default',
        name: 'hello',
        visibility: 'public',
        // wrk sends `Host: 127.0.0.1:<port>`; the service answers there.
        hosts: ['hello.default.example.com', '127.0.0.1'],
        traffic: [{ revisionName: 'hello-00001', percent: 100 }],
      },
    ],
    revisions: [
      {
        namespace: 'default',
        name: 'hello-00001',
        service: 'hello',
        containerConcurrency: 0,
        timeoutSeconds: 300,
        endpoints: [{ pod: 'hello-00001-pod', url: endpoint }],
      },
    ],
  };
}

/** A stand-in control plane in its own process, serving one fixed snapshot. */
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

async function router(bundleFile, endpointPort) {
  const port = await freePort();
  await start(
    process.execPath,
    [bundleFile],
    {
      PORT: String(port),
      SKIFF_ROUTER_HOST: '127.0.0.1',
      SKIFF_CONTROL_PLANE_URL: await controlPlane(snapshot(`http://127.0.0.1:${endpointPort}`)),
      SKIFF_ROUTER_TOKEN: token,
    },
    /routing snapshot \d+/,
  );
  await waitForPort(port);
  return port;
}

let summary = [];
let rss;
if (http1) {
  const qpBefore = await queueProxy(builds.before.qp);
  const qpAfter = await queueProxy(builds.after.qp);
  const qpDeployed = await queueProxy(builds.after.qp, deployed);
  const qpBeforeDeployed =
    beforeDeployed === undefined ? undefined : await queueProxy(builds.before.qp, beforeDeployed);
  const targets = [
    { name: 'app direct', port: appPort },
    { name: 'nginx → app', port: nginxPort, nginx: true },
    { name: 'nginx → nginx → app', port: nginx2Port, nginx2: true },
    { name: 'queue-proxy → app, before', port: qpBefore.port },
    { name: 'queue-proxy → app, after', port: qpAfter.port },
    ...(qpBeforeDeployed === undefined
      ? []
      : [{ name: `queue-proxy → app, before, as deployed (${beforeNodeOptions})`, port: qpBeforeDeployed.port }]),
    { name: `queue-proxy → app, after, as deployed (${deployedNodeOptions})`, port: qpDeployed.port },
    { name: 'router → app, before', port: await router(builds.before.router, appPort) },
    { name: 'router → app, after', port: await router(builds.after.router, appPort) },
    {
      name: 'router → queue-proxy → app, before',
      port: await router(builds.before.router, qpBefore.port),
      chain: true,
    },
    { name: 'router → queue-proxy → app, after', port: await router(builds.after.router, qpAfter.port), chain: true },
  ];

  console.log(`machine: ${machine()}; load average at start ${loadavg()}`);
  console.log(`before: ${opts.before}`);
  console.log(`load: wrk -t1 -c${connections} -d${seconds}s, ${rounds} rounds, GET / (13-byte body)\n`);
  const url = (t) => `http://127.0.0.1:${t.port}/`;
  for (const t of targets) wrk(url(t), { seconds: 1, connections }); // warm up
  const runs = new Map(targets.map((t) => [t.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const t of targets.map((_, i) => targets[(i + r) % targets.length])) {
      const result = wrk(url(t), { seconds, connections });
      if (result.errors > 0 || result.socketErrors) {
        console.error(`${t.name}: ${result.errors} non-2xx, socket errors: ${result.socketErrors ?? 'none'}`);
      }
      runs.get(t.name).push(result);
    }
    process.stdout.write(`round ${r + 1}/${rounds} done (load average ${loadavg()})\n`);
  }
  const nginxRuns = runs.get('nginx → app');
  const nginx2Runs = runs.get('nginx → nginx → app');
  summary = targets.map((t) => {
    const list = runs.get(t.name);
    const versus = t.chain ? nginx2Runs : nginxRuns;
    return {
      ...t,
      rps: median(list.map((x) => x.rps)),
      p50: median(list.map((x) => x.p50)),
      p99: median(list.map((x) => x.p99)),
      ratio: median(list.map((x, i) => x.rps / versus[i].rps)),
    };
  });
  console.log('\n| target | req/s (median) | p50 ms | p99 ms | req/s vs nginx (chains: vs nginx → nginx) |');
  console.log('|---|---:|---:|---:|---:|');
  for (const s of summary) {
    console.log(
      `| ${s.name} | ${s.rps.toFixed(0)} | ${s.p50.toFixed(2)} | ${s.p99.toFixed(2)} | ${s.ratio.toFixed(2)}× |`,
    );
  }

  // --- queue-proxy memory under wrk -c32 -----------------------------------------------------------
  /** RSS of a node process that only waits, for scale. */
  function bareNodeRss() {
    const out = execFileSync(
      process.execPath,
      [
        '-e',
        "setTimeout(() => console.log(/VmRSS:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]), 500)",
      ],
      { encoding: 'utf8', env: { PATH: process.env.PATH } },
    );
    return Number(out.trim()) / 1024;
  }
  /** Peak RSS of `pid` while wrk -c32 runs against it (sampled by a child so wrk does not block it). */
  function peakRss(qp) {
    const sampler = join(work, 'rss.mjs');
    writeFileSync(
      sampler,
      `import { readFileSync } from 'node:fs';
let peak = 0;
const t = setInterval(() => {
  const status = readFileSync('/proc/${qp.pid}/status', 'utf8');
  const kib = (name) => Number(new RegExp(name + ':\\\\s+(\\\\d+) kB').exec(status)?.[1] ?? 0);
  if (kib('VmRSS') / 1024 > peak) {
    peak = kib('VmRSS') / 1024;
    // Anonymous (heap, malloc, stacks) and file-backed (pages of the node binary it ran) at the peak.
    split = [kib('RssAnon') / 1024, kib('RssFile') / 1024];
  }
}, 100);
let split = [0, 0];
setTimeout(() => { clearInterval(t); console.log(peak.toFixed(1), split[0].toFixed(1), split[1].toFixed(1)); }, ${Number(opts['rss-seconds']) * 1000 + 500});
`,
    );
    const out = execFileSync(
      'sh',
      [
        '-c',
        `node '${sampler}' & wrk -t1 -c32 -d${opts['rss-seconds']}s http://127.0.0.1:${qp.port}/ >/dev/null; wait`,
      ],
      { encoding: 'utf8' },
    );
    const [peak, anon, file] = out.trim().split(' ').map(Number);
    return { peak, anon, file };
  }
  /**
   * A stand-in for the control plane's stats stream, in its own process (wrk blocks this one): a
   * deployed queue-proxy pushes its stats there each second. `https`: over HTTPS with its own CA,
   * as in the Kubernetes deployment (the queue-proxy keeps a TLS connection); `unix`: over a Unix
   * socket in a 0700 folder, as `skiff up` (the local backend) has it push since issue 14 (h14m).
   */
  async function statsSink(kind = 'https') {
    if (kind === 'unix') {
      const dir = mkdtempSync(join(work, 'sink-'));
      const socket = join(dir, 'stats.sock');
      const unixScript = join(work, 'sink-unix.mjs');
      writeFileSync(
        unixScript,
        `import { createServer } from 'node:http';
createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(204).end());
}).listen(process.argv[2], () => console.log('stats sink listening'));
`,
      );
      await start(process.execPath, [unixScript, socket], {}, /listening/);
      return { SKIFF_STATS_PUSH_URL: `unix:${socket}`, SKIFF_STATS_PUSH_TOKEN: token };
    }
    const [key, cert, script] = ['sink-key.pem', 'sink-cert.pem', 'sink.mjs'].map((f) => join(work, f));
    execFileSync(
      'openssl',
      [
        ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
        ...[
          '-keyout',
          key,
          '-out',
          cert,
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
        ],
      ],
      { stdio: 'ignore' },
    );
    writeFileSync(
      script,
      `import { createServer } from 'node:https';
import { readFileSync } from 'node:fs';
createServer({ key: readFileSync('${key}'), cert: readFileSync('${cert}') }, (req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(204).end());
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('stats sink listening'));
`,
    );
    const port = await freePort();
    await start(process.execPath, [script], { PORT: String(port) }, /listening/);
    return {
      SKIFF_STATS_PUSH_URL: `https://127.0.0.1:${port}`,
      SKIFF_STATS_PUSH_TOKEN: token,
      SKIFF_STATS_PUSH_CA: cert,
    };
  }
  // Fresh processes, so that the load above does not count.
  rss = {
    before: peakRss(await queueProxy(builds.before.qp)),
    after: peakRss(await queueProxy(builds.after.qp)),
    deployed: peakRss(await queueProxy(builds.after.qp, deployed)),
    beforeDeployed:
      beforeDeployed === undefined ? undefined : peakRss(await queueProxy(builds.before.qp, beforeDeployed)),
    pushing: peakRss(await queueProxy(builds.after.qp, deployed, await statsSink())),
    pushingLocal: peakRss(await queueProxy(builds.after.qp, deployed, await statsSink('unix'))),
    beforePushing:
      beforeDeployed === undefined
        ? undefined
        : peakRss(await queueProxy(builds.before.qp, beforeDeployed, await statsSink())),
  };
  const showRss = (r) => `${r.peak.toFixed(1)} MiB (${r.anon.toFixed(1)} + ${r.file.toFixed(1)})`;
  console.log(
    `\nqueue-proxy peak RSS under wrk -t1 -c32 -d${opts['rss-seconds']}s (fresh processes; anonymous + file-backed): before ${showRss(rss.before)}, after ${showRss(rss.after)}, after as deployed (${deployedNodeOptions}) ${showRss(rss.deployed)}${rss.beforeDeployed === undefined ? '' : `, before as deployed (${beforeNodeOptions}) ${showRss(rss.beforeDeployed)}`} (a bare node process: ${bareNodeRss().toFixed(1)} MiB); after as deployed, pushing its stats over HTTPS (Kubernetes): ${showRss(rss.pushing)}${rss.beforePushing === undefined ? '' : ` (before: ${showRss(rss.beforePushing)})`}, over a Unix socket (skiff up): ${showRss(rss.pushingLocal)}`,
  );
}

// --- gRPC unary through both hops (h2load) ----------------------------------------------------------
/** nginx proxying gRPC (h2c in, h2c out) to `upstreamPort`, one worker. */
async function startGrpcNginx(listenPort, upstreamPort) {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-bench-nginx-grpc-'));
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  # nginx ends an HTTP/2 connection (GOAWAY) and an upstream keep-alive connection after 1000
  # requests by default; h2load counts the calls cut off then as failed and reconnects slowly,
  # which held nginx to a fraction of its speed here. A peer at its best: no such limit.
  keepalive_requests 1000000;
  upstream app { server 127.0.0.1:${upstreamPort}; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${listenPort} http2;
    location / { grpc_pass grpc://app; }
  }
}
`,
  );
  return start('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], {}, null);
}

/**
 * h2load: one gRPC unary call (JSON message, as test/apps/grpc.mjs speaks) again and again; `h1`:
 * as HTTP/1.1 requests (h2load --h1, 32 connections, no pipelining), which the router sends on
 * to an h2c revision as streams (the HTTP/1.1 → h2c translation).
 */
function h2load(port, authority, h1 = false) {
  const message = Buffer.from(JSON.stringify({ name: 'bench' }));
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  const body = join(work, 'grpc-body.bin');
  writeFileSync(body, frame);
  const out = execFileSync(
    'h2load',
    [
      ...(h1 ? ['--h1', '-c', '32', '-m', '1'] : ['-c', '8', '-m', '16']),
      '-D',
      String(seconds),
      '--warm-up-time=1',
      '-d',
      body,
      '-H',
      'content-type: application/grpc',
      '-H',
      'te: trailers',
      '-H',
      `:authority: ${authority}`,
      `http://127.0.0.1:${port}/skiff.Test/Unary`,
    ],
    { encoding: 'utf8' },
  );
  const rps = Number(/finished in [\d.]+s, ([\d.]+) req\/s/.exec(out)?.[1] ?? 0);
  const failed = Number(/requests: .* (\d+) failed/.exec(out)?.[1] ?? -1);
  const mean = /time for request:\s+\S+\s+\S+\s+(\S+)/.exec(out)?.[1] ?? '?';
  const ok = Number(/status codes: (\d+) 2xx/.exec(out)?.[1] ?? 0);
  return { rps, failed, mean, ok };
}

let grpcSummary;
if (opts.only !== 'http1')
  try {
    execFileSync('sh', ['-c', 'command -v h2load'], { stdio: 'ignore' });
    grpcSummary = [];
  } catch {
    console.log('\nh2load not installed (apt-get install nghttp2-client): no gRPC figures');
  }
if (grpcSummary) {
  const grpcAppPort = await freePort();
  await start(process.execPath, [`${root}test/apps/grpc.mjs`], { PORT: String(grpcAppPort) }, /grpc app listening/);
  const g1 = await freePort();
  const g2 = await freePort();
  const nginxG1 = await startGrpcNginx(g1, grpcAppPort);
  const nginxG2 = await startGrpcNginx(g2, g1);
  nginxProcesses.push(nginxG1, nginxG2);
  /** nginx's one worker under `master` (the process that does the proxying). */
  const workerOf = async (master) => {
    for (let i = 0; i < 50; i++) {
      try {
        return Number(
          execFileSync('pgrep', ['-P', String(master.pid)], { encoding: 'utf8' })
            .trim()
            .split('\n')[0],
        );
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error('no nginx worker');
  };
  /** Router → queue-proxy → app (an h2c revision), both hops from `build`. */
  async function grpcChainOf(build) {
    const qpPort = await freePort();
    const qp = await start(
      process.execPath,
      [build.qp],
      {
        USER_PORT: String(grpcAppPort),
        QUEUE_SERVING_PORT: String(qpPort),
        QUEUE_ADMIN_PORT: String(await freePort()),
        QUEUE_METRICS_PORT: String(await freePort()),
        SERVING_NAMESPACE: 'default',
        SERVING_REVISION: 'hello-00001',
        CONTAINER_CONCURRENCY: '0',
      },
      /serving \S*:\d+/,
    );
    const routerPort = await freePort();
    const snap = snapshot(`http://127.0.0.1:${qpPort}`);
    snap.revisions[0].protocol = 'h2c';
    const router = await start(
      process.execPath,
      [build.router],
      {
        PORT: String(routerPort),
        SKIFF_ROUTER_HOST: '127.0.0.1',
        SKIFF_CONTROL_PLANE_URL: await controlPlane(snap),
        SKIFF_ROUTER_TOKEN: token,
      },
      /routing snapshot \d+/,
    );
    return { port: routerPort, hops: [router.pid, qp.pid] };
  }
  const chainAfter = await grpcChainOf(builds.after);
  /** Two bare node:http2 hops (bench/h2-bare-hop.mjs) in front of the app: what node:http2 alone costs. */
  const bare1 = await freePort();
  const bare2 = await freePort();
  const bareHop = (port, upstream) =>
    start(
      process.execPath,
      [`${root}bench/h2-bare-hop.mjs`],
      { PORT: String(port), UPSTREAM_PORT: String(upstream) },
      /bare hop listening/,
    );
  const bareSecond = await bareHop(bare1, grpcAppPort);
  const bareFirst = await bareHop(bare2, bare1);
  const grpcBefore = builds.grpcBefore === undefined ? undefined : await grpcChainOf(builds.grpcBefore);
  await new Promise((r) => setTimeout(r, 500));
  const grpcTargets = [
    { name: 'app direct', port: grpcAppPort },
    { name: 'nginx grpc_pass → app', port: g1 },
    {
      name: 'nginx → nginx → app (grpc_pass)',
      port: g2,
      chain: true,
      hops: [await workerOf(nginxG2), await workerOf(nginxG1)],
    },
    { name: 'router → queue-proxy → app', ...chainAfter },
    { name: 'bare node:http2 hop → bare hop → app', port: bare2, hops: [bareFirst.pid, bareSecond.pid] },
  ];
  if (grpcBefore !== undefined)
    grpcTargets.push({ name: `router → queue-proxy → app, ${opts['grpc-before']}`, ...grpcBefore });
  // The same calls as HTTP/1.1 requests: the router translates them to h2c (not against nginx).
  grpcTargets.push({ name: 'HTTP/1.1 client → router → queue-proxy → app (h2c)', ...chainAfter, h1: true });
  if (grpcBefore !== undefined)
    grpcTargets.push({
      name: `HTTP/1.1 client → router → queue-proxy → app (h2c), ${opts['grpc-before']}`,
      ...grpcBefore,
      h1: true,
    });
  /** CPU time (user + system, ms) `pid` has used so far. */
  const cpuMs = (pid) => {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  };
  const grpcRuns = new Map(grpcTargets.map((t) => [t.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const t of grpcTargets.map((_, i) => grpcTargets[(i + r) % grpcTargets.length])) {
      const cpuBefore = (t.hops ?? []).map(cpuMs);
      const result = h2load(t.port, 'hello.default.example.com', t.h1 === true);
      // CPU per call of each hop, over the warm-up second and the measured ones: less at the
      // mercy of other load on the machine than req/s (a starved hop answers fewer calls, each
      // costing about the same).
      const calls = result.rps * (seconds + 1);
      result.hopUs = (t.hops ?? []).map((pid, i) => ((cpuMs(pid) - cpuBefore[i]) * 1000) / calls);
      if (result.failed !== 0) console.error(`${t.name}: ${result.failed} failed gRPC requests`);
      grpcRuns.get(t.name).push(result);
    }
  }
  const chainRuns = grpcRuns.get('nginx → nginx → app (grpc_pass)');
  if (!http1) console.log(`machine: ${machine()}`);
  console.log(`\ngRPC unary (h2load -c8 -m16 -D${seconds}, ${rounds} rounds; JSON message):`);
  console.log(
    '| target | req/s (median) | mean latency (last round) | vs nginx → nginx (median of per-round ratios) | CPU µs per call: first hop, second hop (median) |',
  );
  console.log('|---|---:|---:|---:|---:|');
  for (const t of grpcTargets) {
    const list = grpcRuns.get(t.name);
    const ratio = median(list.map((x, i) => x.rps / chainRuns[i].rps));
    grpcSummary.push({ name: t.name, ratio });
    const cpu = (t.hops ?? []).map((_, h) => median(list.map((x) => x.hopUs[h])).toFixed(0)).join(', ');
    console.log(
      `| ${t.name} | ${median(list.map((x) => x.rps)).toFixed(0)} | ${list.at(-1).mean} | ${ratio.toFixed(2)}× | ${cpu} |`,
    );
  }
}

// --- lines --------------------------------------------------------------------------------------------
function lines(ref, paths) {
  let total = 0;
  for (const p of paths) {
    try {
      const text = ref
        ? execFileSync('git', ['-C', root, 'show', `${ref}:${p}`], { encoding: 'utf8' })
        : readFileSync(join(root, p), 'utf8');
      total += text.split('\n').length - 1;
    } catch {}
  }
  return total;
}
const engineBefore = ['edge-router/src/node/connection.ts', 'queue-proxy/src/proxy/connection.ts'];
const engineAfter = ['http/src/proxy/engine.ts'];
const h2After = [
  'http/src/h2/forward.ts',
  'http/src/h2/conn.ts',
  'http/src/h2/hpack.ts',
  'http/src/h2/accept.ts',
  'http/src/h2/upgrade.ts',
  'http/src/h2/translate.ts',
  'http/src/h2/retry.ts',
];
console.log(
  `HTTP/1.1 connection engines: before ${lines(opts.before, engineBefore)} lines (${engineBefore.map((p) => `${p} ${lines(opts.before, [p])}`).join(', ')}), after ${lines(undefined, engineAfter)} (${engineAfter.join(', ')}); HTTP/2 (new): ${h2After.map((p) => `${p} ${lines(undefined, [p])}`).join(', ')}`,
);

if (http1) {
  const get = (name) => summary.find((s) => s.name === name);
  const bars = [
    ['router → app, after ≥ 0.71× nginx and ≥ before', get('router → app, after'), 0.71, get('router → app, before')],
    [
      'queue-proxy → app, after ≥ 0.66× nginx and ≥ before',
      get('queue-proxy → app, after'),
      0.66,
      get('queue-proxy → app, before'),
    ],
    [
      'router → queue-proxy → app, after ≥ 0.5× nginx → nginx',
      get('router → queue-proxy → app, after'),
      0.5,
      undefined,
    ],
  ];
  for (const [label, s, bar, before] of bars) {
    const met = s.ratio >= bar && (before === undefined || s.ratio >= before.ratio);
    console.log(
      `bar: ${label}: ${met ? 'met' : 'NOT met'} (${s.ratio.toFixed(2)}×${before ? `, before ${before.ratio.toFixed(2)}×` : ''})`,
    );
  }
  console.log(
    `bar: queue-proxy RSS under wrk -c32 ≤ 50 MiB (as deployed): ${rss.deployed.peak <= 50 ? 'met' : 'NOT met'} (${rss.deployed.peak.toFixed(1)} MiB)`,
  );
  console.log(
    `bar: queue-proxy RSS under wrk -c32 ≤ 50 MiB (as deployed by skiff up, pushing its stats over a Unix socket): ${rss.pushingLocal.peak <= 50 ? 'met' : 'NOT met'} (${rss.pushingLocal.peak.toFixed(1)} MiB)`,
  );
  console.log(
    `bar: queue-proxy RSS under wrk -c32 ≤ 50 MiB (as deployed on Kubernetes, pushing its stats over HTTPS): ${rss.pushing.peak <= 50 ? 'met' : 'NOT met'} (${rss.pushing.peak.toFixed(1)} MiB)`,
  );
}
const grpcChain = grpcSummary?.find((g) => g.name === 'router → queue-proxy → app');
if (grpcChain !== undefined) {
  console.log(
    `bar: gRPC router → queue-proxy → app ≥ 0.5× nginx → nginx (grpc_pass): ${grpcChain.ratio >= 0.5 ? 'met' : 'NOT met'} (${grpcChain.ratio.toFixed(2)}×)`,
  );
}
console.log(`load average at the end: ${loadavg()}`);
for (const p of nginxProcesses) {
  await new Promise((resolve) => {
    p.once('exit', resolve);
    p.kill('SIGQUIT');
  });
}
process.exit(0);
