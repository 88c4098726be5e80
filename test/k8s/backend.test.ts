import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RevisionWorkload } from '../../control-plane/src/backends/backend.ts';
import { describeBackendContract } from '../../control-plane/src/backends/contract.ts';
import { KubernetesBackend } from '../../control-plane/src/backends/kubernetes/kubernetes-backend.ts';
import { createNamespace, deploymentPath, get, imageWorkload, managed, servicePath, until } from './backend-helpers.ts';
import { describeK8s, kubeRequest, startTestCluster, type TestCluster } from './cluster.ts';

// The Kubernetes backend against a real kube-apiserver (with etcd, kube-controller-manager,
// kube-scheduler, and kwok's fake Nodes making pods Ready with fake IPs). No traffic is ever sent
// to a pod IP: readiness is what the API server's EndpointSlices say.

describeK8s('Kubernetes backend (real API server)', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await startTestCluster();
  }, 180_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  const start = async (namespace: string, extra: Partial<Parameters<typeof KubernetesBackend.start>[0]> = {}) =>
    KubernetesBackend.start({ kubeconfig: cluster.kubeconfigPath, namespace, ...extra });

  describeBackendContract(
    'kubernetes',
    async () => start(await createNamespace(cluster, 'contract')),
    (revision) => imageWorkload(revision),
    { readyWithinMs: 30_000 },
  );

  describe('one revision', () => {
    let ns: string;
    let backend: KubernetesBackend;
    beforeEach(async () => {
      ns = await createNamespace(cluster);
      backend = await start(ns);
    });
    afterEach(async () => {
      await backend.close();
    });

    const ready = (w: RevisionWorkload, n: number) =>
      until(
        `${n} ready endpoints of ${w.revision}`,
        30_000,
        () => backend.observe('default', w.revision).ready.length === n,
      );

    it('with stats push: gives the queue-proxy the push URL and its token by a Secret, and scrapes no pod', async () => {
      const pushing = await start(ns, { scrapePods: true, statsPush: { url: 'https://skiff-control-plane:8090' } });
      try {
        pushing.pushStatsTo({ url: 'https://127.0.0.1:8090', token: 'push-router-token' });
        const w = imageWorkload('push-00001');
        await pushing.ensure(w, 1);
        await until(
          'the Deployment',
          30_000,
          async () => (await get(cluster, deploymentPath(ns, 'push-00001-deployment'))).status === 200,
        );
        const d = (await get(cluster, deploymentPath(ns, 'push-00001-deployment'))).json;
        const qp = d.spec.template.spec.containers.find((c: { name: string }) => c.name === 'queue-proxy');
        expect(qp.env).toEqual(
          expect.arrayContaining([
            { name: 'SKIFF_STATS_PUSH_URL', value: 'https://skiff-control-plane:8090' },
            {
              name: 'SKIFF_STATS_PUSH_TOKEN',
              valueFrom: { secretKeyRef: { name: 'skiff-stats-push', key: 'token' } },
            },
          ]),
        );
        expect(JSON.stringify(d)).not.toContain('push-router-token');
        const secret = (await get(cluster, `/api/v1/namespaces/${ns}/secrets/skiff-stats-push`)).json;
        expect(Buffer.from(secret.data.token, 'base64').toString()).toBe('push-router-token');
        await until('a ready pod', 30_000, () => pushing.observe('default', 'push-00001').ready.length === 1);
        // The pods push: none is a scrape target, though pod scraping is on.
        expect(pushing.scrapeTargets('default', 'push-00001')).toEqual([]);
      } finally {
        await pushing.close();
      }
    });

    it('writes the Deployment and the Service a revision needs, as the API server reads them back', async () => {
      const w = imageWorkload('hello-00001', (w) => {
        w.spec.containers[0] = { ...w.spec.containers[0], env: [{ name: 'TARGET', value: 'World' }] };
      });
      await backend.ensure(w, 1);
      await ready(w, 1);

      const d = (await get(cluster, deploymentPath(ns, 'hello-00001-deployment'))).json;
      expect(d.metadata.labels).toMatchObject({
        'serving.knative.dev/service': 'hello',
        'serving.knative.dev/configuration': 'hello',
        'serving.knative.dev/revision': 'hello-00001',
        'serving.knative.dev/revisionUID': w.uid,
        'app.kubernetes.io/managed-by': 'skiff',
      });
      expect(
        d.metadata.managedFields.map((f: { manager: string; operation: string }) => [f.manager, f.operation]),
      ).toContainEqual(['skiff', 'Apply']);
      expect(d.spec).toMatchObject({
        replicas: 1,
        selector: { matchLabels: { 'serving.knative.dev/revisionUID': w.uid } },
        progressDeadlineSeconds: 600,
        revisionHistoryLimit: 0,
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0 } },
      });
      const pod = d.spec.template.spec;
      expect(pod.enableServiceLinks).toBe(false);
      expect(pod.terminationGracePeriodSeconds).toBe(30);
      expect(pod.containers.map((c: { name: string }) => c.name)).toEqual(['user-container', 'queue-proxy']);
      const [user, qp] = pod.containers;
      expect(user.env).toEqual([
        { name: 'TARGET', value: 'World' },
        { name: 'PORT', value: '8080' },
        { name: 'K_REVISION', value: 'hello-00001' },
        { name: 'K_CONFIGURATION', value: 'hello' },
        { name: 'K_SERVICE', value: 'hello' },
      ]);
      expect(user.ports).toEqual([{ name: 'user-port', containerPort: 8080, protocol: 'TCP' }]);
      expect(user.lifecycle.preStop.httpGet).toMatchObject({ port: 8022, path: '/wait-for-drain' });
      expect(qp.readinessProbe.httpGet).toMatchObject({
        port: 8012,
        httpHeaders: [{ name: 'K-Network-Probe', value: 'queue' }],
      });
      expect(qp.securityContext).toEqual({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(qp.resources.requests).toEqual({ cpu: '25m', memory: '50Mi' });
      const env = Object.fromEntries(qp.env.map((e: { name: string; value?: string }) => [e.name, e.value]));
      expect(env).toMatchObject({
        SERVING_NAMESPACE: 'default',
        SERVING_REVISION: 'hello-00001',
        QUEUE_SERVING_PORT: '8012',
        USER_PORT: '8080',
        REVISION_TIMEOUT_SECONDS: '30',
        SERVING_READINESS_PROBE: '{"tcpSocket":{"port":8080,"host":"127.0.0.1"},"successThreshold":1}',
      });

      const s = (await get(cluster, servicePath(ns, 'hello-00001'))).json;
      expect(s.spec.selector).toEqual({ 'serving.knative.dev/revisionUID': w.uid });
      expect(s.spec.ports[0]).toMatchObject({ name: 'http', port: 80, targetPort: 8012 });
      expect(s.metadata.ownerReferences).toEqual([
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          name: 'hello-00001-deployment',
          uid: d.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);

      // The endpoint is the pod's queue-proxy, as its EndpointSlice names it.
      const [endpoint] = backend.observe('default', w.revision).ready;
      const pods = (await get(cluster, `/api/v1/namespaces/${ns}/pods`)).json.items;
      expect(pods).toHaveLength(1);
      expect(endpoint).toEqual({ pod: pods[0].metadata.name, url: `http://${pods[0].status.podIP}:8012` });
    });

    it('reports when a pod crashed and recovered (restart count up), as the pod status says', async () => {
      const w = imageWorkload('crash-00001');
      await backend.ensure(w, 1);
      await ready(w, 1);
      expect(backend.observe('default', w.revision).troubleAt).toBeUndefined();
      // The kubelet (kwok here) would write this: the user container exited and was restarted.
      const [pod] = (await get(cluster, `/api/v1/namespaces/${ns}/pods`)).json.items;
      const crashedAt = '2026-12-01T05:00:07Z';
      const user = pod.status.containerStatuses.find((c: { name: string }) => c.name === 'user-container');
      user.restartCount = 1;
      user.lastState = { terminated: { exitCode: 1, reason: 'Error', finishedAt: crashedAt } };
      const put = await kubeRequest(cluster, 'PUT', `/api/v1/namespaces/${ns}/pods/${pod.metadata.name}/status`, pod);
      expect(put.status).toBe(200);
      await until('troubleAt', 30_000, () => backend.observe('default', w.revision).troubleAt);
      expect(backend.observe('default', w.revision).troubleAt).toBe(Date.parse(crashedAt));
      // It recovered: still Ready, and the trouble stays reported.
      expect(backend.observe('default', w.revision).ready).toHaveLength(1);
    });

    it('scales replicas, and the ready endpoints follow the pods', async () => {
      const w = imageWorkload('scale-00001');
      for (const n of [3, 1, 0, 2]) {
        await backend.ensure(w, n);
        await ready(w, n);
        const d = (await get(cluster, deploymentPath(ns, 'scale-00001-deployment'))).json;
        expect(d.spec.replicas).toBe(n);
        expect(backend.observe('default', w.revision).desired).toBe(n);
      }
      expect(new Set(backend.observe('default', w.revision).ready.map((e) => e.pod)).size).toBe(2);
    });

    it('times each start from zero from its pod: PodScheduled, Initialized and ContainersReady', async () => {
      const w = imageWorkload('cold-00001');
      const condition = (pod: any, type: string) =>
        Date.parse(pod.status.conditions.find((c: { type: string }) => c.type === type).lastTransitionTime);
      const podsOf = async () =>
        (await get(cluster, `/api/v1/namespaces/${ns}/pods?labelSelector=serving.knative.dev%2Frevision%3Dcold-00001`))
          .json.items as any[];
      for (const round of [1, 2]) {
        const asked = Date.now();
        await backend.ensure(w, 1);
        const times = await until(`round ${round}: a cold start timed to ready`, 30_000, () => {
          const c = backend.observe('default', w.revision).coldStart;
          return c?.readyAt !== undefined ? c : undefined;
        });
        expect(times.decidedAt).toBeGreaterThanOrEqual(asked);
        expect(times.decidedAt).toBeLessThanOrEqual(Date.now());
        // The marks are the pod's own conditions (whole seconds), never before the decision, in order.
        const [pod] = (await podsOf()).filter((p) => !p.metadata.deletionTimestamp);
        const want = (type: string, after: number) => Math.max(condition(pod, type), after);
        expect(times.spawnedAt).toBe(want('PodScheduled', times.decidedAt));
        expect(times.listeningAt).toBe(want('Initialized', times.spawnedAt as number));
        expect(times.readyAt).toBe(want('ContainersReady', times.listeningAt as number));
        expect(times.readyAt).toBeLessThanOrEqual(Date.now());
        // More replicas from one running is not a start from zero: the record stays.
        await backend.ensure(w, 2);
        await ready(w, 2);
        expect(backend.observe('default', w.revision).coldStart).toEqual(times);
        // Down to zero, and the next round starts again from zero.
        await backend.ensure(w, 0);
        await ready(w, 0);
        await until('the pods gone', 30_000, async () => (await podsOf()).length === 0);
        await new Promise((r) => setTimeout(r, 1000)); // the next pod's creation a second later
      }
    });

    it('writes nothing when asked again for what is already there', async () => {
      const w = imageWorkload('idem-00001');
      await backend.ensure(w, 1);
      const before = (await get(cluster, deploymentPath(ns, 'idem-00001-deployment'))).json.metadata.resourceVersion;
      await backend.ensure(w, 1);
      await backend.ensure(w, 1);
      const after = (await get(cluster, deploymentPath(ns, 'idem-00001-deployment'))).json.metadata;
      expect(after.generation).toBe(1);
      // Only the controllers' status writes may have moved it, never a spec write of ours.
      expect(Number(after.resourceVersion)).toBeGreaterThanOrEqual(Number(before));
    });

    it('puts back a Deployment edited by hand: replicas, a changed env value and an added one', async () => {
      const w = imageWorkload('edit-00001', (w) => {
        w.spec.containers[0] = { ...w.spec.containers[0], env: [{ name: 'TARGET', value: 'World' }] };
      });
      await backend.ensure(w, 2);
      await ready(w, 2);
      const path = deploymentPath(ns, 'edit-00001-deployment');
      const edit = await kubeRequest(
        cluster,
        'PATCH',
        `${path}?fieldManager=kubectl-edit`,
        {
          spec: {
            replicas: 5,
            template: {
              spec: {
                containers: [
                  {
                    name: 'user-container',
                    env: [
                      { name: 'TARGET', value: 'Hacked' },
                      { name: 'EXTRA', value: '1' },
                    ],
                  },
                ],
              },
            },
          },
        },
        'application/strategic-merge-patch+json',
      );
      expect(edit.status).toBe(200);
      const restored = await until('the Deployment put back', 15_000, async () => {
        const d = (await get(cluster, path)).json;
        return d.metadata.generation > edit.json.metadata.generation && d.spec.replicas === 2 ? d : undefined;
      });
      expect(
        restored.spec.template.spec.containers[0].env.map(
          (e: { name: string; value: string }) => `${e.name}=${e.value}`,
        ),
      ).toEqual(['TARGET=World', 'PORT=8080', 'K_REVISION=edit-00001', 'K_CONFIGURATION=edit', 'K_SERVICE=edit']);
      await ready(w, 2);
    });

    it('creates the Deployment again when it is deleted by hand, and the Service with it', async () => {
      const w = imageWorkload('gone-00001');
      await backend.ensure(w, 1);
      await ready(w, 1);
      const path = deploymentPath(ns, 'gone-00001-deployment');
      const old = (await get(cluster, path)).json.metadata.uid;
      expect((await kubeRequest(cluster, 'DELETE', path, { propagationPolicy: 'Background' })).status).toBe(200);
      const fresh = await until('a new Deployment', 15_000, async () => {
        const r = await get(cluster, path);
        return r.status === 200 && r.json.metadata.uid !== old ? r.json : undefined;
      });
      await until('the Service owned by the new Deployment', 30_000, async () => {
        const s = await get(cluster, servicePath(ns, 'gone-00001'));
        return s.status === 200 && s.json.metadata.ownerReferences?.[0]?.uid === fresh.metadata.uid;
      });
      await ready(w, 1);
    });

    it('reports an object the API server rejects as the revision failure, in the server words', async () => {
      // Our validation checks quantities, not resource names; the API server does.
      const w = imageWorkload('bad-00001', (w) => {
        w.spec.containers[0] = { ...w.spec.containers[0], resources: { requests: { 'not a resource': '1' } } };
      });
      await backend.ensure(w, 1);
      const failure = backend.observe('default', 'bad-00001').failure;
      expect(failure?.reason).toBe('Invalid');
      expect(failure?.message).toContain('Deployment.apps "bad-00001-deployment" is invalid');
      expect(failure?.message).toContain('spec.template.spec.containers[0].resources.requests[not a resource]');
      expect(await managed(cluster, ns, 'deployments')).toEqual([]);
    });

    it('reports ProgressDeadlineExceeded when pods never become available', async () => {
      const w = imageWorkload('stuck-00001', (w) => {
        w.annotations = { 'serving.knative.dev/progress-deadline': '2s' };
        Object.assign(w.spec, { nodeSelector: { 'skiff.dev/no-such-node': 'true' } });
      });
      await backend.ensure(w, 1);
      const failure = await until(
        'the progress deadline',
        30_000,
        () => backend.observe('default', w.revision).failure,
      );
      expect(failure.reason).toBe('ProgressDeadlineExceeded');
      expect(failure.message).toContain('has timed out progressing');
    });

    it('removes a revision: the Service and the pods go with the Deployment (ownerReferences)', async () => {
      const w = imageWorkload('bye-00001');
      await backend.ensure(w, 2);
      await ready(w, 2);
      await backend.remove('default', w.revision);
      expect(backend.list()).not.toContainEqual({ namespace: 'default', revision: w.revision });
      await until('no Deployment, Service, EndpointSlice or pod left', 30_000, async () => {
        const left = await Promise.all(
          ['deployments', 'services', 'endpointslices', 'pods'].map((k) => managed(cluster, ns, k)),
        );
        return left.every((l) => l.length === 0);
      });
    });

    it('finds the revisions already in the cluster when it starts (for garbage collection)', async () => {
      await backend.ensure(imageWorkload('left-00001'), 1);
      const again = await start(ns);
      try {
        expect(again.list()).toContainEqual({ namespace: 'default', revision: 'left-00001' });
        expect(again.observe('default', 'left-00001').desired).toBe(1);
      } finally {
        await again.close();
      }
    });

    it('places other Skiff namespaces in the target namespace under prefixed names', async () => {
      const w = { ...imageWorkload('hello-00001'), namespace: 'team-a' };
      await backend.ensure(w, 1);
      await until('the prefixed Deployment', 15_000, async () => {
        return (await get(cluster, deploymentPath(ns, 'team-a-hello-00001-deployment'))).status === 200;
      });
      await until('a ready endpoint', 30_000, () => backend.observe('team-a', 'hello-00001').ready.length === 1);
      expect(backend.list()).toContainEqual({ namespace: 'team-a', revision: 'hello-00001' });
      expect(backend.observe('default', 'hello-00001')).toMatchObject({ desired: 0, ready: [] });
    });
  });

  describe('watches', () => {
    let ns: string;
    let backend: KubernetesBackend;
    afterEach(async () => {
      await backend.close();
    });

    it('resume a broken connection from the last resourceVersion, without relisting', async () => {
      ns = await createNamespace(cluster);
      backend = await start(ns);
      const w = imageWorkload('resume-00001');
      await backend.ensure(w, 1);
      await until('1 ready', 30_000, () => backend.observe('default', w.revision).ready.length === 1);
      const { endpointslices } = backend.reflectors;
      const lists = endpointslices.stats.lists;
      const watches = endpointslices.stats.watches;
      endpointslices.interrupt();
      await backend.ensure(w, 2);
      await until(
        '2 ready after the reconnect',
        30_000,
        () => backend.observe('default', w.revision).ready.length === 2,
      );
      expect(endpointslices.stats.watches).toBeGreaterThan(watches);
      expect(endpointslices.stats.lists).toBe(lists);
    });

    it('relist when the server answers 410 Gone for a resourceVersion it no longer keeps', async () => {
      ns = await createNamespace(cluster);
      backend = await start(ns);
      const w = imageWorkload('gone410-00001');
      await backend.ensure(w, 1);
      await until('1 ready', 30_000, () => backend.observe('default', w.revision).ready.length === 1);
      const { deployments } = backend.reflectors;
      const stale = deployments.resourceVersion as string;
      // The API server's watch cache keeps 75 s of events, and at least as many as its buffer holds
      // (grown by earlier bursts): after that, and enough newer Deployment events, a watch from
      // `stale` is answered 410 Gone, as after a long disconnect.
      await new Promise((r) => setTimeout(r, 76_000));
      const churn = `/apis/apps/v1/namespaces/${ns}/deployments`;
      const created = await kubeRequest(cluster, 'POST', churn, {
        metadata: { name: 'churn' },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: 'churn' } },
          template: { metadata: { labels: { app: 'churn' } }, spec: { containers: [{ name: 'c', image: 'c' }] } },
        },
      });
      expect(created.status).toBe(201);
      const lists = deployments.stats.lists;
      let n = 0;
      for (let round = 0; round < 40 && deployments.stats.gone === 0; round++) {
        for (let i = 0; i < 10; i++) {
          await Promise.all(
            Array.from({ length: 10 }, () =>
              kubeRequest(
                cluster,
                'PATCH',
                `${churn}/churn`,
                { metadata: { annotations: { n: String(n++) } } },
                'application/merge-patch+json',
              ),
            ),
          );
        }
        deployments.interrupt(stale);
        await new Promise((r) => setTimeout(r, 300));
      }
      await until('a 410 and a relist', 15_000, () => deployments.stats.gone > 0 && deployments.stats.lists > lists);
      await backend.ensure(w, 2);
      await until('2 ready after the relist', 30_000, () => backend.observe('default', w.revision).ready.length === 2);
      expect(backend.observe('default', w.revision).desired).toBe(2);
    }, 180_000);

    it('relist when a watch falls silent for longer than the watchdog allows', async () => {
      ns = await createNamespace(cluster);
      backend = await start(ns, { watchdogMs: 1000 });
      const { endpointslices } = backend.reflectors;
      await until('a stall detected', 15_000, () => endpointslices.stats.stalls > 0);
      const w = imageWorkload('quiet-00001');
      await backend.ensure(w, 1);
      await until('1 ready after the relist', 30_000, () => backend.observe('default', w.revision).ready.length === 1);
    });
  });
});
