import { existsSync, readFileSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { parse, stringify } from 'yaml';

/** What a client needs to reach the API: kubectl's view of one kubeconfig context. */
export interface ClientConfig {
  server: string;
  /** PEM CA to trust for `https://` servers. */
  ca?: string;
  insecure?: boolean;
  token?: string;
  namespace?: string;
  /** The file(s) it came from, for messages. */
  source: string;
}

/** A kubeconfig for one Skiff API (cluster, user and context all named `skiff`). */
export function kubeconfigYaml(o: { server: string; ca: string; token: string; namespace?: string }): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'skiff',
        cluster: { server: o.server, 'certificate-authority-data': Buffer.from(o.ca).toString('base64') },
      },
    ],
    users: [{ name: 'skiff', user: { token: o.token } }],
    contexts: [{ name: 'skiff', context: { cluster: 'skiff', user: 'skiff', namespace: o.namespace ?? 'default' } }],
    'current-context': 'skiff',
    preferences: {},
  });
}

interface Named<T> {
  name: string;
  [key: string]: unknown;
  value?: T;
}

type Doc = {
  clusters?: Named<unknown>[];
  users?: Named<unknown>[];
  contexts?: Named<unknown>[];
  'current-context'?: string;
};

export class KubeconfigError extends Error {}

/**
 * Reads kubeconfig files as kubectl does: the `--kubeconfig` file, else every file in `KUBECONFIG`
 * (merged, the first to set a name wins), else `fallback`. `context` picks a context other than the
 * current one.
 */
export function loadKubeconfig(o: {
  file?: string | undefined;
  env?: string | undefined;
  fallback: string;
  context?: string | undefined;
}): ClientConfig {
  const files = o.file ? [o.file] : o.env ? o.env.split(delimiter).filter(Boolean) : [o.fallback];
  const present = o.file ? files : files.filter((f) => existsSync(f));
  if (present.length === 0 || !existsSync(present[0] as string)) {
    throw new KubeconfigError(`no kubeconfig at ${files.join(delimiter)}`);
  }
  const merged: Required<Pick<Doc, 'clusters' | 'users' | 'contexts'>> & { current?: string } = {
    clusters: [],
    users: [],
    contexts: [],
  };
  const origin = new Map<object, string>();
  for (const file of present) {
    let doc: Doc;
    try {
      doc = (parse(readFileSync(file, 'utf8')) ?? {}) as Doc;
    } catch (e) {
      throw new KubeconfigError(`${file}: not a kubeconfig: ${e instanceof Error ? e.message : String(e)}`);
    }
    for (const key of ['clusters', 'users', 'contexts'] as const) {
      for (const entry of doc[key] ?? []) {
        if (merged[key].some((e) => e.name === entry.name)) continue;
        merged[key].push(entry);
        origin.set(entry, file);
      }
    }
    merged.current ??= doc['current-context'] || undefined;
  }
  const source = present.join(delimiter);
  const contextName = o.context ?? merged.current;
  if (!contextName) throw new KubeconfigError(`${source}: no current-context`);
  const context = merged.contexts.find((c) => c.name === contextName)?.context as
    | { cluster?: string; user?: string; namespace?: string }
    | undefined;
  if (!context) throw new KubeconfigError(`${source}: no context named ${JSON.stringify(contextName)}`);
  const clusterEntry = merged.clusters.find((c) => c.name === context.cluster);
  const cluster = clusterEntry?.cluster as
    | {
        server?: string;
        'certificate-authority-data'?: string;
        'certificate-authority'?: string;
        'insecure-skip-tls-verify'?: boolean;
      }
    | undefined;
  if (!cluster?.server) throw new KubeconfigError(`${source}: context ${contextName} has no cluster with a server`);
  const userEntry = merged.users.find((u) => u.name === context.user);
  const user = (userEntry?.user ?? {}) as { token?: string; tokenFile?: string };
  // Relative paths in a kubeconfig are relative to the file that holds them.
  const resolvePath = (entry: object | undefined, p: string) =>
    isAbsolute(p) ? p : join(dirname(origin.get(entry as object) ?? '.'), p);
  let ca: string | undefined;
  if (cluster['certificate-authority-data']) {
    ca = Buffer.from(cluster['certificate-authority-data'], 'base64').toString('utf8');
  } else if (cluster['certificate-authority']) {
    ca = readFileSync(resolvePath(clusterEntry, cluster['certificate-authority']), 'utf8');
  }
  let token = user.token;
  if (!token && user.tokenFile) token = readFileSync(resolvePath(userEntry, user.tokenFile), 'utf8').trim();
  return {
    server: cluster.server,
    source,
    ...(ca ? { ca } : {}),
    ...(cluster['insecure-skip-tls-verify'] ? { insecure: true } : {}),
    ...(token ? { token } : {}),
    ...(context.namespace ? { namespace: context.namespace } : {}),
  };
}
