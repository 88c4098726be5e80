import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { type AutoscalerConfig, autoscalerDefaults, type Stat } from '@skiff/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../control-plane/src/api/app.ts';
import { ApiMetrics } from '../../control-plane/src/api/metrics.ts';
import { Autoscaler } from '../../control-plane/src/autoscaler/autoscaler.ts';
import type { RevisionWorkload } from '../../control-plane/src/backends/backend.ts';
import { MemoryBackend } from '../../control-plane/src/backends/memory/memory-backend.ts';
import { RoutingPublisher } from '../../control-plane/src/routing/publisher.ts';
import type { RevisionRow } from '../../control-plane/src/store/schema.ts';
import { Store } from '../../control-plane/src/store/store.ts';
import { startApp, startQueueProxy, waitFor } from '../helpers/processes.ts';
import { type StatSimulator, startStatSimulator } from '../helpers/stat-simulator.ts';

// The autoscaler fed the same simulated replicas two ways: their stats pushed over stats streams
// to the control plane's endpoint, and scraped from each replica over HTTP. Simulated time (the
// simulator's clock and the autoscalers' are stepped together), real sockets on loopback.

const revisions = 30; // 1–3 replicas each: 60 replicas
const seconds = 40;
const config: AutoscalerConfig = { ...autoscalerDefaults, stableWindowMs: 6000, scaleToZeroGracePeriodMs: 2000 };
const routerToken = 'stats-router-token';
const name = (i: number) => `svc-${i}-00001`;
const simulatorArgs = ['--revisions', String(revisions), '--load', '8', '--wave', '--clock', 'manual'];

interface Side {
  store: Store;
  backend: MemoryBackend & { scrapeTargets?(ns: string, rev: string): { pod: string; url: string }[] };
  autoscaler: Autoscaler;
  rows: RevisionRow[];
}

let dir: string;
let now = 1_700_000_000_000;
let pushed = 0;
/** Every pushed stat, by pod. */
const byPod = new Map<string, Stat[]>();
let connections = 0;
let server: Server;
let pushSim: StatSimulator;
let scrapeSim: StatSimulator;
let push: Side;
let scrape: Side;

function side(file: string): Side {
  const store = new Store(join(dir, file));
  const backend = new MemoryBackend() as Side['backend'];
  const autoscaler = new Autoscaler({ store, backend, config, now: () => now, enqueue: () => {}, random: () => 0.5 });
  const rows: RevisionRow[] = [];
  for (let i = 0; i < revisions; i++) {
    // containerConcurrency 10: a target of 7 per replica; the wave takes a revision from 0 to 16.
    const spec = { containerConcurrency: 10, containers: [{ image: 'x' }] };
    const meta = { labels: {}, annotations: {}, spec: { template: { spec } } };
    store.createService('default', `svc-${i}`, `uid-${i}`, meta as never, 'user');
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
      'reconciler',
    ) as RevisionRow;
    rows.push(row);
  }
  return { store, backend, autoscaler, rows };
}

function workload(r: RevisionRow): RevisionWorkload {
  return { ...r, configuration: r.service, revision: r.name } as unknown as RevisionWorkload;
}

/** The reconciler's part: ask each revision's scale and give it that many ready replicas. */
async function follow(s: Side): Promise<number[]> {
  const wanted: number[] = [];
  for (const row of s.rows) {
    const want = s.autoscaler.desired(row, true, true);
    await s.backend.ensure(workload(row), want);
    wanted.push(want);
  }
  return wanted;
}

async function waitForPushed(count: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (pushed < count) {
    if (Date.now() > deadline) throw new Error(`only ${pushed} of ${count} pushed stats arrived:\n${pushSim.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'skiff-stats-push-'));
  push = side('push.db');
  scrape = side('scrape.db');
  const app = createApi({
    store: push.store,
    publisher: new RoutingPublisher(push.store.nextRoutingEpoch()),
    tokens: { user: 'user-token', router: routerToken },
    metrics: new ApiMetrics(),
    changed: () => {},
    revisionDeleted: () => {},
    activate: () => {},
    routerStats: () => {},
    replicaStat: (stat: Stat) => {
      pushed++;
      byPod.set(stat.pod, [...(byPod.get(stat.pod) ?? []), stat]);
      push.autoscaler.replicaStat(stat);
    },
    ready: () => true,
  });
  server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
  });
  server.on('connection', () => connections++);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  pushSim = await startStatSimulator([
    ...simulatorArgs,
    '--mode',
    'push',
    '--url',
    url,
    '--token',
    routerToken,
    '--connections',
    '4',
  ]);
  scrapeSim = await startStatSimulator([...simulatorArgs, '--mode', 'scrape']);
  // Every simulated replica of a revision is a scrape target (1–3 replicas: all are scraped).
  const podsOf = new Map<string, string[]>();
  for (let i = 0; i < revisions; i++) {
    podsOf.set(
      name(i),
      Array.from({ length: 1 + (i % 3) }, (_, r) => `${name(i)}-${r}`),
    );
  }
  scrape.backend.scrapeTargets = (ns, rev) =>
    (podsOf.get(rev) ?? []).map((pod) => ({
      pod,
      url: `http://127.0.0.1:${scrapeSim.ports[0]}/${ns}/${rev}/${pod}/stats`,
    }));
});

afterAll(async () => {
  await Promise.all([pushSim?.stop(), scrapeSim?.stop()]);
  server?.close();
  for (const s of [push, scrape]) {
    s?.autoscaler.stop();
    await s?.backend.close();
    s?.store.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('stats pushed or scraped', () => {
  it('give the autoscaler the same decisions for the same simulated replicas', async () => {
    const scales: { push: number[]; scrape: number[] }[] = [];
    await follow(push);
    await follow(scrape);
    for (let s = 1; s <= seconds; s++) {
      now += 1000;
      if (s === 20) {
        // A load step at one revision (panic: 40 in flight against a target of 7 per replica).
        await pushSim.send(`load ${name(5)} 40`);
        await scrapeSim.send(`load ${name(5)} 40`);
      }
      expect(await pushSim.send(`tick ${now}`)).toEqual({ ticked: now });
      await waitForPushed(pushSim.replicas * s);
      expect(await scrapeSim.send(`tick ${now}`)).toEqual({ ticked: now });
      await scrape.autoscaler.scrapeAll();
      if (s % 2 === 0) {
        push.autoscaler.tickAll();
        scrape.autoscaler.tickAll();
      }
      scales.push({ push: await follow(push), scrape: await follow(scrape) });
    }
    expect(pushed).toBe(pushSim.replicas * seconds);
    for (const row of push.rows) {
      expect(push.autoscaler.decisions('default', row.name), row.name).toEqual(
        scrape.autoscaler.decisions('default', row.name),
      );
    }
    expect(scales.map((x) => x.push)).toEqual(scales.map((x) => x.scrape));
    // The input moved the decisions: revisions went above one replica, and the stepped one panicked.
    const most = Math.max(...scales.flatMap((x) => x.push));
    expect(most).toBeGreaterThanOrEqual(3);
    expect(push.autoscaler.decisions('default', name(5)).some((d) => d.inPanic)).toBe(true);
    expect(scales.at(-1)?.push[5]).toBeGreaterThanOrEqual(6); // 40 / (10 × 0.7) → 6
  });

  it('answers a bad line with a 400 Status naming the line and field, and takes the lines before it', async () => {
    const before = pushed;
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/internal/v1/stats`;
    const good: Stat = {
      namespace: 'default',
      revision: name(1),
      pod: `${name(1)}-0`,
      averageConcurrency: 1,
      averageProxiedConcurrency: 0,
      requestsPerSecond: 10,
      proxiedRequestsPerSecond: 0,
      processUptimeSeconds: 1,
      periodMs: 1000,
      timestamp: now,
    };
    const res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${routerToken}` },
      body: `${JSON.stringify(good)}\n${JSON.stringify({ ...good, averageConcurrency: -1 })}\n`,
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      kind: 'Status',
      code: 400,
      message: expect.stringMatching(/^stats stream line 2: averageConcurrency: /),
    });
    expect(pushed).toBe(before + 1);
    const denied = await fetch(url, { method: 'POST', headers: { authorization: 'Bearer user-token' }, body: '' });
    expect(denied.status).toBe(401);
  });

  it("a queue-proxy pushes its replica's stats each second over one connection", async () => {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const app = await startApp();
    const before = connections;
    const qp = await startQueueProxy(app.port, {
      SERVING_POD: 'pushing-pod',
      SKIFF_STATS_PUSH_URL: url,
      SKIFF_STATS_PUSH_TOKEN: routerToken,
    });
    // Four requests in flight for 2.5 s: seconds with an average concurrency near 4.
    const inFlight = Array.from({ length: 4 }, () => fetch(`${qp.url}/sleep?ms=2500`).then((r) => r.text()));
    await waitFor(() => (byPod.get('pushing-pod') ?? []).some((s) => s.averageConcurrency > 3.5), 10_000);
    await Promise.all(inFlight);
    await waitFor(() => (byPod.get('pushing-pod') ?? []).length >= 4, 10_000);
    const stats = byPod.get('pushing-pod') ?? [];
    expect(stats[0]).toMatchObject({ namespace: 'default', revision: 'hello-00001', periodMs: expect.any(Number) });
    // One a second: timestamps about a second apart.
    const gaps = stats.slice(1).map((s, i) => s.timestamp - (stats[i] as Stat).timestamp);
    expect(gaps.every((g) => g > 500 && g < 2500)).toBe(true);
    expect(connections - before).toBe(1);
    qp.proc.kill('SIGKILL');
    app.proc.kill('SIGKILL');
  });
});
