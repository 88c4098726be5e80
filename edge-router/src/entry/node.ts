// The router on Node: the shared core behind a server that speaks HTTP/1.1 on raw sockets.
//   SKIFF_CONTROL_PLANE_URL=https://127.0.0.1:8090 SKIFF_CONTROL_PLANE_CA_FILE=.skiff/ca.crt SKIFF_ROUTER_TOKEN=… PORT=8080 node --import tsx edge-router/src/entry/node.ts
// It listens only once it has a routing snapshot: a router that answered before would send
// every request 404. With SKIFF_ROUTER_SNAPSHOT_FILE it keeps its last snapshot there (0600) and
// starts from it, so a restarted router serves at once even while the control plane is down.
import { readFileSync } from 'node:fs';
import type { Fetch } from '@skiff/http/tls/fetch';
import { pkiFiles } from '@skiff/http/tls/local-pki';
import { type RoutingSnapshot, RoutingSnapshotSchema } from '@skiff/shared';
import { ConfigError, parseRouterConfig } from '../config.ts';
import { MetricsServer } from '../node/metrics.ts';
import { RouterServer } from '../node/server.ts';
import { type CertificateSource, LocalCaCertificates, SnapshotCertificates } from '../node/tls.ts';
import { runCore } from '../run.ts';
import { readKeptSnapshot, snapshotKeeper } from '../snapshot/kept.ts';

const log = {
  info: (m: string) => process.stdout.write(`${m}\n`),
  error: (m: string) => process.stderr.write(`${m}\n`),
};

let config: ReturnType<typeof parseRouterConfig>;
try {
  config = parseRouterConfig(process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  log.error(error.message);
  process.exit(2);
}
// The control plane's CA (the data dir's ca.crt, or the cluster's), when it is not a public one.
const caFile = process.env.SKIFF_CONTROL_PLANE_CA_FILE;
const keptFile = process.env.SKIFF_ROUTER_SNAPSHOT_FILE || undefined;
let initial: RoutingSnapshot | undefined;
if (keptFile) {
  const kept = readKeptSnapshot(keptFile, (json) => RoutingSnapshotSchema.parse(json));
  if (kept.error) log.error(`ignoring the kept routing snapshot: ${kept.error}`);
  initial = kept.snapshot;
}
const keeper = keptFile ? snapshotKeeper(keptFile, log) : undefined;
// With a kept snapshot the control plane can wait: the CA-trusting fetch (undici, a megabyte of
// the bundle, a separate chunk) loads only once the router listens, so a restarted router serves
// about 0.15 s sooner on a 2-core machine (bench/faults.mjs). Without one it loads at once.
let listened: () => void = () => {};
const afterListen = initial ? new Promise<void>((resolve) => (listened = resolve)) : Promise.resolve();
function trustingLater(ca: string): Fetch {
  let loaded: Promise<Fetch> | undefined;
  return async (input, init) => {
    loaded ??= afterListen.then(() => import('@skiff/http/tls/fetch')).then((m) => m.fetchTrusting(ca));
    return (await loaded)(input, init);
  };
}
const running = runCore(config, log, caFile ? trustingLater(readFileSync(caFile, 'utf8')) : undefined, {
  ...(initial ? { initial } : {}),
  ...(keeper ? { keep: keeper.keep } : {}),
});
if (!initial) {
  log.info('waiting for the first routing snapshot before listening');
  await running.source.ready;
}
const server = new RouterServer(running.core);
const port = await server.listen(Number(process.env.PORT ?? 8080), process.env.SKIFF_ROUTER_HOST ?? '0.0.0.0');
// After the connections already waiting have been taken.
setImmediate(listened);
// HTTPS beside HTTP when SKIFF_ROUTER_TLS_PORT is set: certificates from the routing snapshot
// (TLS Secrets, ACME), then, with SKIFF_ROUTER_LOCAL_CA_DIR, ones its CA issues on demand.
const tlsPort = process.env.SKIFF_ROUTER_TLS_PORT;
if (tlsPort) {
  const sources: CertificateSource[] = [new SnapshotCertificates(running.core, (m) => log.error(m))];
  const caDir = process.env.SKIFF_ROUTER_LOCAL_CA_DIR;
  if (caDir) {
    const files = pkiFiles(caDir);
    const ca = { cert: readFileSync(files.caCert, 'utf8'), key: readFileSync(files.caKey, 'utf8') };
    sources.push(new LocalCaCertificates(ca, (h) => running.core.table.hosts.has(h)));
  }
  // Behind a load balancer clients reach HTTPS on another port (443): redirects name that one.
  const publicPort = process.env.SKIFF_ROUTER_TLS_PUBLIC_PORT;
  const bound = await server.listenTls(
    Number(tlsPort),
    process.env.SKIFF_ROUTER_HOST ?? '0.0.0.0',
    sources,
    publicPort ? Number(publicPort) : undefined,
    (m) => log.error(m),
  );
  log.info(`edge-router (node) serving TLS :${bound}`);
}
// Prometheus `/metrics` on its own port when SKIFF_ROUTER_METRICS_PORT is set (Knative's activator
// uses 9090; `skiff up` passes one on loopback, the Kubernetes manifest 9090).
const metrics = config.metricsPort === undefined ? undefined : new MetricsServer(running.core);
if (metrics) {
  const bound = await metrics.listen(config.metricsPort ?? 0, process.env.SKIFF_ROUTER_HOST ?? '0.0.0.0');
  log.info(`edge-router (node) metrics on :${bound}`);
}
log.info(`edge-router (node) serving :${port}`);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    running.stop();
    keeper?.flush();
    void Promise.all([server.close(), metrics?.close()]).then(() => process.exit(0));
  });
}
