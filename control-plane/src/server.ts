import { join } from 'node:path';
import { serve } from '@hono/node-server';
import type { ActivateRequest, AutoscalerConfig, RouterStats } from '@skiff/shared';
import { createApi } from './api/app.ts';
import { loadToken } from './api/auth.ts';
import { ApiMetrics } from './api/metrics.ts';
import { Autoscaler } from './autoscaler/autoscaler.ts';
import type { WorkloadBackend } from './backends/backend.ts';
import { Reconciler, type ScaleSource } from './reconciler/reconciler.ts';
import { RoutingPublisher } from './routing/publisher.ts';
import { Store } from './store/store.ts';

export interface ControlPlaneOptions {
  /** Where the SQLite file and the token files live. */
  dataDir: string;
  backend: WorkloadBackend;
  apiHost?: string;
  /** 0 picks a free port. */
  apiPort?: number;
  /** Domain of service URLs (`<svc>.<ns>.<domain>`). */
  domain?: string;
  /** Port the router serves on, added to service URLs when it is not 80. */
  routerPort?: number;
  userToken?: string;
  routerToken?: string;
  resyncMs?: number;
  /** Replaces the autoscaler (e.g. `StaticScale` for fixed replicas). */
  scale?: ScaleSource;
  /** Autoscaler settings (defaults and what annotations may ask for). */
  autoscaler?: AutoscalerConfig;
  log?: (message: string) => void;
}

export interface ControlPlane {
  url: string;
  port: number;
  store: Store;
  reconciler: Reconciler;
  /** Undefined when `scale` replaced it. */
  autoscaler: Autoscaler | undefined;
  publisher: RoutingPublisher;
  tokens: { user: string; router: string };
  /** Router stats received, newest per router (the autoscaler reads them). */
  routerStats: Map<string, RouterStats>;
  activations: ActivateRequest[];
  close(): Promise<void>;
}

/** Opens the store, starts the reconciler and serves the API. */
export async function startControlPlane(o: ControlPlaneOptions): Promise<ControlPlane> {
  const log = o.log ?? ((m: string) => console.log(`control-plane: ${m}`));
  const store = new Store(join(o.dataDir, 'skiff.db'));
  const tokens = {
    user: loadToken(o.userToken ?? process.env.SKIFF_API_TOKEN, join(o.dataDir, 'token')),
    router: loadToken(o.routerToken ?? process.env.SKIFF_ROUTER_TOKEN, join(o.dataDir, 'router-token')),
  };
  const publisher = new RoutingPublisher(store.nextRoutingEpoch());
  const metrics = new ApiMetrics();
  const urls = { domain: o.domain ?? 'localhost', port: o.routerPort ?? 8080 };
  const autoscaler = o.scale
    ? undefined
    : new Autoscaler({
        store,
        backend: o.backend,
        ...(o.autoscaler ? { config: o.autoscaler } : {}),
        enqueue: (ns, name) => reconciler.enqueue(ns, name),
        log,
      });
  const reconciler = new Reconciler({
    store,
    backend: o.backend,
    publisher,
    urls,
    scale: o.scale ?? (autoscaler as Autoscaler),
    ...(o.autoscaler ? { autoscaler: o.autoscaler } : {}),
    resyncMs: o.resyncMs ?? 30_000,
    onError: (key, e) => log(`reconcile ${key} failed: ${e instanceof Error ? e.message : String(e)}`),
    onReconciled: (ms, ok) => metrics.reconciled(ms, ok),
  });
  const routerStats = new Map<string, RouterStats>();
  const activations: ActivateRequest[] = [];
  let started = false;
  const app = createApi({
    store,
    publisher,
    tokens,
    metrics,
    changed: (ns, name) => reconciler.enqueue(ns, name),
    revisionDeleted: (ns, name) => reconciler.queue.add(`gc/${ns}/${name}`),
    activate: (req) => {
      activations.push(req);
      if (activations.length > 1000) activations.shift();
      reconciler.activate(req.namespace, req.revision, req.held);
    },
    routerStats: (s) => {
      routerStats.set(s.router, s);
      autoscaler?.routerStats(s);
    },
    ...(autoscaler
      ? {
          scaling: (ns: string, name: string) => autoscaler.decisions(ns, name),
          extraMetrics: () => autoscaler.metrics(),
        }
      : {}),
    ready: () => started,
    ...(o.autoscaler ? { autoscaler: o.autoscaler } : {}),
    ...(o.backend.validate ? { validateTemplate: o.backend.validate.bind(o.backend) } : {}),
    ...(o.backend.logs ? { logs: o.backend.logs.bind(o.backend) } : {}),
  });
  const host = o.apiHost ?? '127.0.0.1';
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: o.apiPort ?? 8090, hostname: host }, () => resolve(s));
    s.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : (o.apiPort ?? 8090);
  reconciler.start();
  autoscaler?.start();
  started = true;
  log(`API on http://${host}:${port}, backend ${o.backend.name}, data in ${o.dataDir}`);
  return {
    url: `http://${host}:${port}`,
    port,
    store,
    reconciler,
    autoscaler,
    publisher,
    tokens,
    routerStats,
    activations,
    async close() {
      autoscaler?.stop();
      reconciler.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await o.backend.close();
      store.close();
    },
  };
}
