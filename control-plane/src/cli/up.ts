import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  LocalCaCertificates,
  parseRouterConfig,
  RouterServer,
  runCore,
  SnapshotCertificates,
} from '@skiff/edge-router/node';
import { ensureLocalPki, fetchTrusting, pkiFiles } from '@skiff/http/tls';
import {
  type AutoscalerConfig,
  applyAutoscalerSettings,
  autoscalerDefaults,
  autoscalerSettings,
  parseDuration,
} from '@skiff/shared';
import type { WorkloadBackend } from '../backends/backend.ts';
import { LocalBackend } from '../backends/local/local-backend.ts';
import { startControlPlane } from '../server.ts';
import { UsageError } from './commands.ts';

const exampleApp = fileURLToPath(new URL('../../../examples/hello/app.mjs', import.meta.url));
const root = fileURLToPath(new URL('../../../', import.meta.url));

function newest(dir: string): number {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return t;
}

/**
 * Replicas start their queue-proxy from one bundled file: Node loads it in a fraction of the time
 * the TypeScript source takes, which is most of a cold start. Rebuilt when the sources are newer.
 */
function ensureQueueProxyBundle(log: (m: string) => void): void {
  const bundle = join(root, 'queue-proxy/dist/main.js');
  const sources = Math.max(newest(join(root, 'queue-proxy/src')), newest(join(root, 'shared/src')));
  if (existsSync(bundle) && statSync(bundle).mtimeMs >= sources) return;
  try {
    execFileSync(process.execPath, [join(root, 'scripts/bundle.mjs'), 'src/main.ts', 'dist/main.js'], {
      cwd: join(root, 'queue-proxy'),
      stdio: 'pipe',
    });
  } catch (e) {
    log(`could not bundle the queue-proxy (${e instanceof Error ? e.message : String(e)}); replicas start from source`);
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
 * `skiff up`: the whole platform in one process on this machine: the control plane (API on
 * 127.0.0.1), the router, and the local backend running each replica as processes (or, with
 * `--backend kubernetes`, a cluster running each revision as a Deployment). On a fresh data
 * dir it deploys the example service. Stopping it drains and stops every replica.
 */
export async function up(o: UpOptions): Promise<Up> {
  const env = o.env;
  const flags = parseUpArgs(o.args ?? []);
  const autoscaler = upAutoscalerConfig(env, flags);
  const dataDir = resolve(env.SKIFF_DATA_DIR ?? '.skiff');
  const apiPort = port(env, 'SKIFF_API_PORT', 8090);
  const routerPort = port(env, 'SKIFF_ROUTER_PORT', 8080);
  const routerTlsPort = port(env, 'SKIFF_ROUTER_TLS_PORT', 8443);
  const domain = env.SKIFF_DOMAIN ?? 'localhost';
  const fresh = !existsSync(join(dataDir, 'skiff.db'));
  const log = (m: string) => o.print(m);

  let backend: WorkloadBackend;
  if (flags.backend === 'kubernetes') {
    // Revisions run in the cluster; this machine runs the control plane and the router.
    const { KubernetesBackend } = await import('../backends/kubernetes/kubernetes-backend.ts');
    backend = await KubernetesBackend.start({
      ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
      ...(flags.namespace ? { namespace: flags.namespace } : {}),
      log: (m) => log(`kubernetes: ${m}`),
    });
  } else {
    ensureQueueProxyBundle(log);
    backend = new LocalBackend({ drainQuietPeriod: env.SKIFF_DRAIN_QUIET_PERIOD ?? '1s' });
  }
  const cp = await startControlPlane({
    dataDir,
    backend,
    apiPort,
    domain,
    routerPort,
    autoscaler,
    tls: flags.apiPlainHttp ? 'plain-http' : 'local-ca',
    apiNames: flags.apiHosts,
    ...(flags.tls ? { routerTls: { caFile: join(dataDir, 'ca.crt') } } : {}),
    ...(flags.rolloutDurationSeconds !== undefined ? { rolloutDurationSeconds: flags.rolloutDurationSeconds } : {}),
    log: (m) => log(`control-plane: ${m}`),
  });
  const apiFetch = fetchTrusting(cp.ca);
  const routerConfig = parseRouterConfig({
    ...env,
    SKIFF_CONTROL_PLANE_URL: cp.url,
    SKIFF_ROUTER_TOKEN: cp.tokens.router,
    SKIFF_SNAPSHOT_WAIT_SECONDS: env.SKIFF_SNAPSHOT_WAIT_SECONDS ?? '30',
  });
  let stopped = false;
  // The embedded router reports problems only; once stopping, a cut long-poll is expected.
  const quiet = { info: () => {}, error: (m: string) => stopped || log(`router: ${m}`) };
  const running = runCore(routerConfig, quiet, apiFetch);
  const router = new RouterServer(running.core);
  const listening = await router.listen(routerPort, env.SKIFF_ROUTER_HOST ?? '127.0.0.1');
  let listeningTls: number | undefined;
  if (flags.tls) {
    // Certificates the control plane chose (DomainMappings' Secrets, ACME) first; else the data
    // dir's CA (the API's) signs one for any host the router serves, on first use.
    ensureLocalPki(dataDir);
    const files = pkiFiles(dataDir);
    const ca = { cert: readFileSync(files.caCert, 'utf8'), key: readFileSync(files.caKey, 'utf8') };
    const serves = (host: string) => running.core.table.hosts.has(host);
    listeningTls = await router.listenTls(routerTlsPort, env.SKIFF_ROUTER_HOST ?? '127.0.0.1', [
      new SnapshotCertificates(running.core),
      new LocalCaCertificates(ca, serves),
    ]);
  }

  if (fresh) {
    const r = await apiFetch(`${cp.url}/apis/serving.knative.dev/v1/namespaces/default/services`, {
      method: 'POST',
      headers: { authorization: `Bearer ${cp.tokens.user}`, 'content-type': 'application/json' },
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
      `  API:        ${cp.url}   (token in ${join(dataDir, 'token')})`,
      `  Console:    ${cp.url}/   (log in with the token)`,
      ...(cp.kubeconfig
        ? [`  Kubeconfig: ${cp.kubeconfig}   (export KUBECONFIG=${cp.kubeconfig}; kubectl get ksvc)`]
        : []),
      `  Router:     http://127.0.0.1${suffix}   (services at http://<name>.<namespace>.${domain}${suffix})`,
      ...(listeningTls !== undefined
        ? [
            `  HTTPS:      https://<name>.<namespace>.${domain}:${listeningTls}   (trust ${pkiFiles(dataDir).caCert}: skiff ca)`,
          ]
        : []),
      `  Data:       ${dataDir}`,
      '',
      fresh ? `Deployed the example: curl http://hello.default.${domain}${suffix}` : 'Services are back as they were.',
      `Next:  npx skiff service list    npx skiff service create NAME ${flags.backend === 'kubernetes' ? '--image IMAGE' : '--cmd "node server.js"'}`,
      'Ctrl-C stops everything (replicas drain first).',
      '',
    ].join('\n'),
  );

  let stopping: Promise<void> | undefined;
  return {
    apiUrl: cp.url,
    routerPort: listening,
    ...(listeningTls !== undefined ? { routerTlsPort: listeningTls } : {}),
    stop() {
      stopping ??= (async () => {
        stopped = true;
        running.stop();
        await router.close();
        await cp.close();
      })();
      return stopping;
    },
  };
}
