import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureLocalPki, fetchTrusting, pkiFiles } from '@skiff/http/tls';
import {
  type AutoscalerConfig,
  applyAutoscalerSettings,
  autoscalerDefaults,
  autoscalerSettings,
  type HttpProtocol,
  parseAcmeDirectory,
  parseDuration,
  parseHttpProtocol,
  routerNodeOptions,
} from '@skiff/shared';
import { loadToken } from '../api/auth.ts';
import { freePorts } from '../backends/local/replica.ts';
import type { ToSupervisor } from '../backends/local/supervised.ts';
import { UsageError } from './commands.ts';
import { ProcessTable, Supervised } from './supervisor.ts';

const exampleApp = fileURLToPath(new URL('../../../examples/hello/app.mjs', import.meta.url));
const root = fileURLToPath(new URL('../../../', import.meta.url));
const controlPlaneEntry = fileURLToPath(new URL('./up-control-plane.ts', import.meta.url));
// The children run TypeScript through tsx, found from here whatever the working directory.
const tsxLoader = import.meta.resolve('tsx');

function newest(dir: string): number {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return t;
}

/**
 * Replicas start their queue-proxy, and the supervisor its router, from one bundled file: Node
 * loads it in a fraction of the time the TypeScript source takes, which is most of a cold start
 * (and of a router restart). Rebuilt when the sources are newer. False when there is none.
 */
function ensureBundle(pkg: string, entry: string, out: string, log: (m: string) => void): boolean {
  const bundle = join(root, pkg, out);
  // The package and the workspace packages bundled into it.
  const sources = Math.max(...[pkg, 'shared', 'http'].map((p) => newest(join(root, p, 'src'))));
  if (existsSync(bundle) && statSync(bundle).mtimeMs >= sources) return true;
  try {
    execFileSync(process.execPath, [join(root, 'scripts/bundle.mjs'), entry, out], {
      cwd: join(root, pkg),
      stdio: 'pipe',
    });
    return true;
  } catch (e) {
    log(`could not bundle ${pkg} (${e instanceof Error ? e.message : String(e)}); running it from source`);
    return false;
  }
}

export interface UpOptions {
  /** Command-line flags after `up`. */
  args?: string[];
  env: NodeJS.ProcessEnv;
  print(line: string): void;
}

export interface Up {
  apiUrl: string;
  routerPort: number;
  /** The router's HTTPS port (`--tls`). */
  routerTlsPort?: number;
  /** The router's Prometheus `/metrics` port (loopback). */
  routerMetricsPort?: number;
  stop(): Promise<void>;
}

function port(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n > 65535) throw new Error(`${name} must be a port number, got ${JSON.stringify(raw)}`);
  return n;
}

/**
 * `skiff up`'s flags: `--autoscaler-<key> VALUE` (or `=VALUE`) for any `config-autoscaler` key;
 * `--backend local|kubernetes`, and for Kubernetes `--kubeconfig FILE` and `--namespace NS`.
 */
export interface UpFlags {
  autoscaler: Record<string, string>;
  backend: 'local' | 'kubernetes';
  kubeconfig?: string;
  namespace?: string;
  /** More names for the API's serving certificate (`--api-host NAME`, repeatable). */
  apiHosts: string[];
  /** `--api-plain-http`: serve the API without TLS (kubectl and kn then send no token). */
  apiPlainHttp: boolean;
  /** Knative's platform `rollout-duration` in seconds (`config-network`). */
  rolloutDurationSeconds?: number;
  /** `--tls`: the router also serves HTTPS (`SKIFF_ROUTER_TLS_PORT`), certificates from the local CA. */
  tls: boolean;
  /** `--http-protocol`: Knative's platform `http-protocol` (`config-network`), unless a Service's annotation says otherwise. */
  httpProtocol?: HttpProtocol;
  /**
   * `--acme-directory URL` (with `--acme-ca FILE`, `--acme-email ADDRESS`): the router serves
   * HTTPS with certificates for DomainMappings ordered from this ACME server (RFC 8555), and with
   * `--acme-service-hosts` for services' own public hosts too.
   */
  acme?: { directoryUrl: string; caFile?: string; email?: string; serviceHosts?: boolean };
}

export function parseUpArgs(args: string[]): UpFlags {
  const flags: UpFlags = { autoscaler: {}, backend: 'local', apiHosts: [], apiPlainHttp: false, tls: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (eq >= 0) return arg.slice(eq + 1);
      const next = args[++i];
      if (next === undefined) throw new UsageError(`up: ${name} needs a value`);
      return next;
    };
    if (name.startsWith('--autoscaler-')) {
      const key = name.slice('--autoscaler-'.length);
      if (!(key in autoscalerSettings)) {
        throw new UsageError(
          `up: unknown flag ${name}; autoscaler settings: ${Object.keys(autoscalerSettings).join(', ')}`,
        );
      }
      flags.autoscaler[key] = value();
    } else if (name === '--backend') {
      const b = value();
      if (b !== 'local' && b !== 'kubernetes')
        throw new UsageError(`up: --backend is local or kubernetes, got ${JSON.stringify(b)}`);
      flags.backend = b;
    } else if (name === '--api-host') {
      flags.apiHosts.push(value());
    } else if (arg === '--api-plain-http') {
      flags.apiPlainHttp = true;
    } else if (arg === '--tls') {
      flags.tls = true;
    } else if (name === '--http-protocol') {
      const parsed = parseHttpProtocol(value(), 'up: --http-protocol');
      if (!parsed.ok) throw new UsageError(parsed.message);
      flags.httpProtocol = parsed.value;
    } else if (name === '--acme-directory') {
      const parsed = parseAcmeDirectory(value(), 'up: --acme-directory');
      if (!parsed.ok) throw new UsageError(parsed.message);
      flags.acme = { ...flags.acme, directoryUrl: parsed.value };
    } else if (arg === '--acme-service-hosts') {
      flags.acme = { directoryUrl: '', ...flags.acme, serviceHosts: true };
    } else if (name === '--acme-ca' || name === '--acme-email') {
      const text = value();
      if (name === '--acme-ca' && !existsSync(text)) throw new UsageError(`up: --acme-ca ${text}: no such file`);
      const acme = { directoryUrl: '', ...flags.acme };
      if (name === '--acme-ca') acme.caFile = resolve(text);
      else acme.email = text;
      flags.acme = acme;
    } else if (name === '--rollout-duration') {
      const text = value();
      const ms = parseDuration(/^\d+$/.test(text) ? `${text}s` : text);
      if (ms === undefined || ms < 0 || ms % 1000 !== 0) {
        throw new UsageError(
          `up: --rollout-duration must be a whole number of seconds such as 120s, got ${JSON.stringify(text)}`,
        );
      }
      flags.rolloutDurationSeconds = ms / 1000;
    } else if (name === '--kubeconfig' || name === '--namespace') {
      flags[name === '--kubeconfig' ? 'kubeconfig' : 'namespace'] = value();
    } else {
      throw new UsageError(`up: unknown argument ${JSON.stringify(arg)}`);
    }
  }
  if (flags.acme && flags.acme.directoryUrl === '') {
    throw new UsageError('up: --acme-ca, --acme-email and --acme-service-hosts go with --acme-directory URL');
  }
  if (flags.backend !== 'kubernetes' && (flags.kubeconfig || flags.namespace)) {
    throw new UsageError('up: --kubeconfig and --namespace go with --backend kubernetes');
  }
  return flags;
}

/**
 * The autoscaler's settings for `skiff up`: Knative's defaults, then `SKIFF_AUTOSCALER_<KEY>`
 * variables, then `--autoscaler-<key>` flags. On one machine a revision may start at zero.
 */
export function upAutoscalerConfig(env: NodeJS.ProcessEnv, flags: UpFlags): AutoscalerConfig {
  const fromEnv: Record<string, string> = {};
  for (const key of Object.keys(autoscalerSettings)) {
    const v = env[`SKIFF_AUTOSCALER_${key.toUpperCase().replaceAll('-', '_')}`];
    if (v !== undefined && v !== '') fromEnv[key] = v;
  }
  const { config, errors } = applyAutoscalerSettings(
    { ...autoscalerDefaults, allowZeroInitialScale: true },
    { ...fromEnv, ...flags.autoscaler },
  );
  if (errors.length > 0) throw new UsageError(`up: bad autoscaler settings:\n  ${errors.join('\n  ')}`);
  return config;
}

/**
 * The platform's `http-protocol` for `skiff up`: `--http-protocol`, else `SKIFF_HTTP_PROTOCOL`,
 * else Knative's `enabled`. Redirecting or refusing plain HTTP needs HTTPS to send clients to.
 */
export function upHttpProtocol(env: NodeJS.ProcessEnv, flags: UpFlags): HttpProtocol {
  let value = flags.httpProtocol;
  if (value === undefined) {
    const parsed = parseHttpProtocol(env.SKIFF_HTTP_PROTOCOL, 'up: SKIFF_HTTP_PROTOCOL');
    if (!parsed.ok) throw new UsageError(parsed.message);
    value = parsed.value;
  }
  if (value !== 'enabled' && !flags.tls && !flags.acme) {
    throw new UsageError(
      `up: http-protocol ${value} needs --tls or --acme-directory (plain HTTP would be ${value === 'redirected' ? 'sent to an HTTPS listener that is not there' : 'refused with no HTTPS to use instead'})`,
    );
  }
  return value;
}

/**
 * `skiff up`: the platform on this machine, as a supervisor (see supervisor.ts) and its children:
 * the control plane (API on 127.0.0.1), the router, and the local backend's replicas (or, with
 * `--backend kubernetes`, a cluster running each revision as a Deployment). On a fresh data dir
 * it deploys the example service. Stopping it drains and stops every replica.
 */
export async function up(o: UpOptions): Promise<Up> {
  const env = o.env;
  const args = o.args ?? [];
  const flags = parseUpArgs(args);
  upAutoscalerConfig(env, flags); // bad settings are a usage error here, not a crash-looping child
  upHttpProtocol(env, flags);
  const dataDir = resolve(env.SKIFF_DATA_DIR ?? '.skiff');
  let apiPort = port(env, 'SKIFF_API_PORT', 8090);
  const routerHost = env.SKIFF_ROUTER_HOST ?? '127.0.0.1';
  let routerPort = port(env, 'SKIFF_ROUTER_PORT', 8080);
  let routerTlsPort = port(env, 'SKIFF_ROUTER_TLS_PORT', 8443);
  // Port 0 (any free port) is chosen here, before anything starts: the control plane writes the
  // router's port into every service's URL (status.url) and starts before the router binds. A
  // port is free when chosen; another process could take it before the router binds it, which
  // the router then reports (address in use) as it would for a port given outright.
  if (routerPort === 0 || routerTlsPort === 0) {
    const [a, b] = (await freePorts(2, routerHost)) as [number, number];
    if (routerPort === 0) routerPort = a;
    if (routerTlsPort === 0) routerTlsPort = b;
  }
  // The router's /metrics: a free port unless told one (kept across the router's restarts).
  const routerMetricsPort = port(env, 'SKIFF_ROUTER_METRICS_PORT', 0);
  const domain = env.SKIFF_DOMAIN ?? 'localhost';
  const fresh = !existsSync(join(dataDir, 'skiff.db'));
  const log = (m: string) => o.print(m);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  const tokens = {
    user: loadToken(env.SKIFF_API_TOKEN, join(dataDir, 'token')),
    router: loadToken(env.SKIFF_ROUTER_TOKEN, join(dataDir, 'router-token')),
  };
  // The router keeps its last snapshot for its own restarts under this supervisor; one left by an
  // earlier run names replicas that died with it.
  const keptSnapshot = join(dataDir, 'routing.json');
  rmSync(keptSnapshot, { force: true });
  if (flags.backend === 'local') ensureBundle('queue-proxy', 'src/main.ts', 'dist/main.js', log);
  const routerEntry = ensureBundle('edge-router', 'src/entry/node.ts', 'dist/node.js', log)
    ? [process.execPath, join(root, 'edge-router/dist/node.js')]
    : [process.execPath, '--import', tsxLoader, join(root, 'edge-router/src/entry/node.ts')];

  let stopping = false;
  let cpUp: ((up: { url: string; ca?: string; kubeconfig?: string }) => void) | undefined;
  const table = new ProcessTable((m) => cp.send(m));
  const cp: Supervised = new Supervised(
    {
      name: 'control plane',
      command: [process.execPath, '--import', tsxLoader, controlPlaneEntry],
      env: {
        ...env,
        SKIFF_DATA_DIR: dataDir,
        SKIFF_API_PORT: String(apiPort),
        SKIFF_ROUTER_PORT: String(routerPort),
        SKIFF_DOMAIN: domain,
        SKIFF_API_TOKEN: tokens.user,
        SKIFF_ROUTER_TOKEN: tokens.router,
        SKIFF_UP_ARGS: JSON.stringify(args),
      },
      ipc: true,
      onLine: (_stream, line) => log(line),
      onMessage: (m) => {
        const message = m as ToSupervisor;
        if (message.op === 'up') cpUp?.(message);
        else table.handle(message);
      },
    },
    (m) => stopping || log(`supervisor: ${m}`),
  );
  const cpInfo = await new Promise<{ url: string; ca?: string; kubeconfig?: string }>((resolve, reject) => {
    cpUp = resolve;
    cp.start();
    // A control plane that cannot start at all (a port in use, a broken data dir) fails `up`.
    cp.child?.once('exit', (code) => reject(new Error(`the control plane exited (code ${code}) before it was up`)));
  }).catch(async (e: unknown) => {
    await cp.stop(1000);
    throw e;
  });
  cpUp = undefined;
  const cpUrl = cpInfo.url;
  const apiFetch = fetchTrusting(cpInfo.ca);
  // A restarted control plane comes back on the same port, where the router looks for it.
  apiPort = Number(new URL(cpUrl).port);
  cp.spec.env.SKIFF_API_PORT = String(apiPort);

  let routerListening: ((port: number) => void) | undefined;
  let listeningTls: number | undefined;
  let listeningMetrics: number | undefined;
  // --tls: the router serves HTTPS too, with certificates the control plane chose (DomainMappings'
  // Secrets, ACME) first; else the data dir's CA (the API's) signs one for any host it serves.
  if (flags.tls) ensureLocalPki(dataDir);
  const router = new Supervised(
    {
      name: 'router',
      command: routerEntry,
      env: {
        ...env,
        SKIFF_CONTROL_PLANE_URL: cpUrl,
        ...(cpInfo.ca ? { SKIFF_CONTROL_PLANE_CA_FILE: pkiFiles(dataDir).caCert } : {}),
        SKIFF_ROUTER_TOKEN: tokens.router,
        PORT: String(routerPort),
        SKIFF_ROUTER_HOST: routerHost,
        SKIFF_SNAPSHOT_WAIT_SECONDS: env.SKIFF_SNAPSHOT_WAIT_SECONDS ?? '30',
        SKIFF_ROUTER_SNAPSHOT_FILE: keptSnapshot,
        SKIFF_ROUTER_METRICS_PORT: String(routerMetricsPort),
        NODE_OPTIONS: [env.NODE_OPTIONS, routerNodeOptions].filter(Boolean).join(' '),
        // HTTPS with --tls (the local CA signs for any served host) or --acme-directory (the
        // certificates ordered for DomainMappings).
        ...(flags.tls || flags.acme ? { SKIFF_ROUTER_TLS_PORT: String(routerTlsPort) } : {}),
        ...(flags.tls ? { SKIFF_ROUTER_LOCAL_CA_DIR: dataDir } : {}),
      },
      onLine: (stream, line) => {
        // It says where it serves HTTPS (with --tls) before it says where it serves HTTP.
        const tls = /serving TLS :(\d+)/.exec(line);
        const serving = /serving :(\d+)/.exec(line);
        const metrics = /metrics on :(\d+)/.exec(line);
        if (metrics) listeningMetrics = Number(metrics[1]);
        else if (tls) listeningTls = Number(tls[1]);
        else if (serving) routerListening?.(Number(serving[1]));
        // The router reports problems only; once stopping, a cut long-poll is expected.
        else if (stream === 'stderr' && !stopping) log(`router: ${line}`);
      },
    },
    (m) => stopping || log(`supervisor: ${m}`),
  );
  const listening = await new Promise<number>((resolve) => {
    routerListening = resolve;
    router.start();
  });
  routerPort = listening;
  router.spec.env.PORT = String(listening);
  if (listeningTls !== undefined) router.spec.env.SKIFF_ROUTER_TLS_PORT = String(listeningTls);
  if (listeningMetrics !== undefined) router.spec.env.SKIFF_ROUTER_METRICS_PORT = String(listeningMetrics);

  if (fresh) {
    const r = await apiFetch(`${cpUrl}/apis/serving.knative.dev/v1/namespaces/default/services`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.user}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        apiVersion: 'serving.knative.dev/v1',
        kind: 'Service',
        metadata: { name: 'hello' },
        spec: {
          template: {
            spec: {
              containers: [
                {
                  ...(flags.backend === 'kubernetes'
                    ? { image: 'ghcr.io/knative/helloworld-go:latest' }
                    : { command: [process.execPath, exampleApp] }),
                  env: [{ name: 'TARGET', value: 'World' }],
                },
              ],
            },
          },
        },
      }),
    });
    if (r.status !== 201) log(`could not deploy the example: ${r.status} ${await r.text()}`);
  }

  const suffix = listening === 80 ? '' : `:${listening}`;
  o.print(
    [
      '',
      'Skiff is up.',
      `  API:        ${cpUrl}   (token in ${join(dataDir, 'token')})`,
      `  Console:    ${cpUrl}/   (log in with the token)`,
      ...(cpInfo.kubeconfig
        ? [`  Kubeconfig: ${cpInfo.kubeconfig}   (export KUBECONFIG=${cpInfo.kubeconfig}; kubectl get ksvc)`]
        : []),
      `  Router:     http://127.0.0.1${suffix}   (services at http://<name>.<namespace>.${domain}${suffix})`,
      ...(listeningTls !== undefined && flags.tls
        ? [
            `  HTTPS:      https://<name>.<namespace>.${domain}:${listeningTls}   (trust ${pkiFiles(dataDir).caCert}: skiff ca)`,
          ]
        : []),
      ...(listeningTls !== undefined && flags.acme
        ? [
            `  ACME:       https://<mapped domain>:${listeningTls}   (certificates from ${flags.acme.directoryUrl}; HTTP-01 on :${listening})`,
          ]
        : []),
      ...(listeningMetrics !== undefined
        ? [`  Metrics:    ${cpUrl}/metrics (token), router http://127.0.0.1:${listeningMetrics}/metrics`]
        : []),
      `  Data:       ${dataDir}`,
      '',
      fresh ? `Deployed the example: curl http://hello.default.${domain}${suffix}` : 'Services are back as they were.',
      `Next:  npx skiff service list    npx skiff service create NAME ${flags.backend === 'kubernetes' ? '--image IMAGE' : '--cmd "node server.js"'}`,
      'Ctrl-C stops everything (replicas drain first).',
      '',
    ].join('\n'),
  );

  let stopped: Promise<void> | undefined;
  return {
    apiUrl: cpUrl,
    routerPort: listening,
    ...(listeningTls !== undefined ? { routerTlsPort: listeningTls } : {}),
    ...(listeningMetrics !== undefined ? { routerMetricsPort: listeningMetrics } : {}),
    stop() {
      stopped ??= (async () => {
        stopping = true;
        await router.stop(5_000);
        // The control plane drains its replicas (up to their revision timeout) before it exits.
        await cp.stop(10 * 60_000);
        // What a control plane that was down could not stop.
        await table.stopAll(5_000);
      })();
      return stopped;
    },
  };
}
