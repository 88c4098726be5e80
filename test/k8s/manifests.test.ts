import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KubernetesBackend } from '../../control-plane/src/backends/kubernetes/kubernetes-backend.ts';
import { TlsSecrets } from '../../control-plane/src/backends/kubernetes/tls-secrets.ts';
import { repoRoot } from '../helpers/processes.ts';
import { imageWorkload, managed, until } from './backend-helpers.ts';
import { describeK8s, kubectl, kubeRequest, startTestCluster, type TestCluster } from './cluster.ts';

// The manifests under deploy/kubernetes against a real API server: they pass its validation and
// admission (a server-side dry run), and the Role they grant is enough for the Kubernetes backend
// to do its whole job, and no more than it needs.

const manifests = join(repoRoot, 'deploy/kubernetes');

describeK8s('deploy/kubernetes manifests (real API server)', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await startTestCluster({ nodes: 1 });
    // Dry runs do not create the namespace the other objects live in: that one is applied for real.
    await kubectl(cluster, ['apply', '--server-side', '-f', join(manifests, 'namespace.yaml')]);
  }, 180_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('apply cleanly with a server-side dry run', async () => {
    const { stdout } = await kubectl(cluster, ['apply', '--server-side', '--dry-run=server', '-k', manifests]);
    const applied = stdout.trim().split('\n');
    for (const object of [
      'namespace/skiff',
      'serviceaccount/skiff-control-plane',
      'role.rbac.authorization.k8s.io/skiff-control-plane',
      'rolebinding.rbac.authorization.k8s.io/skiff-control-plane',
      'configmap/config-network',
      'configmap/config-acme',
      'persistentvolumeclaim/skiff-data',
      'deployment.apps/skiff-control-plane',
      'service/skiff-control-plane',
      'deployment.apps/skiff-router',
      'service/skiff-router',
    ]) {
      expect(applied).toContain(`${object} serverside-applied (server dry run)`);
    }
    expect(applied).toHaveLength(11);
  });

  it('mount the ACME store key from the Secret skiff-acme-store-key where the control plane reads it', async () => {
    const { stdout } = await kubectl(cluster, [
      'apply',
      '--server-side',
      '--dry-run=server',
      '-f',
      join(manifests, 'control-plane.yaml'),
      '-o',
      'json',
    ]);
    const items = (JSON.parse(stdout) as { items: any[] }).items;
    const deployment = items.find((o) => o.kind === 'Deployment');
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    const keyFile = container.env.find((e: { name: string }) => e.name === 'SKIFF_ACME_STORE_KEY_FILE').value;
    const volume = pod.volumes.find(
      (v: { secret?: { secretName: string } }) => v.secret?.secretName === 'skiff-acme-store-key',
    );
    // Optional: the pod starts while ACME is off; with it on, the control plane names the Secret.
    expect(volume.secret).toMatchObject({ optional: true, defaultMode: 0o400 });
    const mount = container.volumeMounts.find((m: { name: string }) => m.name === volume.name);
    expect(keyFile).toBe(`${mount.mountPath}/store.key`);
    expect(mount.readOnly).toBe(true);
    const directory = container.env.find((e: { name: string }) => e.name === 'SKIFF_ACME_DIRECTORY');
    expect(directory.valueFrom.configMapKeyRef).toMatchObject({ name: 'config-acme', key: 'directory' });
  });

  it("grant the control plane's service account what the backend needs, in its namespace only", async () => {
    await kubectl(cluster, ['apply', '--server-side', '-f', join(manifests, 'rbac.yaml')]);
    const token = await kubeRequest(
      cluster,
      'POST',
      '/api/v1/namespaces/skiff/serviceaccounts/skiff-control-plane/token',
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } },
    );
    expect(token.status).toBe(201);
    const admin = new KubeConfig();
    admin.loadFromFile(cluster.kubeconfigPath);
    const server = admin.getCurrentCluster();
    if (!server) throw new Error('the test kubeconfig has no cluster');
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [server],
      users: [{ name: 'skiff-control-plane', token: token.json.status.token }],
      contexts: [{ name: 'sa', cluster: server.name, user: 'skiff-control-plane' }],
      currentContext: 'sa',
    });

    const backend = await KubernetesBackend.start({ kubeConfig: kc, namespace: 'skiff' });
    try {
      const w = imageWorkload('rbac-00001');
      await backend.ensure(w, 2);
      await until('2 ready endpoints', 30_000, () => backend.observe('default', w.revision).ready.length === 2);
      expect(backend.observe('default', w.revision).failure).toBeUndefined();
      await backend.ensure(w, 1);
      await until('1 ready endpoint', 30_000, () => backend.observe('default', w.revision).ready.length === 1);
      await backend.remove('default', w.revision);
      await until('nothing left', 30_000, async () => (await managed(cluster, 'skiff', 'deployments')).length === 0);
      // The TLS Secrets of its namespace, listed and watched with the same identity.
      const secrets = await TlsSecrets.start({ kubeConfig: kc, namespace: 'skiff' });
      secrets.stop();
    } finally {
      await backend.close();
    }

    // Nowhere else, and nothing else.
    const elsewhere = new KubernetesBackend({ kubeConfig: kc, namespace: 'default' });
    await expect(elsewhere.start(3000)).rejects.toThrow();
    const canI = async (...args: string[]) =>
      (
        await kubectl(cluster, [
          'auth',
          'can-i',
          '--as=system:serviceaccount:skiff:skiff-control-plane',
          ...args,
        ]).catch((e: { stdout: string }) => ({ stdout: e.stdout }))
      ).stdout.trim();
    // Secrets: read (TLS Secrets) in its namespace only, never written.
    expect(await canI('list', 'secrets', '-n', 'skiff')).toBe('yes');
    expect(await canI('watch', 'secrets', '-n', 'skiff')).toBe('yes');
    expect(await canI('create', 'secrets', '-n', 'skiff')).toBe('no');
    expect(await canI('list', 'secrets', '-n', 'default')).toBe('no');
    expect(await canI('create', 'pods', '-n', 'skiff')).toBe('no');
    expect(await canI('patch', 'deployments', '-n', 'skiff')).toBe('yes');
    expect(await canI('watch', 'endpointslices.discovery.k8s.io', '-n', 'skiff')).toBe('yes');
  });
});
