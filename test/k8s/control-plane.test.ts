import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchTrusting } from '@skiff/http/tls';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { KubernetesBackend } from '../../control-plane/src/backends/kubernetes/kubernetes-backend.ts';
import { StaticScale } from '../../control-plane/src/reconciler/reconciler.ts';
import { type ControlPlane, startControlPlane } from '../../control-plane/src/server.ts';
import { seedTestPki } from '../../control-plane/src/testing/pki.ts';
import { createNamespace, deploymentPath, get, imageWorkload, managed, servicePath, until } from './backend-helpers.ts';
import { describeK8s, startTestCluster, type TestCluster } from './cluster.ts';

// The control plane with the Kubernetes backend, driven through its API, against a real API
// server: what a user does (create, update, split traffic, delete) and what the cluster then holds.

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

describeK8s('control plane on Kubernetes (real API server)', () => {
  let cluster: TestCluster;
  let ns: string;
  let dataDir: string;
  let backend: KubernetesBackend;
  let cp: ControlPlane;
  beforeAll(async () => {
    cluster = await startTestCluster();
  }, 180_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  beforeEach(async () => {
    ns = await createNamespace(cluster);
    dataDir = mkdtempSync(join(tmpdir(), 'skiff-k8s-cp-'));
    backend = await KubernetesBackend.start({
      kubeconfig: cluster.kubeconfigPath,
      namespace: ns,
      ...(process.env.DEBUG_CP ? { log: (m: string) => console.log(`backend: ${m}`) } : {}),
    });
    seedTestPki(dataDir);
    cp = await startControlPlane({
      dataDir,
      backend,
      apiPort: 0,
      userToken: 't',
      routerToken: 'r',
      scale: new StaticScale(),
      resyncMs: 2000,
      log: process.env.DEBUG_CP ? (m) => console.log(m) : () => {},
    });
  });
  afterEach(async () => {
    await cp.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetchTrusting(cp.ca)(`${cp.url}/apis/serving.knative.dev/v1/namespaces/default/${path}`, {
      method,
      headers: {
        authorization: 'Bearer t',
        'content-type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json',
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: r.status, json: (await r.json()) as any };
  };
  const service = (name: string, container: Record<string, unknown> = {}) => ({
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name },
    spec: { template: { spec: { containers: [{ image: 'ghcr.io/knative/helloworld-go:latest', ...container }] } } },
  });
  const condition = async (path: string, type: string): Promise<Condition | undefined> =>
    ((await api('GET', path)).json.status?.conditions as Condition[] | undefined)?.find((c) => c.type === type);
  const readyService = (name: string, ms = 30_000) =>
    until(`service ${name} Ready`, ms, async () => (await condition(`services/${name}`, 'Ready'))?.status === 'True');

  it('turns a new service into its Deployment and Service, and becomes Ready on the EndpointSlice', async () => {
    expect(
      (await api('POST', 'services', service('hello', { env: [{ name: 'TARGET', value: 'World' }] }))).status,
    ).toBe(201);
    await readyService('hello');
    const rev = (await api('GET', 'revisions/hello-00001')).json;
    const d = (await get(cluster, deploymentPath(ns, 'hello-00001-deployment'))).json;
    expect(d.metadata.labels).toMatchObject({
      'serving.knative.dev/service': 'hello',
      'serving.knative.dev/configuration': 'hello',
      'serving.knative.dev/revision': 'hello-00001',
      'serving.knative.dev/revisionUID': rev.metadata.uid,
      'app.kubernetes.io/managed-by': 'skiff',
    });
    expect(d.spec.replicas).toBe(1);
    expect(d.spec.template.spec.containers[0].env).toContainEqual({ name: 'TARGET', value: 'World' });
    const s = (await get(cluster, servicePath(ns, 'hello-00001'))).json;
    expect(s.metadata.ownerReferences[0].uid).toBe(d.metadata.uid);
    // The routing snapshot carries the pod's queue-proxy address (never called here: it is fake).
    const snapshot = cp.publisher.current();
    const endpoints = snapshot.revisions.find((r) => r.name === 'hello-00001')?.endpoints ?? [];
    expect(endpoints).toHaveLength(1);
    expect(endpoints[0]?.url).toMatch(/^http:\/\/10\.244\.\d+\.\d+:8012$/);
  });

  it('carries a revision’s start from zero, timed from its pod, in the routing snapshot', async () => {
    const before = Date.now();
    expect((await api('POST', 'services', service('cold'))).status).toBe(201);
    await readyService('cold');
    const snapshot = await until('the routing snapshot with the cold start', 30_000, async () => {
      const r = await fetchTrusting(cp.ca)(`${cp.url}/internal/v1/routing`, { headers: { authorization: 'Bearer r' } });
      const json = (await r.json()) as { revisions: { name: string; coldStart?: Record<string, number> }[] };
      const rev = json.revisions.find((x) => x.name === 'cold-00001');
      return rev?.coldStart?.readyAt !== undefined ? rev.coldStart : undefined;
    });
    const { decidedAt, spawnedAt, listeningAt, readyAt } = snapshot as Record<
      'decidedAt' | 'spawnedAt' | 'listeningAt' | 'readyAt',
      number
    >;
    expect(decidedAt).toBeGreaterThanOrEqual(before);
    expect(spawnedAt).toBeGreaterThanOrEqual(decidedAt);
    expect(listeningAt).toBeGreaterThanOrEqual(spawnedAt);
    expect(readyAt).toBeGreaterThanOrEqual(listeningAt);
    expect(readyAt).toBeLessThanOrEqual(Date.now());
  });

  it('scales the old revision to zero once a new one takes all its traffic, and keeps both on a split', async () => {
    await api('POST', 'services', service('roll'));
    await readyService('roll');
    expect(
      (
        await api('PATCH', 'services/roll', {
          spec: { template: { spec: { containers: [{ image: 'ghcr.io/knative/helloworld-go:v2' }] } } },
        })
      ).status,
    ).toBe(200);
    await until('roll-00002 Ready with all traffic', 30_000, async () => {
      const s = (await api('GET', 'services/roll')).json;
      return s.status?.latestReadyRevisionName === 'roll-00002' && s.status.traffic?.[0]?.revisionName === 'roll-00002';
    });
    const replicas = async (rev: string) =>
      (await get(cluster, deploymentPath(ns, `${rev}-deployment`))).json.spec.replicas;
    await until('roll-00001 at zero', 30_000, async () => (await replicas('roll-00001')) === 0);
    expect(await replicas('roll-00002')).toBe(1);
    await until('no pod left of roll-00001', 30_000, async () => {
      const pods = (
        await get(cluster, `/api/v1/namespaces/${ns}/pods?labelSelector=serving.knative.dev%2Frevision%3Droll-00001`)
      ).json;
      return pods.items.length === 0;
    });

    await api('PATCH', 'services/roll', {
      spec: {
        traffic: [
          { revisionName: 'roll-00001', percent: 50 },
          { revisionName: 'roll-00002', percent: 50 },
        ],
      },
    });
    await until('roll-00001 back at one replica', 30_000, async () => (await replicas('roll-00001')) === 1);
    expect(await replicas('roll-00002')).toBe(1);
  });

  it('removes every object of a deleted service', async () => {
    await api('POST', 'services', service('gone'));
    await readyService('gone');
    await api('PATCH', 'services/gone', { spec: { template: { metadata: { annotations: { v: '2' } } } } });
    await until('two Deployments', 30_000, async () => (await managed(cluster, ns, 'deployments')).length === 2);
    expect((await api('DELETE', 'services/gone')).status).toBe(200);
    await until('nothing of Skiff left in the namespace', 30_000, async () => {
      const left = await Promise.all(
        ['deployments', 'services', 'endpointslices', 'pods'].map((k) => managed(cluster, ns, k)),
      );
      return left.every((l) => l.length === 0);
    });
  });

  it('garbage-collects what a revision the store does not know left in the cluster', async () => {
    // As if an earlier control plane (with another store) had run it.
    const other = await KubernetesBackend.start({ kubeconfig: cluster.kubeconfigPath, namespace: ns });
    await other.ensure(imageWorkload('orphan-00001'), 1);
    await other.close();
    await until('the orphan removed', 30_000, async () => (await managed(cluster, ns, 'deployments')).length === 0);
    await until('its Service collected', 30_000, async () => (await managed(cluster, ns, 'services')).length === 0);
  });

  it('shows an object the API server rejects as the revision condition, with the server message', async () => {
    const r = await api('POST', 'services', service('bad', { resources: { requests: { 'not a resource': '1' } } }));
    expect(r.status).toBe(201);
    const ready = await until('revision bad-00001 Ready=False', 30_000, async () => {
      const c = await condition('revisions/bad-00001', 'Ready');
      return c?.status === 'False' ? c : undefined;
    });
    expect(ready.reason).toBe('Invalid');
    expect(ready.message).toContain('spec.template.spec.containers[0].resources.requests[not a resource]');
    await until(
      'service bad Ready=False',
      15_000,
      async () => (await condition('services/bad', 'Ready'))?.status === 'False',
    );
  });
});
