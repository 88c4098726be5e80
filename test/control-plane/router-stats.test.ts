import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { activatePath, autoscalerDefaults, type RouterStats, statsPushPath } from '@skiff/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../control-plane/src/api/app.ts';
import { ApiMetrics } from '../../control-plane/src/api/metrics.ts';
import { Autoscaler } from '../../control-plane/src/autoscaler/autoscaler.ts';
import { MemoryBackend } from '../../control-plane/src/backends/memory/memory-backend.ts';
import { RoutingPublisher } from '../../control-plane/src/routing/publisher.ts';
import type { RevisionRow } from '../../control-plane/src/store/schema.ts';
import { Store } from '../../control-plane/src/store/store.ts';
import { type RouterProc, startRouter, stopRouters } from '../helpers/edge-router.ts';
import { waitFor } from '../helpers/processes.ts';

// A real router (Node) in front of a revision at zero, the control plane's real API and autoscaler
// behind it. The API's activation endpoint does nothing here, so the revision can only wake from
// the held requests the router reports on its stats stream.

const routerToken = 'router-stats-token';
let dir: string;
let store: Store;
let backend: MemoryBackend;
let autoscaler: Autoscaler;
let server: Server;
let router: RouterProc;
let row: RevisionRow;
const lines: RouterStats[] = [];
let pokes = 0;
/** Paths of the POSTs the API took. */
const posts: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'skiff-router-stats-'));
  store = new Store(join(dir, 'skiff.db'));
  backend = new MemoryBackend();
  autoscaler = new Autoscaler({
    store,
    backend,
    config: { ...autoscalerDefaults, allowZeroInitialScale: true },
    enqueue: () => {},
  });
  const spec = { containerConcurrency: 1, containers: [{ image: 'x' }] };
  store.createService(
    'default',
    'wake',
    'uid-wake',
    { labels: {}, annotations: {}, spec: { template: { spec } } } as never,
    'user',
  );
  row = store.createRevision(
    {
      namespace: 'default',
      name: 'wake-00001',
      service: 'wake',
      uid: 'r-wake',
      configGeneration: 1,
      templateHash: 'h',
      annotations: { 'autoscaling.knative.dev/initial-scale': '0' },
      labels: {},
      spec,
    } as never,
    'reconciler',
  ) as RevisionRow;
  const publisher = new RoutingPublisher(store.nextRoutingEpoch());
  publisher.setService({
    namespace: 'default',
    name: 'wake',
    route: {
      namespace: 'default',
      name: 'wake',
      visibility: 'public',
      hosts: ['wake.default.localhost'],
      traffic: [{ revisionName: 'wake-00001', percent: 100 }],
    },
    revisions: [
      {
        namespace: 'default',
        name: 'wake-00001',
        service: 'wake',
        containerConcurrency: 1,
        timeoutSeconds: 30,
        endpoints: [],
      },
    ],
  });
  const app = createApi({
    store,
    publisher,
    tokens: { user: 'user-token', router: routerToken },
    metrics: new ApiMetrics(),
    changed: () => {},
    revisionDeleted: () => {},
    activate: () => {
      pokes++;
    },
    routerStats: (stats) => {
      lines.push(stats);
      autoscaler.routerStats(stats);
    },
    ready: () => true,
  });
  server = await new Promise<Server>((resolve) => {
    const fetch = (req: Request) => {
      if (req.method === 'POST') posts.push(new URL(req.url).pathname);
      return app.fetch(req);
    };
    const s = serve({ fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
  });
  router = await startRouter('node', {
    SKIFF_CONTROL_PLANE_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    SKIFF_ROUTER_TOKEN: routerToken,
    SKIFF_ROUTER_NAME: 'stats-stream-router',
    SKIFF_SNAPSHOT_WAIT_SECONDS: '5',
  });
}, 90_000);

afterAll(async () => {
  await stopRouters();
  server?.closeAllConnections();
  server?.close();
  autoscaler?.stop();
  await backend?.close();
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('router stats over the stats stream', () => {
  it("a router's held requests wake a revision from zero through its stats stream", async () => {
    expect(autoscaler.desired(row, true, true)).toBe(0);
    // The router learns the route, then holds a request for the revision with no endpoint.
    await waitFor(() => router.output().includes('routing snapshot'), 15_000, 'the router’s first snapshot');
    const held = new Promise<number>((resolve) => {
      const req = request(
        { host: '127.0.0.1', port: router.port, path: '/', headers: { host: 'wake.default.localhost' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', () => resolve(-1));
      req.end();
    });
    await waitFor(() => autoscaler.desired(row, true, true) >= 1, 10_000, 'the revision to be scaled from zero');
    const heldLines = lines.filter((l) => l.revisions.some((r) => r.revision === 'wake-00001' && r.averageHeld > 0));
    expect(heldLines.length).toBeGreaterThan(0);
    expect(heldLines[0]?.router).toBe('stats-stream-router');
    // The router poked as well; this API ignored it, so the stream alone woke the revision.
    expect(pokes).toBeGreaterThan(0);
    // Every report on one stream (opened once, kept for a minute), none posted one by one.
    const seen = lines.length;
    await waitFor(() => lines.length >= seen + 2, 10_000, 'two more seconds of stats');
    expect(posts.filter((path) => path === statsPushPath)).toHaveLength(1);
    expect(posts.filter((path) => path !== statsPushPath && path !== activatePath)).toEqual([]);
    await stopRouters();
    await held;
  }, 60_000);
});
