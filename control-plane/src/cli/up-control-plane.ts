// The control-plane process of `skiff up`, started (and restarted) by the supervisor (see
// supervisor.ts) with an IPC channel: the local backend asks the supervisor to run replicas and,
// after a restart, adopts the ones still running. Configured by the supervisor's environment.
import { join, resolve } from 'node:path';
import { parseAcmeForgetAfter } from '@skiff/shared';
import type { WorkloadBackend } from '../backends/backend.ts';
import { LocalBackend } from '../backends/local/local-backend.ts';
import { type Channel, SupervisedLauncher } from '../backends/local/supervised.ts';
import type { TlsSecretSource } from '../certificates/secrets.ts';
import { startControlPlane } from '../server.ts';
import { parseUpArgs, upAutoscalerConfig, upHttpProtocol } from './up.ts';

const env = process.env;
const log = (m: string) => process.stdout.write(`control-plane: ${m}\n`);
if (!process.send) {
  process.stderr.write('up-control-plane: runs under skiff up (needs its IPC channel)\n');
  process.exit(2);
}
const channel = process as unknown as Channel;
const flags = parseUpArgs(JSON.parse(env.SKIFF_UP_ARGS ?? '[]') as string[]);
const autoscaler = upAutoscalerConfig(env, flags);
const dataDir = resolve(env.SKIFF_DATA_DIR ?? '.skiff');
const forgetAfter = parseAcmeForgetAfter(env.SKIFF_ACME_FORGET_AFTER_SECONDS, 'SKIFF_ACME_FORGET_AFTER_SECONDS');
if (!forgetAfter.ok) {
  process.stderr.write(`control-plane: ${forgetAfter.message}\n`);
  process.exit(2);
}

let backend: WorkloadBackend;
let secrets: TlsSecretSource | undefined;
if (flags.backend === 'kubernetes') {
  const { KubernetesBackend } = await import('../backends/kubernetes/kubernetes-backend.ts');
  const { TlsSecrets, parseSecretRef } = await import('../backends/kubernetes/tls-secrets.ts');
  const fallback = env.SKIFF_DEFAULT_TLS_SECRET
    ? parseSecretRef(env.SKIFF_DEFAULT_TLS_SECRET, flags.namespace, 'SKIFF_DEFAULT_TLS_SECRET')
    : undefined;
  if (fallback && !fallback.ok) {
    process.stderr.write(`control-plane: ${fallback.message}\n`);
    process.exit(2);
  }
  const kb = await KubernetesBackend.start({
    ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
    ...(flags.namespace ? { namespace: flags.namespace } : {}),
    log: (m) => log(`kubernetes: ${m}`),
  });
  backend = kb;
  // DomainMappings' TLS Secrets (and a default wildcard one) for the router's HTTPS (with --tls).
  // A laptop's kubeconfig may not list Secrets: then say so and go on without them (mappings
  // naming one report SecretsUnavailable) rather than keep the platform down.
  secrets = await TlsSecrets.start(
    {
      kubeConfig: kb.kubeConfig,
      namespace: kb.namespace,
      defaultSecret: fallback?.value,
      log: (m) => log(`kubernetes: ${m}`),
    },
    10_000,
  ).catch((e: unknown) => {
    log(`kubernetes: TLS Secrets not read: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  });
} else {
  const local = new LocalBackend({
    drainQuietPeriod: env.SKIFF_DRAIN_QUIET_PERIOD ?? '1s',
    launcher: new SupervisedLauncher(channel),
    stateFile: join(dataDir, 'replicas.json'),
  });
  const adopted = await local.adopt();
  if (adopted > 0) log(`adopted ${adopted} running replica${adopted === 1 ? '' : 's'}`);
  backend = local;
}
const cp = await startControlPlane({
  dataDir,
  backend,
  apiPort: Number(env.SKIFF_API_PORT ?? 8090),
  domain: env.SKIFF_DOMAIN ?? 'localhost',
  routerPort: Number(env.SKIFF_ROUTER_PORT ?? 8080),
  autoscaler,
  tls: flags.apiPlainHttp ? 'plain-http' : 'local-ca',
  apiNames: flags.apiHosts,
  ...(flags.tls ? { routerTls: { caFile: join(dataDir, 'ca.crt') } } : {}),
  httpProtocol: upHttpProtocol(env, flags),
  ...(secrets ? { secrets } : {}),
  ...(flags.acme
    ? {
        acme: {
          ...flags.acme,
          routerUrl: `http://127.0.0.1:${env.SKIFF_ROUTER_PORT ?? 8080}`,
          forgetAfterMs: forgetAfter.ms,
          ...(env.SKIFF_ACME_STORE_KEY_FILE ? { storeKeyFile: env.SKIFF_ACME_STORE_KEY_FILE } : {}),
        },
      }
    : {}),
  ...(flags.rolloutDurationSeconds !== undefined ? { rolloutDurationSeconds: flags.rolloutDurationSeconds } : {}),
  log,
});
channel.send({
  op: 'up',
  url: cp.url,
  ...(cp.ca ? { ca: cp.ca } : {}),
  ...(cp.kubeconfig ? { kubeconfig: cp.kubeconfig } : {}),
});

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (stopping) return;
    stopping = true;
    void cp.close().then(() => process.exit(0));
  });
}
// The supervisor is gone (it ties its children to itself; this is the belt to those braces).
process.once('disconnect', () => process.exit(1));
