#!/usr/bin/env node
// Benchmark: the queue-proxy against nginx as a keep-alive reverse proxy, in front of the same app.
//
//   node bench/queue-proxy.mjs [--rounds 5] [--seconds 5] [--connections 50] [--runtime node|bun|deno]
//
// Needs wrk and nginx (Debian: apt-get install wrk nginx). Everything runs on loopback. Prints
// requests/s and p50/p99 latency for each target (median over rounds, targets interleaved so
// machine noise hits all of them alike) and the ratios queue-proxy / nginx.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, machine, median, need, start, startNginx, waitForPort, wrk } from './lib.mjs';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    runtime: { type: 'string', default: 'node' },
    'nginx-workers': { type: 'string', default: '1' },
  },
});
need('wrk', 'apt-get install wrk');
need('nginx', 'apt-get install nginx');
const root = fileURLToPath(new URL('..', import.meta.url));
const rounds = Number(opts.rounds);
const seconds = Number(opts.seconds);
const connections = Number(opts.connections);

// The queue-proxy as it ships: one bundled file.
execFileSync(process.execPath, ['../scripts/bundle.mjs', 'src/main.ts', 'dist/main.js'], {
  cwd: `${root}queue-proxy`,
  stdio: 'inherit',
});

const appPort = await freePort();
await start(process.execPath, [`${root}test/apps/app.mjs`], { PORT: String(appPort) }, /app listening/);

const nginxPort = await freePort();
await startNginx(nginxPort, appPort, Number(opts['nginx-workers']));

const runtimeCommand = {
  node: [process.execPath, []],
  bun: ['bun', ['run']],
  deno: ['deno', ['run', '-A']],
}[opts.runtime];
if (!runtimeCommand) throw new Error(`unknown runtime ${opts.runtime}`);
if (opts.runtime !== 'node') need(runtimeCommand[0], `npm install -g ${opts.runtime}`);

async function queueProxy(cc) {
  const [port, admin, metrics] = [await freePort(), await freePort(), await freePort()];
  await start(
    runtimeCommand[0],
    [...runtimeCommand[1], `${root}queue-proxy/dist/main.js`],
    {
      USER_PORT: String(appPort),
      QUEUE_SERVING_PORT: String(port),
      QUEUE_ADMIN_PORT: String(admin),
      QUEUE_METRICS_PORT: String(metrics),
      SERVING_NAMESPACE: 'bench',
      SERVING_REVISION: `bench-cc${cc}`,
      CONTAINER_CONCURRENCY: String(cc),
    },
    /serving \S*:\d+/,
  );
  await waitForPort(port);
  return port;
}

const targets = [
  { name: 'app direct', port: appPort },
  { name: `nginx (${opts['nginx-workers']} worker)`, port: nginxPort, nginx: true },
  { name: `queue-proxy CC=0 (${opts.runtime})`, port: await queueProxy(0), qp: 0 },
  { name: `queue-proxy CC=100 (${opts.runtime})`, port: await queueProxy(100), qp: 100 },
];

console.log(`machine: ${machine()}`);
console.log(`load: wrk -t1 -c${connections} -d${seconds}s, ${rounds} rounds, GET / (13-byte body)\n`);
for (const t of targets) wrk(`http://127.0.0.1:${t.port}/`, { seconds: 1, connections }); // warm up
const runs = new Map(targets.map((t) => [t.name, []]));
for (let r = 0; r < rounds; r++) {
  for (const t of targets) {
    const result = wrk(`http://127.0.0.1:${t.port}/`, { seconds, connections });
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
  };
});
const nginx = summary.find((s) => s.nginx);
console.log('\n| target | req/s (median) | p50 ms | p99 ms | req/s vs nginx | p99 vs nginx |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const s of summary) {
  console.log(
    `| ${s.name} | ${s.rps.toFixed(0)} | ${s.p50.toFixed(2)} | ${s.p99.toFixed(2)} | ${(s.rps / nginx.rps).toFixed(2)}× | ${(s.p99 / nginx.p99).toFixed(2)}× |`,
  );
}
const cc0 = summary.find((s) => s.qp === 0);
const ok = cc0.rps >= 0.5 * nginx.rps && cc0.p99 <= 3 * nginx.p99;
console.log(
  `\nrequirement (CC=0: req/s >= 0.5x nginx, p99 <= 3x nginx): ${ok ? 'met' : 'NOT met'} ` +
    `(${(cc0.rps / nginx.rps).toFixed(2)}x, p99 ${(cc0.p99 / nginx.p99).toFixed(2)}x)`,
);
process.exit(0);
