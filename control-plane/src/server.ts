import { chmodSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { getRequestListener, serve } from '@hono/node-server';
import { ensureLocalPki, kubeconfigYaml, loopbackNames, writeAtomically } from '@skiff/http/tls';
import {
  type ActivateRequest,
  type AutoscalerConfig,
  type HttpProtocol,
  type RouterStats,
  type Stat,
  statsPushPath,
} from '@skiff/shared';
import { AcmeCertificates } from './acme/certificates.ts';
import { AcmeClient } from './acme/client.ts';
import { waitUntilRouterServes } from './acme/router-check.ts';
import { loadStoreKey, seal, unseal } from './acme/seal.ts';
import { createApi } from './api/app.ts';
import { loadToken } from './api/auth.ts';
import { ApiMetrics } from './api/metrics.ts';
import { Autoscaler } from './autoscaler/autoscaler.ts';
import type { WorkloadBackend } from './backends/backend.ts';
import type { TlsSecretSource } from './certificates/secrets.ts';
import { createConsole } from './console/app.ts';
import { ColdStartLog } from './console/cold-starts.ts';
import { LiveSeries } from './console/live.ts';
import { Reconciler, type ScaleSource } from './reconciler/reconciler.ts';
import { Rollouts } from './rollout/rollouts.ts';
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
  /** The router serves HTTPS with certificates from this local CA (`skiff up --tls`). */
  routerTls?: { caFile: string };
  /**
   * TLS Secrets (on the Kubernetes backend): DomainMappings' `spec.tls.secretName` and the default
   * wildcard Secret give the router its certificates; a Secret's change reaches it at once.
   */
  secrets?: TlsSecretSource;
  /** Knative's platform-wide `http-protocol` (default `enabled`); a Service's annotation overrides it. */
  httpProtocol?: HttpProtocol;
  /**
   * Certificates for DomainMappings ordered from an ACME server (RFC 8555), their HTTP-01
   * challenges answered by the router; account and certificate keys sealed in the store.
   */
  acme?: AcmeOptions;
  /** Port the router serves on, added to service URLs when it is not 80. */
  routerPort?: number;
  userToken?: string;
  routerToken?: string;
  /** Every service reconciled again (default 10 h, `defaultResyncMs`). */
  resyncMs?: number;
  /** Orphaned workloads, unpublished services and DomainMappings (default 30 s, `defaultSweepMs`). */
  sweepMs?: number;
  /** Replaces the autoscaler (e.g. `StaticScale` for fixed replicas). */
  scale?: ScaleSource;
  /** Autoscaler settings (defaults and what annotations may ask for). */
  autoscaler?: AutoscalerConfig;
  /** Knative's platform-wide `rollout-duration`, in seconds, for Services without the annotation (0: at once). */
  rolloutDurationSeconds?: number;
  log?: (message: string) => void;
  /**
   * How the API serves: `local-ca` (the default) HTTPS with the data dir's own CA and a
   * `<data-dir>/kubeconfig`; certificate files (in a cluster, from a Secret); or `plain-http`, only
   * when asked for explicitly.
   */
  tls?: 'local-ca' | { certFile: string; keyFile: string } | 'plain-http';
  /** More names for the local serving certificate (host names clients use for the API). */
  apiNames?: string[];
  /** How often watches that allow bookmarks get one (default: a minute, as kube-apiserver). */
  watchBookmarkMs?: number;
}

export interface AcmeOptions {
  directoryUrl: string;
  /** PEM file of a CA to trust for the directory's HTTPS (a test server's, such as pebble's). */
  caFile?: string;
  email?: string;
  /** The key that seals ACME keys in the store: default `<data-dir>/acme-store.key` (made 0600); on Kubernetes a Secret's file. */
  storeKeyFile?: string;
  /** The router's plain HTTP address, to check it answers a challenge before the server looks. */
  routerUrl?: string;
  renewBeforeMs?: number;
  /** How long a certificate nothing wants is kept before it is deleted (`acmeDefaults.forgetUnwantedMs`). */
  forgetAfterMs?: number;
  /** Also order certificates for services' own public hosts (`<name>.<namespace>.<domain>`, tags). */
  serviceHosts?: boolean;
}

export interface ControlPlane {
  url: string;
  port: number;
  /** The CA clients trust for `url` (PEM), when it is the local CA. */
  ca: string | undefined;
  /** The kubeconfig written for this API, when it has a local CA. */
  kubeconfig: string | undefined;
  store: Store;
  reconciler: Reconciler;
  rollouts: Rollouts;
  /** Undefined when `scale` replaced it. */
  autoscaler: Autoscaler | undefined;
  publisher: RoutingPublisher;
  tokens: { user: string; router: string };
  /** Router stats received, newest per router (the autoscaler reads them). */
  routerStats: Map<string, RouterStats>;
  activations: ActivateRequest[];
  /** The console's last hour of per-second figures per revision. */
  live: LiveSeries;
  /** Cold starts reported by routers: the last 50 per revision and a histogram per phase. */
  coldStarts: ColdStartLog;
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
  const rollouts = new Rollouts({
    store,
    defaultDurationSeconds: o.rolloutDurationSeconds ?? 0,
    enqueue: (ns, name) => reconciler.enqueue(ns, name),
  });
  const acme = o.acme ? startAcme(o.acme, o.dataDir, store, () => reconciler.domainMappingsChanged(), log) : undefined;
  const reconciler = new Reconciler({
    store,
    ...(acme ? { acme, acmeServiceHosts: o.acme?.serviceHosts === true } : {}),
    rollouts,
    backend: o.backend,
    publisher,
    urls,
    scale: o.scale ?? (autoscaler as Autoscaler),
    ...(o.autoscaler ? { autoscaler: o.autoscaler } : {}),
    ...(o.resyncMs !== undefined ? { resyncMs: o.resyncMs } : {}),
    ...(o.sweepMs !== undefined ? { sweepMs: o.sweepMs } : {}),
    ...(o.routerTls ? { tls: o.routerTls } : {}),
    ...(o.httpProtocol ? { httpProtocol: o.httpProtocol } : {}),
    ...(o.secrets ? { secrets: o.secrets } : {}),
    onError: (key, e) => log(`reconcile ${key} failed: ${e instanceof Error ? e.message : String(e)}`),
    onReconciled: (ms, ok) => metrics.reconciled(ms, ok),
  });
  o.secrets?.onChange(() => reconciler.domainMappingsChanged());
  const routerStats = new Map<string, RouterStats>();
  const coldStarts = new ColdStartLog();
  const activations: ActivateRequest[] = [];
  let started = false;
  const app = createApi({
    store,
    publisher,
    tokens,
    metrics,
    changed: (ns, name) => reconciler.enqueue(ns, name),
    routeChanged: (ns, name) => reconciler.enqueueRoute(ns, name),
    revisionDeleted: (ns, name) => reconciler.queue.add(`gc/${ns}/${name}`),
    domainMappingsChanged: () => reconciler.domainMappingsChanged(),
    activate: (req) => {
      activations.push(req);
      if (activations.length > 1000) activations.shift();
      reconciler.activate(req.namespace, req.revision, req.held);
    },
    routerStats: (s) => {
      routerStats.set(s.router, s);
      for (const c of s.coldStarts ?? []) if (store.hasRevision(c.namespace, c.revision)) coldStarts.record(c);
      autoscaler?.routerStats(s);
      rollouts.routerStats(s);
    },
    ...(autoscaler ? { replicaStat: (s: Stat) => autoscaler.replicaStat(s) } : {}),
    ...(autoscaler ? { scaling: (ns: string, name: string) => autoscaler.decisions(ns, name) } : {}),
    extraMetrics: () => {
      coldStarts.forget((ns, name) => store.hasRevision(ns, name));
      return [...(autoscaler?.metrics() ?? []), ...rollouts.metrics(), ...coldStarts.metrics(), ...live.metrics()];
    },
    rollouts,
    ready: () => started,
    ...(o.watchBookmarkMs ? { watchBookmarkMs: o.watchBookmarkMs } : {}),
    ...(o.autoscaler ? { autoscaler: o.autoscaler } : {}),
    ...(o.backend.validate ? { validateTemplate: o.backend.validate.bind(o.backend) } : {}),
    ...(o.backend.logs ? { logs: o.backend.logs.bind(o.backend) } : {}),
  });
  const live = new LiveSeries({
    revisions: () => store.revisionKeys(),
    figures: (ns, name) => autoscaler?.live(ns, name) ?? { actual: o.backend.observe(ns, name).ready.length },
    routerStats: () => routerStats.values(),
  });
  const web = createConsole({
    api: app,
    userToken: tokens.user,
    live,
    views: {
      'cold-starts': (q) => ({
        kind: 'ColdStarts',
        coldStarts: coldStarts.recent(q.get('namespace') ?? '', q.get('revision') ?? ''),
      }),
    },
  });
  const host = o.apiHost ?? '127.0.0.1';
  const listener = apiListener(o, host);
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: web.fetch, port: o.apiPort ?? 8090, hostname: host, ...listener.serve }, () => resolve(s));
    s.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : (o.apiPort ?? 8090);
  // Clients of a wildcard listener reach it on loopback.
  const clientHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = `${listener.scheme}://${clientHost}:${port}`;
  let kubeconfig: string | undefined;
  if (listener.ca) {
    kubeconfig = join(o.dataDir, 'kubeconfig');
    writeAtomically(kubeconfig, kubeconfigYaml({ server: url, ca: listener.ca, token: tokens.user }), 0o600);
  }
  // Replicas push their stats to the autoscaler where the backend can point them here: on this
  // machine over a Unix socket in the data folder, else to the API's URL.
  let statsSocket: HttpServer | undefined;
  if (autoscaler && o.backend.pushStatsTo) {
    const path = join(o.dataDir, 'stats.sock');
    if (o.backend.replicasOnThisMachine) statsSocket = await listenStatsSocket(path, web.fetch, log);
    o.backend.pushStatsTo(
      statsSocket
        ? { url: `unix:${path}`, token: tokens.router }
        : { url, token: tokens.router, ...(listener.ca ? { caFile: join(o.dataDir, 'ca.crt') } : {}) },
    );
  }
  reconciler.start();
  autoscaler?.start();
  live.start();
  started = true;
  log(`API on ${url}, backend ${o.backend.name}, data in ${o.dataDir}`);
  return {
    url,
    port,
    ca: listener.ca,
    kubeconfig,
    store,
    reconciler,
    rollouts,
    autoscaler,
    publisher,
    tokens,
    routerStats,
    activations,
    live,
    coldStarts,
    async close() {
      acme?.stop();
      live.stop();
      autoscaler?.stop();
      rollouts.stop();
      reconciler.stop();
      if (statsSocket) {
        const closed = new Promise<void>((resolve) => statsSocket?.close(() => resolve()));
        statsSocket.closeAllConnections();
        await closed;
      }
      await new Promise<void>((resolve) => {
        const closeAll = () => (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        // A connection accepted just before the close (a queue-proxy's stats stream reconnecting,
        // still in its TLS handshake) is not one closeAllConnections sees yet, and its request
        // would never end: close again until the server has none left.
        const again = setInterval(closeAll, 100);
        server.close(() => {
          clearInterval(again);
          resolve();
        });
        closeAll();
      });
      await o.backend.close();
      store.close();
    },
  };
}

/** ACME certificates: the store key, the account (sealed in the store), the client and the manager. */
function startAcme(
  o: AcmeOptions,
  dataDir: string,
  store: Store,
  changed: () => void,
  log: (m: string) => void,
): AcmeCertificates {
  const storeKey = loadStoreKey(o.storeKeyFile ?? join(dataDir, 'acme-store.key'), o.storeKeyFile === undefined);
  const aad = `acme-account\n${o.directoryUrl}`;
  const client = new AcmeClient(
    {
      directoryUrl: o.directoryUrl,
      ...(o.caFile ? { ca: readFileSync(o.caFile, 'utf8') } : {}),
      ...(o.email ? { email: o.email } : {}),
    },
    {
      load() {
        const row = store.getAcmeAccount(o.directoryUrl);
        if (!row) return undefined;
        try {
          return { url: row.url, key: unseal(storeKey, row.sealedKey, aad) };
        } catch (e) {
          log(
            `acme: the stored account for ${o.directoryUrl} is not used (${e instanceof Error ? e.message : String(e)}); registering a new one`,
          );
          return undefined;
        }
      },
      save(account) {
        store.putAcmeAccount({
          directory: o.directoryUrl,
          url: account.url,
          sealedKey: seal(storeKey, account.key, aad),
          createdAt: new Date().toISOString(),
        });
      },
    },
  );
  const routerUrl = o.routerUrl;
  return new AcmeCertificates({
    store,
    order: (domain, board) => client.order(domain, board),
    directoryUrl: o.directoryUrl,
    storeKey,
    changed,
    ...(routerUrl
      ? { challengeServed: (d: string, t: string, k: string) => waitUntilRouterServes(routerUrl, d, t, k) }
      : {}),
    ...(o.renewBeforeMs !== undefined ? { renewBeforeMs: o.renewBeforeMs } : {}),
    ...(o.forgetAfterMs !== undefined ? { forgetAfterMs: o.forgetAfterMs } : {}),
    log,
  });
}

/**
 * The stats stream endpoint alone (`statsPushPath`, router token as on the API) on a Unix socket
 * in the data folder (0700; the socket 0600): replicas on this machine push their stats there
 * without TLS, so each queue-proxy loads neither `node:tls` nor OpenSSL's connection state (about
 * 3 MiB of its RSS; bench/RESULTS.md, issue 14) and the token never leaves the machine. Undefined
 * when it cannot listen (a path too long for a socket): they push to the API's URL instead.
 */
async function listenStatsSocket(
  path: string,
  fetch: (request: Request) => Response | Promise<Response>,
  log: (message: string) => void,
): Promise<HttpServer | undefined> {
  // sun_path holds 108 bytes on Linux (104 elsewhere).
  if (Buffer.byteLength(path) > 100) return undefined;
  const notFound = () => new Response('not found\n', { status: 404 });
  const server = createHttpServer(
    getRequestListener((request) => (new URL(request.url).pathname === statsPushPath ? fetch(request) : notFound())),
  );
  // A socket file left by an earlier run that ended without closing it.
  rmSync(path, { force: true });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(path, 0o600);
    return server;
  } catch (e) {
    log(`stats socket ${path}: ${e instanceof Error ? e.message : String(e)}; replicas push to the API's URL`);
    server.close();
    return undefined;
  }
}

/** The API's listener: HTTPS with the local CA's certificate or given files, or plain HTTP. */
function apiListener(o: ControlPlaneOptions, host: string) {
  const tls = o.tls ?? 'local-ca';
  if (tls === 'plain-http') return { scheme: 'http', ca: undefined, serve: {} } as const;
  let key: string;
  let cert: string;
  let ca: string | undefined;
  if (tls === 'local-ca') {
    const names = [...loopbackNames, ...(host === '0.0.0.0' || host === '::' ? [] : [host]), ...(o.apiNames ?? [])];
    const pki = ensureLocalPki(o.dataDir, names);
    ({ key, cert } = pki.serving);
    ca = pki.ca;
  } else {
    key = readFileSync(tls.keyFile, 'utf8');
    cert = readFileSync(tls.certFile, 'utf8');
  }
  return {
    scheme: 'https',
    ca,
    serve: { createServer: createHttpsServer, serverOptions: { key, cert } },
  } as const;
}
