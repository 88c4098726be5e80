import type { V1Container, V1Deployment, V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { RevisionWorkload } from '../backend.ts';
import { kubernetesDefaults } from './config.ts';
import {
  makeDeployment,
  makeService,
  makeStatsPushSecret,
  placement,
  servingReadinessProbe,
  specHash,
  statsPushSecretName,
} from './resources.ts';

// Table tests in the manner of Knative's `pkg/reconciler/revision/resources`: a base revision and
// the objects it yields spelled out in full, then each case as a change to the revision and the
// change it makes to those objects.

const uid = '6b0e1c2a-0000-4000-8000-000000000001';

function revision(change: (w: RevisionWorkload) => void = () => {}): RevisionWorkload {
  const w: RevisionWorkload = {
    namespace: 'default',
    service: 'hello',
    configuration: 'hello',
    revision: 'hello-00001',
    uid,
    spec: {
      containerConcurrency: 0,
      timeoutSeconds: 300,
      containers: [
        {
          name: 'user-container',
          image: 'ghcr.io/knative/helloworld-go',
          readinessProbe: { tcpSocket: {}, successThreshold: 1 },
        },
      ],
    },
    labels: {
      'serving.knative.dev/service': 'hello',
      'serving.knative.dev/configuration': 'hello',
      'serving.knative.dev/configurationGeneration': '1',
      'serving.knative.dev/serviceUID': 'svc-uid',
    },
    annotations: {},
  };
  change(w);
  return w;
}

const labels = {
  'serving.knative.dev/service': 'hello',
  'serving.knative.dev/configuration': 'hello',
  'serving.knative.dev/configurationGeneration': '1',
  'serving.knative.dev/serviceUID': 'svc-uid',
  'serving.knative.dev/revision': 'hello-00001',
  'serving.knative.dev/revisionUID': uid,
  'skiff.dev/namespace': 'default',
  'app.kubernetes.io/managed-by': 'skiff',
};

const queueEnv = [
  { name: 'SERVING_NAMESPACE', value: 'default' },
  { name: 'SERVING_SERVICE', value: 'hello' },
  { name: 'SERVING_CONFIGURATION', value: 'hello' },
  { name: 'SERVING_REVISION', value: 'hello-00001' },
  { name: 'QUEUE_SERVING_PORT', value: '8012' },
  { name: 'QUEUE_ADMIN_PORT', value: '8022' },
  { name: 'QUEUE_METRICS_PORT', value: '9090' },
  { name: 'CONTAINER_CONCURRENCY', value: '0' },
  { name: 'REVISION_TIMEOUT_SECONDS', value: '300' },
  { name: 'REVISION_RESPONSE_START_TIMEOUT_SECONDS', value: '0' },
  { name: 'REVISION_IDLE_TIMEOUT_SECONDS', value: '0' },
  { name: 'SERVING_POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  { name: 'SERVING_POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
  { name: 'USER_PORT', value: '8080' },
  { name: 'SERVING_READINESS_PROBE', value: '{"tcpSocket":{"port":8080,"host":"127.0.0.1"},"successThreshold":1}' },
];

function baseDeployment(): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'hello-00001-deployment', namespace: 'default', labels: { ...labels }, annotations: {} },
    spec: {
      replicas: 1,
      selector: { matchLabels: { 'serving.knative.dev/revisionUID': uid } },
      progressDeadlineSeconds: 600,
      revisionHistoryLimit: 0,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0 } },
      template: {
        metadata: {
          labels: { ...labels, app: 'hello-00001' },
          annotations: { 'kubectl.kubernetes.io/default-container': 'user-container' },
        },
        spec: {
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 300,
          containers: [
            {
              name: 'user-container',
              image: 'ghcr.io/knative/helloworld-go',
              ports: [{ name: 'user-port', containerPort: 8080, protocol: 'TCP' }],
              env: [
                { name: 'PORT', value: '8080' },
                { name: 'K_REVISION', value: 'hello-00001' },
                { name: 'K_CONFIGURATION', value: 'hello' },
                { name: 'K_SERVICE', value: 'hello' },
              ],
              lifecycle: { preStop: { httpGet: { port: 8022, path: '/wait-for-drain' } } },
              terminationMessagePolicy: 'FallbackToLogsOnError',
            },
            {
              name: 'queue-proxy',
              image: kubernetesDefaults.queueProxyImage,
              ports: [
                { name: 'http-autometric', containerPort: 9090, protocol: 'TCP' },
                { name: 'queue-port', containerPort: 8012, protocol: 'TCP' },
              ],
              env: queueEnv.map((e) => ({ ...e })),
              readinessProbe: {
                successThreshold: 1,
                httpGet: { port: 8012, httpHeaders: [{ name: 'K-Network-Probe', value: 'queue' }] },
              },
              resources: { requests: { cpu: '25m', memory: '50Mi' } },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                capabilities: { drop: ['ALL'] },
                seccompProfile: { type: 'RuntimeDefault' },
              },
            },
          ],
        },
      },
    },
  };
}

const pod = (d: V1Deployment) => d.spec!.template.spec!;
const user = (d: V1Deployment): V1Container => pod(d).containers[0]!;
const queue = (d: V1Deployment): V1Container => pod(d).containers.at(-1) as V1Container;
const setEnv = (c: V1Container, name: string, value: string) => {
  const e = c.env?.find((x) => x.name === name);
  if (e) e.value = value;
};

describe('makeDeployment', () => {
  it('builds the Knative-shaped Deployment of a revision', () => {
    expect(makeDeployment(revision(), 1, placement('default', 'hello-00001'))).toEqual(baseDeployment());
  });

  const cases: {
    name: string;
    w?: (w: RevisionWorkload) => void;
    replicas?: number;
    target?: string;
    want: (d: V1Deployment) => void;
  }[] = [
    {
      name: 'gives a revision of a Configuration created directly an empty K_SERVICE and no Service label (deploy.go)',
      w: (w) => {
        w.service = '';
        delete w.labels['serving.knative.dev/service'];
        delete w.labels['serving.knative.dev/serviceUID'];
      },
      want: (d) => {
        for (const m of [d.metadata!, d.spec!.template.metadata!]) {
          delete m.labels!['serving.knative.dev/service'];
          delete m.labels!['serving.knative.dev/serviceUID'];
        }
        setEnv(user(d), 'K_SERVICE', '');
        setEnv(queue(d), 'SERVING_SERVICE', '');
      },
    },
    {
      name: 'runs the replicas the autoscaler asks for, zero included',
      replicas: 0,
      want: (d) => {
        d.spec!.replicas = 0;
      },
    },
    {
      name: 'gives the pod the revision timeout to drain (terminationGracePeriodSeconds)',
      w: (w) => {
        w.spec.timeoutSeconds = 45;
      },
      want: (d) => {
        pod(d).terminationGracePeriodSeconds = 45;
        setEnv(queue(d), 'REVISION_TIMEOUT_SECONDS', '45');
      },
    },
    {
      name: 'passes containerConcurrency and the response-start and idle timeouts to the queue-proxy',
      w: (w) => {
        w.spec.containerConcurrency = 7;
        w.spec.responseStartTimeoutSeconds = 20;
        w.spec.idleTimeoutSeconds = 30;
      },
      want: (d) => {
        setEnv(queue(d), 'CONTAINER_CONCURRENCY', '7');
        setEnv(queue(d), 'REVISION_RESPONSE_START_TIMEOUT_SECONDS', '20');
        setEnv(queue(d), 'REVISION_IDLE_TIMEOUT_SECONDS', '30');
      },
    },
    {
      name: "uses the declared port for PORT, the user port and the queue-proxy's probe",
      w: (w) => {
        w.spec.containers[0]!.ports = [{ containerPort: 9000 }];
      },
      want: (d) => {
        user(d).ports = [{ name: 'user-port', containerPort: 9000, protocol: 'TCP' }];
        setEnv(user(d), 'PORT', '9000');
        setEnv(queue(d), 'USER_PORT', '9000');
        setEnv(
          queue(d),
          'SERVING_READINESS_PROBE',
          '{"tcpSocket":{"port":9000,"host":"127.0.0.1"},"successThreshold":1}',
        );
      },
    },
    {
      name: "moves an HTTP readiness probe to the queue-proxy, with the probe's timing on the sidecar",
      w: (w) => {
        w.spec.containers[0]!.readinessProbe = {
          httpGet: { path: '/ready' },
          periodSeconds: 5,
          failureThreshold: 3,
          timeoutSeconds: 1,
          successThreshold: 1,
        };
      },
      want: (d) => {
        setEnv(
          queue(d),
          'SERVING_READINESS_PROBE',
          '{"httpGet":{"path":"/ready","port":8080,"host":"127.0.0.1"},"periodSeconds":5,"failureThreshold":3,"timeoutSeconds":1,"successThreshold":1}',
        );
        queue(d).readinessProbe = {
          timeoutSeconds: 1,
          periodSeconds: 5,
          successThreshold: 1,
          failureThreshold: 3,
          httpGet: { port: 8012, httpHeaders: [{ name: 'K-Network-Probe', value: 'queue' }] },
        };
      },
    },
    {
      name: 'keeps an exec readiness probe on the user container',
      w: (w) => {
        w.spec.containers[0]!.readinessProbe = { exec: { command: ['true'] }, successThreshold: 1 };
      },
      want: (d) => {
        user(d).readinessProbe = { exec: { command: ['true'] }, successThreshold: 1 };
        setEnv(queue(d), 'SERVING_READINESS_PROBE', '{"exec":{"command":["true"]},"successThreshold":1}');
      },
    },
    {
      name: 'aims a liveness probe at the user port',
      w: (w) => {
        w.spec.containers[0]!.livenessProbe = { httpGet: { path: '/healthz', port: 1234 } };
      },
      want: (d) => {
        user(d).livenessProbe = { httpGet: { path: '/healthz', port: 8080 } };
      },
    },
    {
      name: "appends PORT and K_* after the user's env, and keeps its other container fields",
      w: (w) => {
        Object.assign(w.spec.containers[0] as object, {
          env: [{ name: 'TARGET', value: 'World' }],
          command: ['/ko-app/hello'],
          args: ['--verbose'],
          resources: { requests: { cpu: 0.5, memory: '64Mi' }, limits: { memory: '128Mi' } },
          securityContext: { runAsUser: 1000 },
          terminationMessagePolicy: 'File',
        });
      },
      want: (d) => {
        const c = user(d);
        c.env = [{ name: 'TARGET', value: 'World' }, ...(c.env ?? [])];
        Object.assign(c, {
          command: ['/ko-app/hello'],
          args: ['--verbose'],
          resources: { requests: { cpu: '0.5', memory: '64Mi' }, limits: { memory: '128Mi' } },
          securityContext: { runAsUser: 1000 },
          terminationMessagePolicy: 'File',
        });
      },
    },
    {
      name: 'keeps pod-level fields (service account, volumes) and lets a revision turn service links on',
      w: (w) => {
        Object.assign(w.spec, {
          serviceAccountName: 'robot',
          enableServiceLinks: true,
          volumes: [{ name: 'config', configMap: { name: 'hello-config' } }],
        });
      },
      want: (d) => {
        Object.assign(pod(d), {
          serviceAccountName: 'robot',
          enableServiceLinks: true,
          volumes: [{ name: 'config', configMap: { name: 'hello-config' } }],
        });
      },
    },
    {
      name: 'copies annotations except autoscaling ones and routing bookkeeping',
      w: (w) => {
        w.annotations = {
          'serving.knative.dev/creator': 'alice',
          'autoscaling.knative.dev/min-scale': '2',
          'serving.knative.dev/routes': 'hello',
        };
      },
      want: (d) => {
        d.metadata!.annotations = { 'serving.knative.dev/creator': 'alice' };
        d.spec!.template.metadata!.annotations = {
          'serving.knative.dev/creator': 'alice',
          'kubectl.kubernetes.io/default-container': 'user-container',
        };
      },
    },
    {
      name: 'takes the progress deadline from serving.knative.dev/progress-deadline',
      w: (w) => {
        w.annotations = { 'serving.knative.dev/progress-deadline': '90s' };
      },
      want: (d) => {
        d.spec!.progressDeadlineSeconds = 90;
        d.metadata!.annotations = { 'serving.knative.dev/progress-deadline': '90s' };
        d.spec!.template.metadata!.annotations = {
          'serving.knative.dev/progress-deadline': '90s',
          'kubectl.kubernetes.io/default-container': 'user-container',
        };
      },
    },
    {
      name: "keeps the user's app label on pods",
      w: (w) => {
        w.labels = { ...w.labels, app: 'greeter' };
      },
      want: (d) => {
        d.metadata!.labels = { ...labels, app: 'greeter' };
        d.spec!.template.metadata!.labels = { ...labels, app: 'greeter' };
      },
    },
    {
      name: 'puts every revision in one target namespace when given one',
      target: 'skiff',
      want: (d) => {
        d.metadata!.namespace = 'skiff';
      },
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const want = baseDeployment();
      c.want(want);
      const w = revision(c.w);
      expect(makeDeployment(w, c.replicas ?? 1, placement(w.namespace, w.revision, c.target))).toEqual(want);
    });
  }

  it('gives the second container of a two-container revision K_* and the drain hook, but PORT only to the serving one', () => {
    const w = revision((w) => {
      w.spec.containers = [
        { name: 'app', image: 'app', ports: [{ containerPort: 8081 }] },
        { name: 'sidecar', image: 'side' },
      ];
    });
    const d = makeDeployment(w, 1, placement('default', 'hello-00001'));
    const [app, sidecar, qp] = pod(d).containers;
    expect(app?.env?.map((e) => e.name)).toEqual(['PORT', 'K_REVISION', 'K_CONFIGURATION', 'K_SERVICE']);
    expect(app?.ports).toEqual([{ name: 'user-port', containerPort: 8081, protocol: 'TCP' }]);
    expect(sidecar?.env?.map((e) => e.name)).toEqual(['K_REVISION', 'K_CONFIGURATION', 'K_SERVICE']);
    expect(sidecar?.ports).toBeUndefined();
    expect(sidecar?.lifecycle?.preStop?.httpGet).toEqual({ port: 8022, path: '/wait-for-drain' });
    expect(qp?.name).toBe('queue-proxy');
    expect(d.spec?.template.metadata?.annotations?.['kubectl.kubernetes.io/default-container']).toBe('app');
  });

  it('uses the configured queue-proxy image and requests', () => {
    const d = makeDeployment(revision(), 1, placement('default', 'hello-00001'), {
      ...kubernetesDefaults,
      queueProxyImage: 'registry.example/qp:dev',
      queueProxyRequests: { cpu: '50m', memory: '32Mi' },
    });
    expect(queue(d).image).toBe('registry.example/qp:dev');
    expect(queue(d).resources).toEqual({ requests: { cpu: '50m', memory: '32Mi' } });
  });
});

describe('stats push in the pod spec', () => {
  const url = 'https://skiff-control-plane.skiff:8090';
  it.each([
    {
      what: 'with a CA: the URL, the token from the Secret, the CA mounted from it',
      ca: true,
      env: [
        { name: 'SKIFF_STATS_PUSH_URL', value: url },
        { name: 'SKIFF_STATS_PUSH_TOKEN', valueFrom: { secretKeyRef: { name: statsPushSecretName, key: 'token' } } },
        { name: 'SKIFF_STATS_PUSH_CA', value: '/var/run/skiff/stats-push/ca.crt' },
      ],
      mounts: [{ name: 'skiff-stats-push', mountPath: '/var/run/skiff/stats-push', readOnly: true }],
      volumes: [
        {
          name: 'skiff-stats-push',
          secret: { secretName: statsPushSecretName, items: [{ key: 'ca.crt', path: 'ca.crt' }] },
        },
      ],
    },
    {
      what: 'without one (plain HTTP, or a publicly trusted certificate): no volume',
      ca: false,
      env: [
        { name: 'SKIFF_STATS_PUSH_URL', value: url },
        { name: 'SKIFF_STATS_PUSH_TOKEN', valueFrom: { secretKeyRef: { name: statsPushSecretName, key: 'token' } } },
      ],
      mounts: undefined,
      volumes: undefined,
    },
  ])('tells the queue-proxy where to push, $what', ({ ca, env, mounts, volumes }) => {
    const d = makeDeployment(revision(), 1, placement('default', 'hello-00001'), kubernetesDefaults, {
      url,
      secret: statsPushSecretName,
      ca,
    });
    const base = makeDeployment(revision(), 1, placement('default', 'hello-00001'));
    expect(queue(d).env?.slice(queue(base).env?.length)).toEqual(env);
    expect(queue(d).volumeMounts).toEqual(mounts);
    expect(pod(d).volumes).toEqual(volumes);
    // The token itself is never in the Deployment.
    expect(JSON.stringify(d)).not.toContain('router-token-value');
  });

  it('keeps the token (and CA) in a Secret Skiff manages', () => {
    expect(makeStatsPushSecret('team-a', 'router-token-value', 'PEM')).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: statsPushSecretName, namespace: 'team-a', labels: { 'app.kubernetes.io/managed-by': 'skiff' } },
      type: 'Opaque',
      data: {
        token: Buffer.from('router-token-value').toString('base64'),
        'ca.crt': Buffer.from('PEM').toString('base64'),
      },
    });
    expect(makeStatsPushSecret('team-a', 't').data).toEqual({ token: 'dA==' });
  });
});

describe('servingReadinessProbe', () => {
  it('is the TCP probe Knative hands the queue-proxy when the user gave none', () => {
    expect(
      servingReadinessProbe(
        revision((w) => {
          delete w.spec.containers[0]!.readinessProbe;
        }),
      ),
    ).toEqual({ tcpSocket: { port: 8080, host: '127.0.0.1' }, successThreshold: 1 });
  });
});

describe('makeService', () => {
  const base = (): V1Service => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'hello-00001',
      namespace: 'default',
      labels: { ...labels },
      annotations: {},
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          name: 'hello-00001-deployment',
          uid: 'dep-uid',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      selector: { 'serving.knative.dev/revisionUID': uid },
      ports: [
        { name: 'http', port: 80, targetPort: 8012, protocol: 'TCP' },
        { name: 'http-autometric', port: 9090, targetPort: 9090, protocol: 'TCP' },
      ],
    },
  });

  it('serves port 80 from the queue-proxy, selects the revision, and is owned by its Deployment', () => {
    expect(makeService(revision(), placement('default', 'hello-00001'), { uid: 'dep-uid' })).toEqual(base());
  });

  it('has no owner before the Deployment exists', () => {
    const want = base();
    delete want.metadata!.ownerReferences;
    expect(makeService(revision(), placement('default', 'hello-00001'))).toEqual(want);
  });
});

describe('placement', () => {
  const long = `${'a'.repeat(50)}-00001`;
  it.each([
    [
      'default',
      'hello-00001',
      undefined,
      { namespace: 'default', deployment: 'hello-00001-deployment', service: 'hello-00001' },
    ],
    [
      'team-a',
      'hello-00001',
      undefined,
      { namespace: 'team-a', deployment: 'hello-00001-deployment', service: 'hello-00001' },
    ],
    [
      'default',
      'hello-00001',
      'skiff',
      { namespace: 'skiff', deployment: 'hello-00001-deployment', service: 'hello-00001' },
    ],
    [
      'team-a',
      'hello-00001',
      'skiff',
      { namespace: 'skiff', deployment: 'team-a-hello-00001-deployment', service: 'team-a-hello-00001' },
    ],
  ])('%s/%s with target %s', (ns, rev, target, want) => {
    expect(placement(ns, rev, target)).toEqual(want);
  });

  it('keeps names within 63 characters (kmeta.ChildName)', () => {
    const p = placement('default', long);
    expect(p.service).toBe(long);
    expect(p.deployment).toHaveLength(63);
    expect(p.deployment.endsWith('-deployment')).toBe(true);
    const q = placement('a-rather-long-namespace', long, 'skiff');
    expect(q.service).toHaveLength(63);
    expect(q.deployment).toHaveLength(63);
  });
});

describe('specHash', () => {
  it('ignores key order and changes with any value', () => {
    expect(specHash({ a: 1, b: { c: [1, 2] } })).toBe(specHash({ b: { c: [1, 2] }, a: 1 }));
    expect(specHash({ a: 1, b: { c: [1, 2] } })).not.toBe(specHash({ a: 1, b: { c: [2, 1] } }));
  });
});
