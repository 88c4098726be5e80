import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort, repoRoot, start } from '../helpers/processes.ts';
import { createNamespace, deploymentPath, get, until } from './backend-helpers.ts';
import { describeK8s, startTestCluster, type TestCluster } from './cluster.ts';

// `skiff up --backend kubernetes`: the control plane and router on this machine, revisions on a
// cluster (here the test cluster), as from a laptop.

describeK8s('skiff up --backend kubernetes (real API server)', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await startTestCluster({ nodes: 1 });
  }, 180_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('deploys the example service as a Deployment in the given namespace, and stops cleanly', async () => {
    const ns = await createNamespace(cluster);
    const dataDir = mkdtempSync(join(tmpdir(), 'skiff-up-k8s-'));
    try {
      const up = await start(
        process.execPath,
        [
          join(repoRoot, 'control-plane/bin/skiff.js'),
          'up',
          '--backend',
          'kubernetes',
          '--kubeconfig',
          cluster.kubeconfigPath,
          '--namespace',
          ns,
        ],
        {
          SKIFF_DATA_DIR: dataDir,
          SKIFF_API_PORT: String(await freePort()),
          SKIFF_ROUTER_PORT: String(await freePort()),
        },
        /Skiff is up/,
        60_000,
      );
      expect(up.output()).toContain('backend kubernetes');
      const d = await until('the example Deployment', 30_000, async () => {
        const r = await get(cluster, deploymentPath(ns, 'hello-00001-deployment'));
        return r.status === 200 ? r.json : undefined;
      });
      expect(d.spec.template.spec.containers[0].image).toBe('ghcr.io/knative/helloworld-go:latest');
      up.kill('SIGINT');
      expect(await up.exited).toBe(0);
      // The cluster keeps running what the store says should run.
      expect((await get(cluster, deploymentPath(ns, 'hello-00001-deployment'))).status).toBe(200);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
