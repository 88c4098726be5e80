import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitFor } from '../helpers/processes.ts';
import { describeK8s, type KubeReply, kubectl, kubeRequest, startTestCluster, type TestCluster } from './cluster.ts';

// The harness itself, checked against what the Kubernetes backend relies on. Pod IPs are fake
// (kwok): nothing here sends traffic to them.
describeK8s('Kubernetes test cluster (etcd, kube-apiserver, controller-manager, scheduler, kwok)', () => {
  let cluster: TestCluster;
  const ns = 'harness';
  const api = (method: string, path: string, body?: unknown, type?: string): Promise<KubeReply> =>
    kubeRequest(cluster, method, path, body, type);
  const deployments = `/apis/apps/v1/namespaces/${ns}/deployments`;

  const scale = async (replicas: number) => {
    const r = await api('PATCH', `${deployments}/web/scale`, { spec: { replicas } }, 'application/merge-patch+json');
    expect(r.status, r.body).toBe(200);
  };
  const pods = async () => (await api('GET', `/api/v1/namespaces/${ns}/pods?labelSelector=app%3Dweb`)).json.items;
  const readyEndpoints = async (): Promise<number> => {
    const r = await api(
      'GET',
      `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb`,
    );
    return r.json.items.flatMap((s: any) => s.endpoints ?? []).filter((e: any) => e.conditions?.ready).length;
  };
  const available = async (): Promise<boolean> => {
    const d = (await api('GET', `${deployments}/web`)).json;
    const cond = (d.status?.conditions ?? []).find((c: any) => c.type === 'Available');
    return cond?.status === 'True' && d.status.availableReplicas === d.spec.replicas;
  };

  beforeAll(async () => {
    const started = Date.now();
    cluster = await startTestCluster({ nodes: 2 });
    console.log(`test cluster up in ${Date.now() - started} ms at ${cluster.server}`);
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('answers /version as Kubernetes v1.36', async () => {
    const r = await api('GET', '/version');
    expect(r.status).toBe(200);
    expect(r.json.gitVersion).toMatch(/^v1\.36\.\d+$/);
    const { stdout } = await kubectl(cluster, ['version', '-o', 'json']);
    expect(JSON.parse(stdout).serverVersion.gitVersion).toBe(r.json.gitVersion);
  });

  it('runs a 2-replica Deployment on the fake nodes: Available, pods with fake IPs, 2 ready endpoints', async () => {
    expect((await api('POST', '/api/v1/namespaces', { metadata: { name: ns } })).status).toBe(201);
    const service = await api('POST', `/api/v1/namespaces/${ns}/services`, {
      metadata: { name: 'web' },
      spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    });
    expect(service.status, service.body).toBe(201);
    const created = await api('POST', deployments, {
      metadata: { name: 'web' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'app', image: 'registry.invalid/web:1', ports: [{ containerPort: 8080 }] }] },
        },
      },
    });
    expect(created.status, created.body).toBe(201);

    await waitFor(available, 30_000, 'Deployment web Available with 2 replicas');
    const running = await pods();
    expect(running).toHaveLength(2);
    for (const pod of running) {
      expect(pod.status.phase).toBe('Running');
      expect(pod.spec.nodeName).toMatch(/^kwok-node-\d$/);
      expect(pod.status.podIP).toMatch(/^10\.244\.\d+\.\d+$/);
      expect(pod.status.hostIP).toMatch(/^10\.240\.0\.\d+$/);
    }
    await waitFor(async () => (await readyEndpoints()) === 2, 30_000, '2 ready endpoints in the EndpointSlice');
  });

  it('empties the EndpointSlice when the Deployment scales to zero', async () => {
    await scale(0);
    await waitFor(async () => (await readyEndpoints()) === 0, 30_000, 'no endpoints');
    await waitFor(async () => (await pods()).length === 0, 30_000, 'pods deleted (kwok pod-delete stage)');
  });

  it('garbage-collects the ReplicaSet and pods of a deleted Deployment', async () => {
    await scale(2);
    await waitFor(available, 30_000, 'Deployment web Available again');
    const replicaSets = `/apis/apps/v1/namespaces/${ns}/replicasets?labelSelector=app%3Dweb`;
    expect((await api('GET', replicaSets)).json.items).toHaveLength(1);

    expect((await api('DELETE', `${deployments}/web`)).status).toBe(200);
    await waitFor(
      async () => (await api('GET', replicaSets)).json.items.length === 0 && (await pods()).length === 0,
      30_000,
      'ReplicaSet and pods garbage-collected',
    );
  });

  it('validates manifests with kubectl apply --dry-run=server without creating anything', async () => {
    const manifest = (replicas: number) => `apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: ${ns}}
data: {mode: test}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: dry, namespace: ${ns}}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: dry}}
  template:
    metadata: {labels: {app: dry}}
    spec: {containers: [{name: app, image: registry.invalid/dry:1}]}
`;
    const { stdout } = await kubectl(cluster, ['apply', '--dry-run=server', '-f', '-'], manifest(1));
    expect(stdout).toContain('configmap/settings created (server dry run)');
    expect(stdout).toContain('deployment.apps/dry created (server dry run)');
    expect((await api('GET', `${deployments}/dry`)).status).toBe(404);

    await expect(kubectl(cluster, ['apply', '--dry-run=server', '-f', '-'], manifest(-1))).rejects.toThrow(
      /spec\.replicas.*must be greater than or equal to 0/,
    );
  });

  it('deletes a namespace with everything left in it (namespace controller)', async () => {
    expect((await api('DELETE', `/api/v1/namespaces/${ns}`)).status).toBe(200);
    await waitFor(async () => (await api('GET', `/api/v1/namespaces/${ns}`)).status === 404, 60_000, 'namespace gone');
  });
});
