// The autoscaler at 10 and at N revisions (issue 18), for bench/scale.mjs: one run of one mode.
//   node --import tsx bench/scale-autoscaler.ts <scrape|push> <revisions> <seconds> <steps>
//
// In this process: a store with the revisions (1–3 replicas each, ready in a memory backend), the
// autoscaler at Knative's cadence (stats each second, a decision tick every 2 s) and, for push,
// the control plane's API over HTTPS with the local CA taking the stats streams. In another: the
// stat simulator impersonating every replica's queue-proxy (pushing each second over 100
// connections, or answering scrapes on 64 ports). Prints one JSON line: this process's CPU per
// second (cores) and per tick (ms), stats heard per second, and the lag from a load step at one
// revision (simulator told, then its next second's stats) to the autoscaler's scale-up decision.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { ensureLocalPki, loopbackNames } from '@skiff/http/tls';
import { autoscalerDefaults, type Stat } from '@skiff/shared';
import { createApi } from '../control-plane/src/api/app.ts';
import { ApiMetrics } from '../control-plane/src/api/metrics.ts';
import { Autoscaler } from '../control-plane/src/autoscaler/autoscaler.ts';
import type { RevisionWorkload } from '../control-plane/src/backends/backend.ts';
import { MemoryBackend } from '../control-plane/src/backends/memory/memory-backend.ts';
import { RoutingPublisher } from '../control-plane/src/routing/publisher.ts';
import type { RevisionRow } from '../control-plane/src/store/schema.ts';
import { Store } from '../control-plane/src/store/store.ts';

const [mode, countArg, secondsArg, stepsArg] = process.argv.slice(2);
if ((mode !== 'scrape' && mode !== 'push') || !countArg || !secondsArg || !stepsArg) {
  throw new Error('usage: scale-autoscaler.ts <scrape|push> <revisions> <seconds> <steps>');
}
const count = Number(countArg);
const seconds = Number(secondsArg);
const steps = Number(stepsArg);
const routerToken = 'bench-router-token';
const simulator = fileURLToPath(new URL('../test/helpers/stat-simulator.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'skiff-bench-autoscaler-'));
const name = (i: number) => `svc-${i}-00001`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// --- the revisions, stored and running ----------------------------------------------------------
const store = new Store(join(dir, 'skiff.db'));
const backend = new MemoryBackend() as MemoryBackend & {
  scrapeTargets?(ns: string, rev: string): { pod: string; url: string }[];
};
const rows = new Map<string, RevisionRow>();
const spec = { containerConcurrency: 10, containers: [{ image: 'x' }] };
for (let i = 0; i < count; i++) {
  const meta = { labels: {}, annotations: {}, spec: { template: { spec } } };
  store.createService('default', `svc-${i}`, `uid-${i}`, meta as never, 'bench');
  const row = store.createRevision(
    {
      namespace: 'default',
      name: name(i),
      service: `svc-${i}`,
      uid: `r-${i}`,
      configGeneration: 1,
      templateHash: 'h',
      annotations: {},
      labels: {},
      spec,
    } as never,
    'bench',
  ) as RevisionRow;
  rows.set(row.name, row);
}
const workload = (r: RevisionRow) =>
  ({ ...r, configuration: r.service, revision: r.name }) as unknown as RevisionWorkload;
let decided: ((revision: string, replicas: number) => void) | undefined;
const autoscaler = new Autoscaler({
  store,
  backend,
  config: autoscalerDefaults,
  // The reconciler's part: the revision gets what the autoscaler wants, at once.
  enqueue: (_ns, service) => {
    const row = rows.get(`${service}-00001`) as RevisionRow;
    const want = autoscaler.desired(row, true, true);
    void backend.ensure(workload(row), want);
    decided?.(row.name, want);
  },
});
// Replicas as the simulator has them (1 + i mod 3, load 0.5 × replicas: about 0.07 of a target).
for (const [i, row] of [...rows.values()].entries()) {
  autoscaler.desired(row, true, true);
  await backend.ensure(workload(row), 1 + (i % 3));
}

// --- the simulator and the way stats reach the autoscaler ---------------------------------------
let server: ReturnType<typeof serve> | undefined;
const simArgs = [simulator, '--revisions', String(count), '--load', '1'];
if (mode === 'push') {
  const pki = ensureLocalPki(dir, [...loopbackNames]);
  writeFileSync(join(dir, 'ca.crt'), pki.ca);
  const app = createApi({
    store,
    publisher: new RoutingPublisher(store.nextRoutingEpoch()),
    tokens: { user: 'bench-user', router: routerToken },
    metrics: new ApiMetrics(),
    changed: () => {},
    revisionDeleted: () => {},
    activate: () => {},
    routerStats: () => {},
    replicaStat: (stat: Stat) => autoscaler.replicaStat(stat),
    ready: () => true,
  });
  server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve(
      {
        fetch: app.fetch,
        port: 0,
        hostname: '127.0.0.1',
        createServer: createHttpsServer,
        serverOptions: pki.serving,
      },
      () => resolve(s),
    );
  });
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  simArgs.push('--mode', 'push', '--url', url, '--token', routerToken, '--ca', join(dir, 'ca.crt'));
} else simArgs.push('--mode', 'scrape', '--ports', '64');

const sim = spawn(process.execPath, simArgs, { stdio: ['pipe', 'pipe', 'inherit'] });
const answers: ((a: Record<string, unknown>) => void)[] = [];
createInterface({ input: sim.stdout }).on('line', (l) => answers.shift()?.(JSON.parse(l)));
const ask = (line?: string) =>
  new Promise<Record<string, unknown>>((resolve) => {
    answers.push(resolve);
    if (line) sim.stdin.write(`${line}\n`);
  });
const hello = await ask();
if (mode === 'scrape') {
  const ports = hello.ports as number[];
  backend.scrapeTargets = (ns, rev) => {
    const i = Number(rev.split('-')[1]);
    return Array.from({ length: 1 + (i % 3) }, (_, r) => ({
      pod: `${rev}-${r}`,
      url: `http://127.0.0.1:${ports[(i + r) % ports.length]}/${ns}/${rev}/${rev}-${r}/stats`,
    }));
  };
}

// --- Knative's cadence, each tick timed ---------------------------------------------------------
const tickMs: number[] = [];
const tickCpuMs: number[] = [];
const timers = [
  setInterval(() => {
    if (mode === 'scrape') void autoscaler.scrapeAll();
  }, 1000),
  setInterval(() => {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    autoscaler.tickAll();
    const c = process.cpuUsage(c0);
    tickCpuMs.push((c.user + c.system) / 1000);
    tickMs.push(performance.now() - t0);
  }, 2000),
];

// Warm up, then measure a quiet stretch.
await sleep(5000);
const heard0 = autoscaler.statsHeard;
const ticks0 = tickMs.length;
const cpu0 = process.cpuUsage();
const wall0 = performance.now();
await sleep(seconds * 1000);
const cpu = process.cpuUsage(cpu0);
const wall = (performance.now() - wall0) / 1000;
const cores = (cpu.user + cpu.system) / 1e6 / wall;
const heardPerSecond = (autoscaler.statsHeard - heard0) / wall;
const ticks = tickMs.slice(ticks0).sort((a, b) => a - b);
const tickCpu = tickCpuMs.slice(ticks0).sort((a, b) => a - b);

// Load steps: one revision at a time from its quiet load to 60 in flight (9 replicas wanted).
const lags: number[] = [];
for (let k = 0; k < steps; k++) {
  const revision = name((k * 7919) % count);
  const t0 = performance.now();
  const up = new Promise<void>((resolve) => {
    decided = (rev, replicas) => {
      if (rev === revision && replicas > 3) resolve();
    };
  });
  await ask(`load ${revision} 60`);
  await Promise.race([up, sleep(30_000)]);
  lags.push(performance.now() - t0);
  decided = undefined;
  await ask(`load ${revision} 1`);
}

const median = (xs: number[]) => (xs.length ? (xs[Math.floor((xs.length - 1) / 2)] as number) : Number.NaN);
console.log(
  JSON.stringify({
    mode,
    revisions: count,
    replicas: hello.replicas,
    cores,
    tickCpuMsMedian: median(tickCpu),
    tickWallMsMedian: median(ticks),
    heardPerSecond,
    lagMs: lags,
    rssMiB: process.memoryUsage().rss / 2 ** 20,
  }),
);
for (const t of timers) clearInterval(t);
sim.kill('SIGTERM');
server?.close();
autoscaler.stop();
store.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
