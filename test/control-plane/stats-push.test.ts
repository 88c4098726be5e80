import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { getRequestListener, serve } from '@hono/node-server';
import { ensureLocalPki } from '@skiff/http/tls';
import { type AutoscalerConfig, autoscalerDefaults, type RouterStats, type Stat } from '@skiff/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../control-plane/src/api/app.ts';
import { ApiMetrics } from '../../control-plane/src/api/metrics.ts';
import { Autoscaler } from '../../control-plane/src/autoscaler/autoscaler.ts';
import type { RevisionWorkload } from '../../control-plane/src/backends/backend.ts';
import {
  makeDeployment,
  makeStatsPushSecret,
  placement,
  statsPushSecretName,
} from '../../control-plane/src/backends/kubernetes/resources.ts';
import { MemoryBackend } from '../../control-plane/src/backends/memory/memory-backend.ts';
import { RoutingPublisher } from '../../control-plane/src/routing/publisher.ts';
import type { RevisionRow } from '../../control-plane/src/store/schema.ts';
import { Store } from '../../control-plane/src/store/store.ts';
import { StatsStream } from '../../edge-router/src/snapshot/stats-stream.ts';
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
/** Router reports taken from the stats stream. */
let routerLines = 0;
let server: Server;
/** The API's request listener, to serve it on other sockets too. */
let apiListener: ReturnType<typeof getRequestListener>;
let pushSim: StatSimulator;
let scrapeSim: StatSimulator;
let push: Side;
let scrape: Side;

const url = () => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

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
    routerStats: (stats: RouterStats) => {
      routerLines++;
      push.autoscaler.routerStats(stats);
    },
    replicaStat: (stat: Stat) => {
      pushed++;
      byPod.set(stat.pod, [...(byPod.get(stat.pod) ?? []), stat]);
      push.autoscaler.replicaStat(stat);
    },
    ready: () => true,
  });
  apiListener = getRequestListener(app.fetch);
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
    // A router's reports: over its stats stream to one autoscaler, straight in to the other (as
    // the endpoint routers used to POST to did).
    const router = new StatsStream(url(), { authorization: `Bearer ${routerToken}` }, fetch);
    let routerSent = 0;
    await follow(push);
    await follow(scrape);
    for (let s = 1; s <= seconds; s++) {
      now += 1000;
      if (s === 20) {
        // A load step at one revision (panic: 40 in flight against a target of 7 per replica).
        await pushSim.send(`load ${name(5)} 40`);
        await scrapeSim.send(`load ${name(5)} 40`);
      }
      if (s >= 8 && s <= 30) {
        // Requests a router holds and forwards for two revisions: demand the replicas cannot see.
        const report: RouterStats = {
          router: 'router-a',
          timestamp: now,
          periodMs: 1000,
          revisions: [
            {
              namespace: 'default',
              revision: name(7),
              averageHeld: (s % 4) * 3,
              averageInFlight: 1,
              requestsPerSecond: s,
            },
            {
              namespace: 'default',
              revision: name(11),
              averageHeld: s > 24 ? 12 : 0,
              averageInFlight: 0,
              requestsPerSecond: 2,
            },
          ],
        };
        await router.send(report);
        routerSent++;
        scrape.autoscaler.routerStats(report);
        await waitFor(() => routerLines === routerSent, 10_000, `router report ${routerSent} through the stream`);
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
    // The router's held requests counted: 12 held at the other one lifted it to at least 2 replicas.
    expect(Math.max(...scales.slice(24, 31).map((x) => x.push[11] ?? 0))).toBeGreaterThanOrEqual(2);
    expect(routerLines).toBe(routerSent);
    router.close();
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

  it("a queue-proxy pushes over a Unix socket (the local backend: the control plane's data folder)", async () => {
    const socketPath = join(dir, 'stats.sock');
    const unixServer = createServer(apiListener);
    await new Promise<void>((resolve) => unixServer.listen(socketPath, resolve));
    const app = await startApp();
    const qp = await startQueueProxy(app.port, {
      SERVING_POD: 'unix-pod',
      SKIFF_STATS_PUSH_URL: `unix:${socketPath}`,
      SKIFF_STATS_PUSH_TOKEN: routerToken,
    });
    try {
      await waitFor(() => (byPod.get('unix-pod') ?? []).length >= 2, 15_000, 'stats pushed over the Unix socket');
      expect(byPod.get('unix-pod')?.[0]).toMatchObject({ namespace: 'default', revision: 'hello-00001' });
    } finally {
      qp.proc.kill('SIGKILL');
      app.proc.kill('SIGKILL');
      unixServer.closeAllConnections();
      unixServer.close();
    }
  });

  it('a queue-proxy pushes over HTTPS with its own CA, and resumes its TLS session when the connection drops', async () => {
    const pki = ensureLocalPki(join(dir, 'pki'), ['127.0.0.1']);
    writeFileSync(join(dir, 'pki-ca.crt'), pki.ca);
    const tlsServer = createHttpsServer({ key: pki.serving.key, cert: pki.serving.cert }, apiListener);
    const handshakes: boolean[] = [];
    tlsServer.on('secureConnection', (socket: TLSSocket) => handshakes.push(socket.isSessionReused()));
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
    const app = await startApp();
    const qp = await startQueueProxy(app.port, {
      SERVING_POD: 'tls-pod',
      SKIFF_STATS_PUSH_URL: `https://127.0.0.1:${(tlsServer.address() as AddressInfo).port}`,
      SKIFF_STATS_PUSH_TOKEN: routerToken,
      SKIFF_STATS_PUSH_CA: join(dir, 'pki-ca.crt'),
    });
    try {
      const count = () => (byPod.get('tls-pod') ?? []).length;
      await waitFor(() => count() >= 2, 15_000, 'stats pushed over HTTPS');
      expect(handshakes).toEqual([false]);
      // The control plane drops the connection: the next second connects again, resuming the session.
      tlsServer.closeAllConnections();
      const seen = count();
      await waitFor(() => count() >= seen + 2, 15_000, 'stats pushed again after the drop');
      expect(handshakes).toEqual([false, true]);
    } finally {
      qp.proc.kill('SIGKILL');
      app.proc.kill('SIGKILL');
      tlsServer.closeAllConnections();
      tlsServer.close();
    }
  });

  it('a queue-proxy configured as the Kubernetes backend writes its pod pushes its stats', async () => {
    // The sidecar's env from the Deployment the backend writes, resolved as the kubelet would:
    // values as written, the token from the push Secret; only the ports and pod name are this
    // machine's (a pod's fixed ports could be taken here; the test cluster's pods are fakes).
    const app = await startApp();
    const w = {
      namespace: 'default',
      service: 'k8s',
      configuration: 'k8s',
      revision: 'k8s-00001',
      uid: 'u',
      labels: {},
      annotations: {},
      spec: { containers: [{ image: 'x', ports: [{ containerPort: app.port }] }] },
    } as unknown as RevisionWorkload;
    const d = makeDeployment(w, 1, placement('default', 'k8s-00001'), undefined, {
      url: url(),
      secret: statsPushSecretName,
      ca: false,
    });
    const data = makeStatsPushSecret('default', routerToken).data ?? {};
    const secret = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
    const sidecar = d.spec?.template.spec?.containers.at(-1);
    const env: Record<string, string> = {};
    for (const e of sidecar?.env ?? []) {
      const key = e.valueFrom?.secretKeyRef?.key;
      if (e.value !== undefined) env[e.name] = e.value;
      else if (key !== undefined && e.valueFrom?.secretKeyRef?.name === statsPushSecretName)
        env[e.name] = secret[key] as string;
    }
    expect(env.SKIFF_STATS_PUSH_URL).toBe(url());
    expect(env.SKIFF_STATS_PUSH_TOKEN).toBe(routerToken);
    delete env.QUEUE_SERVING_PORT;
    delete env.QUEUE_ADMIN_PORT;
    delete env.QUEUE_METRICS_PORT;
    expect(env.USER_PORT).toBe(String(app.port));
    const qp = await startQueueProxy(app.port, { ...env, SERVING_POD: 'k8s-pod' });
    try {
      await waitFor(() => (byPod.get('k8s-pod') ?? []).length >= 2, 15_000, 'stats pushed by the pod-spec queue-proxy');
      expect(byPod.get('k8s-pod')?.[0]).toMatchObject({ namespace: 'default', revision: 'k8s-00001' });
    } finally {
      qp.proc.kill('SIGKILL');
      app.proc.kill('SIGKILL');
    }
  });
});
