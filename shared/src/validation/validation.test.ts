import { describe, expect, it } from 'vitest';
import { decodeResource, type Service } from '../index.ts';

/** A valid Service; each case changes one thing. */
function base(): Record<string, any> {
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name: 'hello', namespace: 'default' },
    spec: {
      template: {
        spec: {
          containers: [{ image: 'ghcr.io/knative/helloworld-go:latest', env: [{ name: 'TARGET', value: 'World' }] }],
        },
      },
    },
  };
}

type Mutate = (s: Record<string, any>) => void;
const container = (s: Record<string, any>) => s.spec.template.spec.containers[0];
const annotate =
  (annotations: Record<string, string>): Mutate =>
  (s) => {
    s.spec.template.metadata = { annotations };
  };
const traffic =
  (targets: unknown[]): Mutate =>
  (s) => {
    s.spec.traffic = targets;
  };
const ann = (key: string) => `spec.template.metadata.annotations[autoscaling.knative.dev/${key}]`;

// [behaviour, change, field paths of the expected causes ([] = valid)]
const cases: [string, Mutate, string[]][] = [
  ['the base service is valid', () => {}, []],
  // metadata
  ['a name with upper case is rejected', (s) => (s.metadata.name = 'Hello'), ['metadata.name']],
  ['a name starting with a digit is rejected (DNS-1035)', (s) => (s.metadata.name = '1hello'), ['metadata.name']],
  ['a 63-character name is accepted', (s) => (s.metadata.name = 'a'.repeat(63)), []],
  ['a 64-character name is rejected', (s) => (s.metadata.name = 'a'.repeat(64)), ['metadata.name']],
  ['a missing name is rejected', (s) => delete s.metadata.name, ['metadata.name']],
  [
    'generateName stands in for a name',
    (s) => {
      delete s.metadata.name;
      s.metadata.generateName = 'hello-';
    },
    [],
  ],
  [
    'an invalid generateName is rejected',
    (s) => {
      delete s.metadata.name;
      s.metadata.generateName = 'Hello-';
    },
    ['metadata.generateName'],
  ],
  ['an invalid namespace is rejected', (s) => (s.metadata.namespace = 'Bad_NS'), ['metadata.namespace']],
  ['an invalid label key is rejected', (s) => (s.metadata.labels = { 'bad key': 'x' }), ['metadata.labels']],
  ['an invalid label value is rejected', (s) => (s.metadata.labels = { app: 'not ok' }), ['metadata.labels[app]']],
  [
    'cluster-local visibility is accepted',
    (s) => (s.metadata.labels = { 'networking.knative.dev/visibility': 'cluster-local' }),
    [],
  ],
  [
    'an unknown visibility is rejected',
    (s) => (s.metadata.labels = { 'networking.knative.dev/visibility': 'private' }),
    ['metadata.labels[networking.knative.dev/visibility]'],
  ],
  [
    'a valid rollout duration is accepted',
    (s) => (s.metadata.annotations = { 'serving.knative.dev/rollout-duration': '120s' }),
    [],
  ],
  [
    'an invalid rollout duration is rejected',
    (s) => (s.metadata.annotations = { 'serving.knative.dev/rollout-duration': 'soon' }),
    ['metadata.annotations[serving.knative.dev/rollout-duration]'],
  ],
  // shape
  ['a wrong apiVersion is rejected', (s) => (s.apiVersion = 'serving.knative.dev/v1beta1'), ['apiVersion']],
  ['a wrong kind is rejected', (s) => (s.kind = 'Deployment'), ['kind']],
  ['an unknown spec field is rejected', (s) => (s.spec.templat = {}), ['spec.templat']],
  ['a missing template is rejected', (s) => delete s.spec.template, ['spec.template']],
  [
    'a string where a number belongs is rejected',
    (s) => (s.spec.template.spec.containerConcurrency = '10'),
    ['spec.template.spec.containerConcurrency'],
  ],
  ['an unknown traffic field is rejected', traffic([{ percentage: 100 }]), ['spec.traffic[0].percentage']],
  // traffic
  ['an explicit 100% to latest is accepted', traffic([{ latestRevision: true, percent: 100 }]), []],
  [
    'a 50/50 split with tags is accepted',
    traffic([
      { revisionName: 'hello-00001', percent: 50, tag: 'blue' },
      { latestRevision: true, percent: 50, tag: 'green' },
    ]),
    [],
  ],
  ['traffic summing to 90 is rejected', traffic([{ percent: 90 }]), ['spec.traffic']],
  ['a missing percent counts as 0', traffic([{ revisionName: 'hello-00001', tag: 'old' }, { percent: 100 }]), []],
  [
    'a percent above 100 is rejected',
    traffic([{ percent: 150 }, { revisionName: 'hello-00001', percent: -50 }]),
    ['spec.traffic[0].percent', 'spec.traffic[1].percent'],
  ],
  [
    'a duplicate tag is rejected',
    traffic([
      { percent: 50, tag: 'a' },
      { revisionName: 'hello-00001', percent: 50, tag: 'a' },
    ]),
    ['spec.traffic[1].tag'],
  ],
  ['a tag that is no DNS-1035 label is rejected', traffic([{ percent: 100, tag: 'Blue' }]), ['spec.traffic[0].tag']],
  [
    'a tag whose host label passes 63 characters is rejected',
    traffic([{ percent: 100, tag: 't'.repeat(60) }]),
    ['spec.traffic[0].tag'],
  ],
  [
    'latestRevision true with a revisionName is rejected',
    traffic([{ revisionName: 'hello-00001', latestRevision: true, percent: 100 }]),
    ['spec.traffic[0].latestRevision'],
  ],
  [
    'latestRevision false without a revisionName is rejected',
    traffic([{ latestRevision: false, percent: 100 }]),
    ['spec.traffic[0].latestRevision'],
  ],
  [
    'configurationName inside a Service is rejected',
    traffic([{ configurationName: 'hello', percent: 100 }]),
    ['spec.traffic[0].configurationName'],
  ],
  ['url in spec is rejected', traffic([{ percent: 100, url: 'http://x' }]), ['spec.traffic[0].url']],
  // revision name
  [
    'a BYO revision name with the service prefix is accepted',
    (s) => (s.spec.template.metadata = { name: 'hello-v2' }),
    [],
  ],
  [
    'a BYO revision name without the prefix is rejected',
    (s) => (s.spec.template.metadata = { name: 'world-v2' }),
    ['spec.template.metadata.name'],
  ],
  [
    'a BYO revision name is forbidden when the service uses generateName',
    (s) => {
      delete s.metadata.name;
      s.metadata.generateName = 'hello-';
      s.spec.template.metadata = { name: 'hello-v2' };
    },
    ['spec.template.metadata.name'],
  ],
  [
    'an invalid template generateName is rejected',
    (s) => (s.spec.template.metadata = { generateName: 'Rev-' }),
    ['spec.template.metadata.generateName'],
  ],
  // revision spec
  ['containerConcurrency 1000 is accepted', (s) => (s.spec.template.spec.containerConcurrency = 1000), []],
  [
    'containerConcurrency 1001 is rejected',
    (s) => (s.spec.template.spec.containerConcurrency = 1001),
    ['spec.template.spec.containerConcurrency'],
  ],
  [
    'negative containerConcurrency is rejected',
    (s) => (s.spec.template.spec.containerConcurrency = -1),
    ['spec.template.spec.containerConcurrency'],
  ],
  ['timeoutSeconds 600 is accepted', (s) => (s.spec.template.spec.timeoutSeconds = 600), []],
  [
    'timeoutSeconds 601 is rejected',
    (s) => (s.spec.template.spec.timeoutSeconds = 601),
    ['spec.template.spec.timeoutSeconds'],
  ],
  [
    'a response-start timeout within the timeout is accepted',
    (s) => {
      s.spec.template.spec.timeoutSeconds = 60;
      s.spec.template.spec.responseStartTimeoutSeconds = 30;
    },
    [],
  ],
  [
    'a response-start timeout past the timeout is rejected',
    (s) => {
      s.spec.template.spec.timeoutSeconds = 60;
      s.spec.template.spec.responseStartTimeoutSeconds = 90;
    },
    ['spec.template.spec.responseStartTimeoutSeconds'],
  ],
  [
    'an idle timeout past the maximum is rejected',
    (s) => (s.spec.template.spec.idleTimeoutSeconds = 601),
    ['spec.template.spec.idleTimeoutSeconds'],
  ],
  ['no containers is rejected', (s) => (s.spec.template.spec.containers = []), ['spec.template.spec.containers']],
  [
    'a container with neither image nor command is rejected',
    (s) => delete container(s).image,
    ['spec.template.spec.containers[0].image'],
  ],
  [
    'a command-only container is accepted (local backend)',
    (s) => {
      delete container(s).image;
      container(s).command = ['node', 'server.js'];
    },
    [],
  ],
  [
    'the sidecar container name is reserved',
    (s) => (container(s).name = 'queue-proxy'),
    ['spec.template.spec.containers[0].name'],
  ],
  [
    'duplicate container names are rejected',
    (s) => {
      s.spec.template.spec.containers = [
        { name: 'app', image: 'a', ports: [{ containerPort: 8080 }] },
        { name: 'app', image: 'b' },
      ];
    },
    ['spec.template.spec.containers[1].name'],
  ],
  [
    'several containers need one serving port',
    (s) => {
      s.spec.template.spec.containers = [
        { name: 'a', image: 'a' },
        { name: 'b', image: 'b' },
      ];
    },
    ['spec.template.spec.containers'],
  ],
  [
    'two ports are rejected',
    (s) => (container(s).ports = [{ containerPort: 8080 }, { containerPort: 8081 }]),
    ['spec.template.spec.containers'],
  ],
  [
    'a reserved port is rejected',
    (s) => (container(s).ports = [{ containerPort: 8012 }]),
    ['spec.template.spec.containers[0].ports[0].containerPort'],
  ],
  [
    'a port above 65535 is rejected',
    (s) => (container(s).ports = [{ containerPort: 70000 }]),
    ['spec.template.spec.containers[0].ports[0].containerPort'],
  ],
  ['port name h2c is accepted', (s) => (container(s).ports = [{ name: 'h2c', containerPort: 9000 }]), []],
  [
    'an unknown port name is rejected',
    (s) => (container(s).ports = [{ name: 'grpc', containerPort: 9000 }]),
    ['spec.template.spec.containers[0].ports[0].name'],
  ],
  [
    'a UDP port is rejected',
    (s) => (container(s).ports = [{ containerPort: 9000, protocol: 'UDP' }]),
    ['spec.template.spec.containers[0].ports[0].protocol'],
  ],
  [
    'a host port is rejected',
    (s) => (container(s).ports = [{ containerPort: 9000, hostPort: 80 }]),
    ['spec.template.spec.containers[0].ports[0].hostPort'],
  ],
  [
    'a reserved env var is rejected',
    (s) => (container(s).env = [{ name: 'K_REVISION', value: 'x' }]),
    ['spec.template.spec.containers[0].env[0].name'],
  ],
  [
    'an invalid env var name is rejected',
    (s) => (container(s).env = [{ name: '1X', value: 'x' }]),
    ['spec.template.spec.containers[0].env[0].name'],
  ],
  [
    'env from a secret is accepted',
    (s) => (container(s).env = [{ name: 'PW', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }]),
    [],
  ],
  [
    'env with value and valueFrom is rejected',
    (s) => {
      container(s).env = [{ name: 'A', value: 'x', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }];
    },
    ['spec.template.spec.containers[0].env[0].valueFrom'],
  ],
  [
    'env from two sources is rejected',
    (s) => {
      container(s).env = [{ name: 'A', valueFrom: { secretKeyRef: { key: 'k' }, configMapKeyRef: { key: 'k' } } }];
    },
    ['spec.template.spec.containers[0].env[0].valueFrom'],
  ],
  [
    'an httpGet readiness probe on the container port is accepted',
    (s) => {
      container(s).readinessProbe = { httpGet: { path: '/healthz', port: 8080 } };
    },
    [],
  ],
  [
    'a probe with two handlers is rejected',
    (s) => {
      container(s).readinessProbe = { httpGet: { path: '/' }, tcpSocket: {} };
    },
    ['spec.template.spec.containers[0].readinessProbe'],
  ],
  [
    'a probe on another port is rejected',
    (s) => (container(s).readinessProbe = { httpGet: { port: 9999 } }),
    ['spec.template.spec.containers[0].readinessProbe.httpGet.port'],
  ],
  [
    'an exec probe without a command is rejected',
    (s) => (container(s).readinessProbe = { exec: {} }),
    ['spec.template.spec.containers[0].readinessProbe.exec.command'],
  ],
  [
    'failureThreshold with periodSeconds 0 is rejected',
    (s) => (container(s).readinessProbe = { tcpSocket: {}, failureThreshold: 3 }),
    ['spec.template.spec.containers[0].readinessProbe.failureThreshold'],
  ],
  [
    'a negative periodSeconds is rejected',
    (s) => (container(s).readinessProbe = { tcpSocket: {}, periodSeconds: -1 }),
    ['spec.template.spec.containers[0].readinessProbe.periodSeconds'],
  ],
  [
    'a successThreshold below 1 is rejected',
    (s) => (container(s).readinessProbe = { tcpSocket: {}, successThreshold: -1 }),
    ['spec.template.spec.containers[0].readinessProbe.successThreshold'],
  ],
  [
    'valid resources are accepted',
    (s) => (container(s).resources = { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: 1 } }),
    [],
  ],
  [
    'an invalid quantity is rejected',
    (s) => (container(s).resources = { requests: { cpu: 'lots' } }),
    ['spec.template.spec.containers[0].resources.requests[cpu]'],
  ],
  [
    'a request above its limit is rejected',
    (s) => (container(s).resources = { requests: { cpu: '2' }, limits: { cpu: '500m' } }),
    ['spec.template.spec.containers[0].resources.requests[cpu]'],
  ],
  [
    'a mount over /dev is rejected',
    (s) => (container(s).volumeMounts = [{ name: 'v', mountPath: '/dev/' }]),
    ['spec.template.spec.containers[0].volumeMounts[0].mountPath'],
  ],
  [
    'lifecycle hooks are rejected',
    (s) => (container(s).lifecycle = { preStop: {} }),
    ['spec.template.spec.containers[0].lifecycle'],
  ],
  // strict decoding: a field Knative does not allow is refused by its path, as Knative's webhook does
  ['an unknown pod spec field is rejected', (s) => (s.spec.template.spec.foo = 1), ['spec.template.spec.foo']],
  ...(['hostNetwork', 'initContainers', 'nodeSelector', 'affinity', 'tolerations', 'nodeName', 'dnsPolicy'].map(
    (field): [string, Mutate, string[]] => [
      `the pod spec field ${field}, which Knative masks, is rejected`,
      (s) => (s.spec.template.spec[field] = field === 'hostNetwork' ? true : {}),
      [`spec.template.spec.${field}`],
    ],
  ) as [string, Mutate, string[]][]),
  ['an unknown container field is rejected', (s) => (container(s).foo = 'x'), ['spec.template.spec.containers[0].foo']],
  ...(['stdin', 'tty', 'volumeDevices', 'Image'].map((field): [string, Mutate, string[]] => [
    `the container field ${field} is rejected`,
    (s) => (container(s)[field] = field === 'volumeDevices' ? [] : true),
    [`spec.template.spec.containers[0].${field}`],
  ]) as [string, Mutate, string[]][]),
  [
    'an unknown field of a second container is rejected',
    (s) => s.spec.template.spec.containers.push({ image: 'x', bogus: 1 }),
    ['spec.template.spec.containers[1].bogus'],
  ],
  [
    'a volume mount with propagation is rejected',
    (s) => (container(s).volumeMounts = [{ name: 'v', mountPath: '/data', mountPropagation: 'Bidirectional' }]),
    ['spec.template.spec.containers[0].volumeMounts[0].mountPropagation'],
  ],
  [
    'an unknown resources field is rejected',
    (s) => (container(s).resources = { requests: { cpu: '1' }, claims: [] }),
    ['spec.template.spec.containers[0].resources.claims'],
  ],
  ['an unknown metadata field is rejected', (s) => (s.metadata.bogus = 'x'), ['metadata.bogus']],
  [
    'an unknown template metadata field is rejected',
    (s) => (s.spec.template.metadata = { bogus: 'x' }),
    ['spec.template.metadata.bogus'],
  ],
  [
    'every other ObjectMeta field is accepted',
    (s) =>
      Object.assign(s.metadata, {
        finalizers: ['x.dev/f'],
        ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'c', uid: 'u' }],
        selfLink: '',
        managedFields: [],
      }),
    [],
  ],
  [
    'the container fields Knative allows are accepted',
    (s) =>
      Object.assign(container(s), {
        envFrom: [{ prefix: 'P_', configMapRef: { name: 'c' } }, { secretRef: { name: 's', optional: true } }],
        securityContext: { runAsNonRoot: true, capabilities: { drop: ['ALL'] } },
        startupProbe: { tcpSocket: {} },
        terminationMessagePolicy: 'FallbackToLogsOnError',
        imagePullPolicy: 'IfNotPresent',
      }),
    [],
  ],
  [
    'the pod spec fields Knative allows are accepted',
    (s) =>
      Object.assign(s.spec.template.spec, {
        serviceAccountName: 'sa',
        imagePullSecrets: [{ name: 'regcred' }],
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        volumes: [{ name: 'v', configMap: { name: 'c' } }],
      }),
    [],
  ],
  // the Service's own autoscaling annotations, validated as the template's (Knative does)
  [
    'a non-numeric min-scale on the Service is rejected',
    (s) => (s.metadata.annotations = { 'autoscaling.knative.dev/min-scale': 'abc' }),
    ['metadata.annotations[autoscaling.knative.dev/min-scale]'],
  ],
  [
    'a 1s window on the Service is rejected',
    (s) => (s.metadata.annotations = { 'autoscaling.knative.dev/window': '1s' }),
    ['metadata.annotations[autoscaling.knative.dev/window]'],
  ],
  [
    'a valid max-scale on the Service is accepted',
    (s) => (s.metadata.annotations = { 'autoscaling.knative.dev/max-scale': '3' }),
    [],
  ],
  // Kubernetes' size limits
  [
    'annotations of 256 KiB together are accepted',
    (s) => (s.metadata.annotations = { a: 'x'.repeat(256 * 1024 - 1) }),
    [],
  ],
  [
    'annotations over 256 KiB together are rejected',
    (s) => (s.metadata.annotations = { a: 'x'.repeat(200 * 1024), b: 'x'.repeat(60 * 1024) }),
    ['metadata.annotations'],
  ],
  [
    'annotation sizes count UTF-8 bytes, as Kubernetes does',
    (s) => (s.metadata.annotations = { a: '€'.repeat(100_000) }),
    ['metadata.annotations'],
  ],
  [
    'template annotations over 256 KiB are rejected',
    (s) => (s.spec.template.metadata = { annotations: { a: 'x'.repeat(300 * 1024) } }),
    ['spec.template.metadata.annotations'],
  ],
  [
    '15,000 labels are accepted',
    (s) => (s.metadata.labels = Object.fromEntries(Array.from({ length: 15_000 }, (_, i) => [`l${i}`, 'v']))),
    [],
  ],
  [
    'a label name part of 64 characters is rejected',
    (s) => (s.metadata.labels = { ['a'.repeat(64)]: 'v' }),
    ['metadata.labels'],
  ],
  [
    'a label value of 64 characters is rejected',
    (s) => (s.metadata.labels = { app: 'a'.repeat(64) }),
    ['metadata.labels[app]'],
  ],
  // autoscaling annotations
  [
    'min/max scale within bounds are accepted',
    annotate({ 'autoscaling.knative.dev/min-scale': '1', 'autoscaling.knative.dev/max-scale': '5' }),
    [],
  ],
  ['a negative min-scale is rejected', annotate({ 'autoscaling.knative.dev/min-scale': '-1' }), [ann('min-scale')]],
  ['a non-numeric min-scale is rejected', annotate({ 'autoscaling.knative.dev/min-scale': 'one' }), [ann('min-scale')]],
  [
    'max-scale below min-scale is rejected',
    annotate({ 'autoscaling.knative.dev/min-scale': '5', 'autoscaling.knative.dev/max-scale': '2' }),
    [ann('max-scale')],
  ],
  [
    'both spellings of min-scale are rejected',
    annotate({ 'autoscaling.knative.dev/min-scale': '1', 'autoscaling.knative.dev/minScale': '1' }),
    [ann('minScale')],
  ],
  ['the older camelCase spelling is accepted', annotate({ 'autoscaling.knative.dev/maxScale': '3' }), []],
  ['target 0.01 is accepted', annotate({ 'autoscaling.knative.dev/target': '0.01' }), []],
  ['target 0 is rejected', annotate({ 'autoscaling.knative.dev/target': '0' }), [ann('target')]],
  ['utilization 100 is accepted', annotate({ 'autoscaling.knative.dev/target-utilization-percentage': '100' }), []],
  [
    'utilization 101 is rejected',
    annotate({ 'autoscaling.knative.dev/target-utilization-percentage': '101' }),
    [ann('target-utilization-percentage')],
  ],
  [
    'panic window 0% is rejected',
    annotate({ 'autoscaling.knative.dev/panic-window-percentage': '0' }),
    [ann('panic-window-percentage')],
  ],
  ['panic threshold 110% is accepted', annotate({ 'autoscaling.knative.dev/panic-threshold-percentage': '110' }), []],
  [
    'panic threshold 100% is rejected',
    annotate({ 'autoscaling.knative.dev/panic-threshold-percentage': '100' }),
    [ann('panic-threshold-percentage')],
  ],
  [
    'panic threshold 1001% is rejected',
    annotate({ 'autoscaling.knative.dev/panic-threshold-percentage': '1001' }),
    [ann('panic-threshold-percentage')],
  ],
  ['a 6s window is accepted', annotate({ 'autoscaling.knative.dev/window': '6s' }), []],
  ['a 5s window is rejected', annotate({ 'autoscaling.knative.dev/window': '5s' }), [ann('window')]],
  ['a window over an hour is rejected', annotate({ 'autoscaling.knative.dev/window': '61m' }), [ann('window')]],
  ['a window with milliseconds is rejected', annotate({ 'autoscaling.knative.dev/window': '6500ms' }), [ann('window')]],
  ['scale-down-delay 15m is accepted', annotate({ 'autoscaling.knative.dev/scale-down-delay': '15m' }), []],
  [
    'scale-down-delay over an hour is rejected',
    annotate({ 'autoscaling.knative.dev/scale-down-delay': '2h' }),
    [ann('scale-down-delay')],
  ],
  [
    'a negative pod retention is rejected',
    annotate({ 'autoscaling.knative.dev/scale-to-zero-pod-retention-period': '-1s' }),
    [ann('scale-to-zero-pod-retention-period')],
  ],
  ['metric rps is accepted', annotate({ 'autoscaling.knative.dev/metric': 'rps' }), []],
  ['metric cpu is rejected', annotate({ 'autoscaling.knative.dev/metric': 'cpu' }), [ann('metric')]],
  [
    'the hpa class is rejected',
    annotate({ 'autoscaling.knative.dev/class': 'hpa.autoscaling.knative.dev' }),
    [ann('class')],
  ],
  [
    'an unknown aggregation algorithm is rejected',
    annotate({ 'autoscaling.knative.dev/metric-aggregation-algorithm': 'median' }),
    [ann('metric-aggregation-algorithm')],
  ],
  ['target-burst-capacity -1 is accepted', annotate({ 'autoscaling.knative.dev/target-burst-capacity': '-1' }), []],
  [
    'target-burst-capacity -2 is rejected',
    annotate({ 'autoscaling.knative.dev/target-burst-capacity': '-2' }),
    [ann('target-burst-capacity')],
  ],
  [
    'initial-scale 0 is rejected by default',
    annotate({ 'autoscaling.knative.dev/initial-scale': '0' }),
    [ann('initial-scale')],
  ],
  ['activation-scale 3 is accepted', annotate({ 'autoscaling.knative.dev/activation-scale': '3' }), []],
  [
    'activation-scale 1 is rejected',
    annotate({ 'autoscaling.knative.dev/activation-scale': '1' }),
    [ann('activation-scale')],
  ],
  [
    'activation-scale above max-scale is rejected',
    annotate({ 'autoscaling.knative.dev/activation-scale': '5', 'autoscaling.knative.dev/max-scale': '3' }),
    [ann('activation-scale')],
  ],
];

describe('Service validation', () => {
  it.each(cases)('%s', (_name, mutate, expected) => {
    const svc = base();
    mutate(svc);
    const decoded = decodeResource('Service', svc);
    const fields = decoded.ok ? [] : (decoded.status.details?.causes ?? []).map((c) => c.field);
    expect(fields.sort()).toEqual([...expected].sort());
    if (!decoded.ok) {
      expect(decoded.status).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Invalid', code: 422 });
      for (const cause of decoded.status.details?.causes ?? []) expect(cause.message?.length).toBeGreaterThan(5);
    }
  });

  it('reports every problem at once, not the first', () => {
    const svc = base();
    svc.metadata.name = 'Bad';
    svc.spec.template.spec.containerConcurrency = 5000;
    svc.spec.traffic = [{ percent: 40 }];
    const decoded = decodeResource('Service', svc);
    expect(decoded.ok).toBe(false);
    if (decoded.ok) return;
    expect(decoded.status.details?.causes?.map((c) => c.field).sort()).toEqual([
      'metadata.name',
      'spec.template.spec.containerConcurrency',
      'spec.traffic',
    ]);
    expect(decoded.status.message).toContain('Service.serving.knative.dev "Bad" is invalid: [');
    expect(decoded.status.message).toContain('spec.traffic: Invalid value: 40: traffic targets sum to 40, want 100');
  });

  it('says what is allowed in the message', () => {
    const svc = base();
    svc.spec.template.spec.timeoutSeconds = 900;
    const decoded = decodeResource('Service', svc);
    expect(decoded.ok ? '' : decoded.status.details?.causes?.[0]?.message).toBe(
      'Invalid value: 900: must be between 0 and 600 inclusive',
    );
  });

  it('returns the defaulted service when valid', () => {
    const decoded = decodeResource('Service', base());
    expect(decoded.ok).toBe(true);
    const svc = (decoded as { value: Service }).value;
    expect(svc.spec.traffic).toEqual([{ latestRevision: true, percent: 100 }]);
    expect(svc.spec.template.spec.timeoutSeconds).toBe(300);
  });

  it('rejects a document that is not an object', () => {
    const decoded = decodeResource('Service', ['a']);
    expect(decoded.ok).toBe(false);
  });
});

describe('Route and Configuration validation', () => {
  it('accepts a route to a configuration and a pinned revision', () => {
    const decoded = decodeResource('Route', {
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Route',
      metadata: { name: 'web' },
      spec: {
        traffic: [
          { configurationName: 'web', percent: 80 },
          { revisionName: 'web-00001', percent: 20 },
        ],
      },
    });
    expect(decoded.ok).toBe(true);
  });

  it('rejects a route target naming both a revision and a configuration', () => {
    const decoded = decodeResource('Route', {
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Route',
      metadata: { name: 'web' },
      spec: { traffic: [{ configurationName: 'web', revisionName: 'web-00001', percent: 100 }] },
    });
    expect(decoded.ok ? [] : decoded.status.details?.causes?.map((c) => c.field)).toEqual(['spec.traffic[0]']);
  });

  it('validates a configuration template like a service template', () => {
    const decoded = decodeResource('Configuration', {
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Configuration',
      metadata: { name: 'web' },
      spec: { template: { metadata: { name: 'other-1' }, spec: { containers: [{ image: 'x' }] } } },
    });
    expect(decoded.ok ? [] : decoded.status.details?.causes?.map((c) => c.field)).toEqual([
      'spec.template.metadata.name',
    ]);
  });
});
