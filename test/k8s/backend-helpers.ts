import { randomBytes } from 'node:crypto';
import type { RevisionWorkload } from '../../control-plane/src/backends/backend.ts';
import { type KubeReply, kubeRequest, type TestCluster } from './cluster.ts';

// Small helpers for the Kubernetes backend suites: a fresh namespace per test (so tests and the
// garbage collector of one never see another's objects), revisions that run images, and reads
// straight from the API server.

/** Creates a namespace with a unique name and waits for its default ServiceAccount. */
export async function createNamespace(cluster: TestCluster, prefix = 'skiff-test'): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  const r = await kubeRequest(cluster, 'POST', '/api/v1/namespaces', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name },
  });
  if (r.status !== 201) throw new Error(`creating namespace ${name}: ${r.status} ${r.body}`);
  // Pods need their namespace's default ServiceAccount (the ServiceAccount admission plugin).
  await until(`ServiceAccount ${name}/default`, 30_000, async () => {
    const sa = await kubeRequest(cluster, 'GET', `/api/v1/namespaces/${name}/serviceaccounts/default`);
    return sa.status === 200;
  });
  return name;
}

/** A revision that runs an image (never pulled: kwok's pods only pretend to run). */
export function imageWorkload(revision: string, change: (w: RevisionWorkload) => void = () => {}): RevisionWorkload {
  const service = revision.replace(/-\d{5}$/, '');
  const w: RevisionWorkload = {
    namespace: 'default',
    service,
    configuration: service,
    revision,
    uid: `${revision}-${randomBytes(4).toString('hex')}`,
    spec: {
      containerConcurrency: 0,
      timeoutSeconds: 30,
      containers: [{ name: 'user-container', image: 'ghcr.io/knative/helloworld-go:latest' }],
    },
    labels: {
      'serving.knative.dev/service': service,
      'serving.knative.dev/configuration': service,
      'serving.knative.dev/configurationGeneration': '1',
    },
    annotations: {},
  };
  change(w);
  return w;
}

/** GET from the API server; resolves with the reply whatever its status. */
export function get(cluster: TestCluster, path: string): Promise<KubeReply> {
  return kubeRequest(cluster, 'GET', path);
}

export const deploymentPath = (ns: string, name: string) => `/apis/apps/v1/namespaces/${ns}/deployments/${name}`;
export const servicePath = (ns: string, name: string) => `/api/v1/namespaces/${ns}/services/${name}`;

/** Objects Skiff manages in a namespace, by kind (`deployments`, `services`, `pods`, `endpointslices`). */
export async function managed(cluster: TestCluster, ns: string, kind: string): Promise<string[]> {
  const group =
    kind === 'deployments' ? '/apis/apps/v1' : kind === 'endpointslices' ? '/apis/discovery.k8s.io/v1' : '/api/v1';
  const r = await get(
    cluster,
    `${group}/namespaces/${ns}/${kind}?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dskiff`,
  );
  if (r.status !== 200) throw new Error(`listing ${kind} in ${ns}: ${r.status} ${r.body}`);
  return (r.json.items as { metadata: { name: string } }[]).map((o) => o.metadata.name).sort();
}

/** Polls until `check` holds (100 ms apart), failing with `what` and the last value seen. */
export async function until<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | false | undefined> | T | false | undefined,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== false && v !== undefined) return v as T;
      last = v;
    } catch (e) {
      last = e instanceof Error ? e.message : e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
