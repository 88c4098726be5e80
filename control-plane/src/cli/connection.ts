import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ClientConfig, type Fetch, fetchTrusting, KubeconfigError, loadKubeconfig } from '@skiff/http/tls';
import { UsageError } from './commands.ts';

/** Connection flags, as kubectl names them. */
export interface ConnectionFlags {
  kubeconfig?: string | undefined;
  context?: string | undefined;
  server?: string | undefined;
  token?: string | undefined;
  certificateAuthority?: string | undefined;
  insecureSkipTlsVerify?: boolean | undefined;
  namespace?: string | undefined;
}

export interface Connection {
  server: string;
  token: string;
  namespace: string;
  fetch: Fetch;
}

/**
 * Where and how the CLI reaches the API, as kubectl decides it: the kubeconfig (`--kubeconfig`,
 * else `KUBECONFIG`, else `<SKIFF_DATA_DIR or .skiff>/kubeconfig` that `skiff up` writes), then
 * flags (`--server`, `--token`, `--certificate-authority`, `-n`) and `SKIFF_SERVER`/`SKIFF_TOKEN`
 * over it.
 */
export function resolveConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv): Connection {
  const dataDir = env.SKIFF_DATA_DIR ?? '.skiff';
  const fallback = join(dataDir, 'kubeconfig');
  const server = flags.server || env.SKIFF_SERVER || undefined;
  let config: ClientConfig | undefined;
  try {
    config = loadKubeconfig({ file: flags.kubeconfig, env: env.KUBECONFIG, fallback, context: flags.context });
  } catch (e) {
    if (!(e instanceof KubeconfigError)) throw e;
    // Without an explicit server the kubeconfig is the only way to know where the API is.
    if (!server || flags.kubeconfig || flags.context) {
      throw new UsageError(`${e.message}; run skiff up, or pass --kubeconfig FILE or --server URL --token TOKEN`);
    }
  }
  const url = (server ?? config?.server ?? '').replace(/\/$/, '');
  let token = flags.token || env.SKIFF_TOKEN || config?.token;
  if (!token && existsSync(join(dataDir, 'token'))) token = readFileSync(join(dataDir, 'token'), 'utf8').trim();
  if (!token) throw new UsageError(`no API token: the kubeconfig has none; pass --token or set SKIFF_TOKEN`);
  let ca = config?.ca;
  if (flags.certificateAuthority) ca = readFileSync(flags.certificateAuthority, 'utf8');
  else if (!ca && url.startsWith('https:') && existsSync(join(dataDir, 'ca.crt'))) {
    ca = readFileSync(join(dataDir, 'ca.crt'), 'utf8');
  }
  return {
    server: url,
    token,
    namespace: flags.namespace ?? config?.namespace ?? 'default',
    fetch: fetchTrusting(ca, { insecure: flags.insecureSkipTlsVerify ?? config?.insecure ?? false }),
  };
}
