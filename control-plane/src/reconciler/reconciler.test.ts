import { createServer } from 'node:net';
import { defaultService, type RevisionSpec } from '@skiff/shared';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, harness, service, svcPath } from '../testing/harness.ts';
import { revisionStatus } from './revision-status.ts';
import { planRevision, type RevisionInfo, resolveTraffic, serviceStatus } from './service-state.ts';
import { WorkQueue } from './work-queue.ts';

const spec = (env = 'v1'): { template: { spec: RevisionSpec } } => ({
  template: { spec: { containers: [{ image: 'x', env: [{ name: 'A', value: env }] }] } },
});
const defaulted = (s: ReturnType<typeof spec> & { template: { metadata?: { name?: string } } }) =>
  defaultService({ apiVersion: 'serving.knative.dev/v1', kind: 'Service', metadata: { name: 'hello' }, spec: s }).spec;

describe('planRevision', () => {
  const none = () => undefined;
  it('creates the first revision as <service>-00001', () => {
    expect(
      planRevision({ name: 'hello', spec: defaulted(spec()), configGeneration: 0 }, undefined, none),
    ).toMatchObject({
      kind: 'create',
      name: 'hello-00001',
      configGeneration: 1,
    });
  });

  it('creates nothing while the template is unchanged', () => {
    const s = defaulted(spec());
    const first = planRevision({ name: 'hello', spec: s, configGeneration: 0 }, undefined, none);
    if (first.kind !== 'create') throw new Error('expected create');
    expect(
      planRevision(
        { name: 'hello', spec: s, configGeneration: 1 },
        { name: 'hello-00001', templateHash: first.templateHash },
        none,
      ),
    ).toEqual({ kind: 'none' });
  });

  it('creates exactly the next revision when the template changes', () => {
    const first = planRevision({ name: 'hello', spec: defaulted(spec()), configGeneration: 0 }, undefined, none);
    if (first.kind !== 'create') throw new Error('expected create');
    const next = planRevision(
      { name: 'hello', spec: defaulted(spec('v2')), configGeneration: 1 },
      { name: 'hello-00001', templateHash: first.templateHash },
      none,
    );
    expect(next).toMatchObject({ kind: 'create', name: 'hello-00002', configGeneration: 2 });
  });

  it('uses the template’s own name, and reports it taken when another revision has it', () => {
    const byo = defaulted({ template: { metadata: { name: 'hello-blue' }, spec: spec().template.spec } });
    expect(planRevision({ name: 'hello', spec: byo, configGeneration: 0 }, undefined, none)).toMatchObject({
      kind: 'create',
      name: 'hello-blue',
    });
    expect(
      planRevision({ name: 'hello', spec: byo, configGeneration: 0 }, undefined, () => ({
        service: 'hello',
        templateHash: 'other',
      })),
    ).toEqual({ kind: 'taken', name: 'hello-blue' });
  });
});

describe('traffic resolution', () => {
  const revs: RevisionInfo[] = [
    { name: 'hello-00001', configGeneration: 1, ready: true },
    { name: 'hello-00002', configGeneration: 2, ready: true },
    { name: 'hello-00003', configGeneration: 3, ready: false },
  ];

  it.each([
    [
      'latestRevision goes to the newest ready revision',
      [{ latestRevision: true, percent: 100 }],
      'hello-00002',
      'hello-00002',
      'True',
      undefined,
    ],
    [
      'a split resolves each target',
      [
        { revisionName: 'hello-00001', percent: 50, tag: 'old' },
        { latestRevision: true, percent: 50 },
      ],
      'hello-00002',
      'hello-00002',
      'True',
      undefined,
    ],
    [
      'a missing revision makes RoutesReady False',
      [{ revisionName: 'hello-00009', percent: 100 }],
      'hello-00002',
      'hello-00002',
      'False',
      'RevisionMissing',
    ],
    [
      'a pinned revision not ready yet is Unknown',
      [{ revisionName: 'hello-00003', percent: 100 }],
      'hello-00002',
      'hello-00003',
      'Unknown',
      'RevisionMissing',
    ],
    [
      'a newer revision not ready yet means traffic is not migrated',
      [{ latestRevision: true, percent: 100 }],
      'hello-00002',
      'hello-00003',
      'Unknown',
      'TrafficNotMigrated',
    ],
    [
      'no ready revision at all is Unknown while waiting',
      [{ latestRevision: true, percent: 100 }],
      undefined,
      'hello-00003',
      'Unknown',
      'RevisionMissing',
    ],
  ] as const)('%s', (_name, traffic, latestReady, latestCreated, status, reason) => {
    const r = resolveTraffic(
      'hello',
      traffic.map((t) => ({ ...t })),
      revs,
      latestReady,
      latestCreated,
    );
    expect(r.routes.status).toBe(status);
    expect(r.routes.reason).toBe(reason);
  });

  it('gives tagged targets their own URL and the service its URL', () => {
    const status = serviceStatus({
      name: 'hello',
      namespace: 'default',
      labels: {},
      generation: 4,
      traffic: [
        { revisionName: 'hello-00001', percent: 10, tag: 'old' },
        { latestRevision: true, percent: 90 },
      ],
      revisions: revs,
      latestCreated: 'hello-00002',
      previous: undefined,
      urls: { domain: 'example.com' },
      now: '2026-11-22T00:00:00Z',
    });
    expect(status.url).toBe('http://hello.default.example.com');
    expect(status.traffic).toEqual([
      {
        revisionName: 'hello-00001',
        latestRevision: false,
        percent: 10,
        tag: 'old',
        url: 'http://old-hello.default.example.com',
      },
      { revisionName: 'hello-00002', latestRevision: true, percent: 90 },
    ]);
    expect(status.conditions[0]).toMatchObject({ type: 'Ready', status: 'True' });
    expect(status.observedGeneration).toBe(4);
  });

  it('reports a failed latest revision as RevisionFailed while traffic stays where it was', () => {
    const failed: RevisionInfo[] = [
      { name: 'hello-00001', configGeneration: 1, ready: true },
      {
        name: 'hello-00002',
        configGeneration: 2,
        ready: false,
        failed: { type: 'Ready', status: 'False', reason: 'ExitCode1', message: 'boom' },
      },
    ];
    const status = serviceStatus({
      name: 'hello',
      namespace: 'default',
      labels: {},
      generation: 2,
      traffic: [{ latestRevision: true, percent: 100 }],
      revisions: failed,
      latestCreated: 'hello-00002',
      previous: { traffic: [{ revisionName: 'hello-00001', latestRevision: true, percent: 100 }] },
      urls: { domain: 'localhost' },
      now: 'now',
    });
    const byType = Object.fromEntries(status.conditions.map((c) => [c.type, c]));
    expect(byType.ConfigurationsReady).toMatchObject({ status: 'False', reason: 'RevisionFailed' });
    expect(byType.ConfigurationsReady?.message).toContain('boom');
    expect(byType.Ready).toMatchObject({ status: 'False', reason: 'RevisionFailed' });
    expect(status.traffic).toEqual([{ revisionName: 'hello-00001', latestRevision: true, percent: 100 }]);
    expect(status.latestReadyRevisionName).toBe('hello-00001');
  });
});

describe('revision status', () => {
  it('is Deploying until a replica is ready, then Ready, and stays Ready at zero', () => {
    const deploying = revisionStatus({ desired: 1, actual: 1, ready: [] }, undefined, 't0');
    expect(deploying.conditions[0]).toMatchObject({ type: 'Ready', status: 'Unknown', reason: 'Deploying' });
    const ready = revisionStatus({ desired: 1, actual: 1, ready: [{ pod: 'p', url: 'u' }] }, deploying, 't1');
    expect(ready.conditions[0]).toMatchObject({ type: 'Ready', status: 'True', lastTransitionTime: 't1' });
    const zero = revisionStatus({ desired: 0, actual: 0, ready: [] }, ready, 't2');
    expect(zero.conditions[0]).toMatchObject({ type: 'Ready', status: 'True', lastTransitionTime: 't1' });
    expect(zero.conditions.find((c) => c.type === 'Active')).toMatchObject({ status: 'False', reason: 'NoTraffic' });
  });

  it('reports a crashing container with its exit code', () => {
    const s = revisionStatus(
      { desired: 1, actual: 1, ready: [], failure: { reason: 'ExitCode1', message: 'Error: boom' } },
      undefined,
      't',
    );
    expect(s.conditions[0]).toMatchObject({
      type: 'Ready',
      status: 'False',
      reason: 'ExitCode1',
      message: 'Error: boom',
    });
    expect(s.conditions.find((c) => c.type === 'ContainerHealthy')).toMatchObject({ status: 'False' });
  });
});

describe('work queue', () => {
  it('folds repeats, never runs one key twice at once, and retries failures', async () => {
    const runs: string[] = [];
    let running = 0;
    let maxRunning = 0;
    let failOnce = true;
    const q = new WorkQueue(async (key) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      runs.push(key);
      await new Promise((r) => setTimeout(r, 10));
      running--;
      if (key === 'flaky' && failOnce) {
        failOnce = false;
        throw new Error('transient');
      }
    }, 1);
    q.add('a');
    q.add('a');
    q.add('a');
    q.add('flaky');
    await q.whenIdle();
    expect(runs.filter((k) => k === 'a').length).toBeLessThanOrEqual(2);
    expect(runs.filter((k) => k === 'flaky')).toHaveLength(2);
    expect(maxRunning).toBe(1);
  });
});

describe('work queue lanes and slices', () => {
  it('runs background keys after every foreground key, and moves a key re-added in the foreground', async () => {
    const runs: string[] = [];
    const q = new WorkQueue(async (key) => {
      runs.push(key);
      await new Promise((r) => setTimeout(r, 5));
    }, 1);
    for (const k of ['b1', 'b2', 'b3']) q.add(k, 'background');
    q.add('f');
    q.add('b3');
    q.add('b2', 'background');
    await q.whenIdle();
    expect(runs).toEqual(['b1', 'f', 'b3', 'b2']);
  });

  it('lets timers and I/O run while keys whose work never waits keep coming', async () => {
    const done: string[] = [];
    const q = new WorkQueue(async (key) => {
      const until = performance.now() + 1;
      while (performance.now() < until) {} // 1 ms of CPU, no await: as a memory-backend reconcile
      done.push(key);
    }, 4);
    let doneWhenTimerRan: number | undefined;
    setTimeout(() => {
      doneWhenTimerRan = done.length;
    }, 0);
    for (let i = 0; i < 300; i++) q.add(`k${i}`);
    await q.whenIdle();
    expect(done).toHaveLength(300);
    // The timer ran early, not after all 300 ms of work (within a few 10 ms slices).
    expect(doneWhenTimerRan).toBeLessThan(100);
  });
});

describe('reconciler with the memory backend', () => {
  let h: Harness;
  afterEach(async () => {
    await h.close();
  });

  it('keeps the ready revision serving when the new one fails, and reports why', async () => {
    h = await harness({
      failures: new Map([['hello-00002', { reason: 'ExitCode1', message: 'Error: cannot start' }]]),
    });
    expect((await h.api('POST', svcPath(), service('hello'))).status).toBe(201);
    await h.settle();
    const v1 = (await (await h.api('GET', svcPath('hello'))).json()) as any;
    v1.spec.template.spec.containers[0].env[0].value = 'broken';
    await h.api('PUT', svcPath('hello'), v1);
    await h.settle();
    const svc = (await (await h.api('GET', svcPath('hello'))).json()) as any;
    expect(svc.status.latestCreatedRevisionName).toBe('hello-00002');
    expect(svc.status.latestReadyRevisionName).toBe('hello-00001');
    expect(svc.status.traffic).toEqual([{ revisionName: 'hello-00001', latestRevision: true, percent: 100 }]);
    const ready = svc.status.conditions.find((c: any) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'RevisionFailed' });
    expect(ready.message).toContain('Error: cannot start');
    expect(h.backend.observe('default', 'hello-00001').ready).toHaveLength(1);
  });

  it('runs replicas only for revisions that traffic reaches', async () => {
    h = await harness();
    await h.api('POST', svcPath(), service('hello'));
    await h.settle();
    const v1 = (await (await h.api('GET', svcPath('hello'))).json()) as any;
    v1.spec.template.spec.containers[0].env[0].value = 'v2';
    await h.api('PUT', svcPath('hello'), v1);
    await h.settle();
    expect(h.backend.observe('default', 'hello-00002').desired).toBe(1);
    expect(h.backend.observe('default', 'hello-00001').desired).toBe(0);
    // A 50/50 split with tags brings the old one back.
    const v2 = (await (await h.api('GET', svcPath('hello'))).json()) as any;
    v2.spec.traffic = [
      { revisionName: 'hello-00001', percent: 50, tag: 'blue' },
      { revisionName: 'hello-00002', percent: 50, tag: 'green' },
    ];
    await h.api('PUT', svcPath('hello'), v2);
    await h.settle();
    expect(h.backend.observe('default', 'hello-00001').desired).toBe(1);
    const svc = (await (await h.api('GET', svcPath('hello'))).json()) as any;
    expect(svc.status.traffic.map((t: any) => t.url)).toEqual([
      'http://blue-hello.default.localhost:8080',
      'http://green-hello.default.localhost:8080',
    ]);
    expect(h.cp.store.auditLog('default', 'hello').map((a) => a.action)).toContain('traffic');
  });

  it('reports a replica that is ready at once in the same reconcile: one status change each, as watchers see', async () => {
    h = await harness({ readyAfterMs: 0 });
    /** What watchers of services and revisions are sent after `rv`, as `resource type name`. */
    const events = (rv: number) => h.cp.store.eventsAfter(rv).map((e) => `${e.resource} ${e.type} ${e.name}`);
    const rv0 = h.cp.store.resourceVersion();
    expect((await h.api('POST', svcPath(), service('hello'))).status).toBe(201);
    await h.settle();
    // Created, its revision created, the revision Ready, the service Ready: no Deploying status
    // written first and replaced by the next reconcile (the backend's ready event is observed at once).
    expect(events(rv0)).toEqual([
      'services ADDED hello',
      'revisions ADDED hello-00001',
      'revisions MODIFIED hello-00001',
      'services MODIFIED hello',
    ]);
    const v1 = (await (await h.api('GET', svcPath('hello'))).json()) as any;
    expect(v1.status.conditions.find((c: any) => c.type === 'Ready').status).toBe('True');
    expect(v1.status.traffic).toEqual([{ revisionName: 'hello-00001', latestRevision: true, percent: 100 }]);
    expect(v1.status.observedGeneration).toBe(1);

    // A new template: the new revision starts, is ready, takes the traffic, and the old one stops,
    // all in one reconcile.
    const rv1 = h.cp.store.resourceVersion();
    v1.spec.template.spec.containers[0].env[0].value = 'v2';
    expect((await h.api('PUT', svcPath('hello'), v1)).status).toBe(200);
    await h.settle();
    expect(events(rv1)).toEqual([
      'services MODIFIED hello',
      'revisions ADDED hello-00002',
      'revisions MODIFIED hello-00001',
      'revisions MODIFIED hello-00002',
      'services MODIFIED hello',
    ]);
    const v2 = (await (await h.api('GET', svcPath('hello'))).json()) as any;
    expect(v2.status.traffic).toEqual([{ revisionName: 'hello-00002', latestRevision: true, percent: 100 }]);
    expect(v2.status.latestReadyRevisionName).toBe('hello-00002');
    expect(v2.status.observedGeneration).toBe(2);
    expect(h.backend.observe('default', 'hello-00001').desired).toBe(0);
    expect(h.backend.observe('default', 'hello-00002').ready).toHaveLength(1);
    // The scale decisions are all in the audit log.
    const scaled = h.cp.store
      .auditLog('default', 'hello')
      .filter((a) => a.action === 'scale')
      .map((a) => `${(a.detail as any).revision} ${(a.detail as any).from}->${(a.detail as any).to}`);
    expect(scaled.reverse()).toEqual(['hello-00001 0->1', 'hello-00002 0->1', 'hello-00001 1->0']);
  });

  it('makes a Configuration created directly Ready, then scales its unrouted revision to zero and keeps it Ready', async () => {
    // The reconcile that sees the replica ready stops it (no route sends it traffic) and, in its
    // next pass, sees it stopped: the revision must stay Ready at zero, not start again as "not
    // ready yet" (a replica started and stopped without end, the Configuration never Ready).
    h = await harness({ readyAfterMs: 5 });
    const cfgPath = '/apis/serving.knative.dev/v1/namespaces/default/configurations';
    const { metadata, spec } = service('blue') as { metadata: unknown; spec: { template: unknown } };
    expect(
      (
        await h.api('POST', cfgPath, {
          apiVersion: 'serving.knative.dev/v1',
          kind: 'Configuration',
          metadata,
          spec: { template: spec.template },
        })
      ).status,
    ).toBe(201);
    await h.settle();
    const cfg = (await (await h.api('GET', `${cfgPath}/blue`)).json()) as any;
    expect(cfg.status.latestReadyRevisionName).toBe('blue-00001');
    expect(cfg.status.conditions.find((c: any) => c.type === 'Ready')).toMatchObject({ status: 'True' });
    expect(h.backend.observe('default', 'blue-00001')).toMatchObject({ desired: 0, actual: 0 });
  });

  it("republishes a Route created directly when its revision's replicas move, and applies the platform's http-protocol to it", async () => {
    h = await harness({}, undefined, { httpProtocol: 'redirected' });
    const base = '/apis/serving.knative.dev/v1/namespaces/default';
    const { metadata, spec } = service('blue') as { metadata: unknown; spec: { template: unknown } };
    const made = await h.api('POST', `${base}/configurations`, {
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Configuration',
      metadata,
      spec: { template: spec.template },
    });
    expect(made.status).toBe(201);
    const route = await h.api('POST', `${base}/routes`, {
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Route',
      metadata: { name: 'front' },
      spec: { traffic: [{ configurationName: 'blue', percent: 100 }] },
    });
    expect(route.status).toBe(201);
    await h.settle();
    const published = () => {
      const snapshot = h.cp.publisher.current();
      return {
        route: snapshot.routes.find((r) => r.name === 'front'),
        urls: snapshot.revisions.filter((r) => r.name === 'blue-00001').flatMap((r) => r.endpoints.map((e) => e.url)),
      };
    };
    const first = published();
    expect(first.route).toMatchObject({
      hosts: expect.arrayContaining(['front.default.localhost']),
      httpProtocol: 'redirected',
    });
    expect(first.urls).toEqual(h.backend.observe('default', 'blue-00001').ready.map((e) => e.url));
    expect(first.urls).toHaveLength(1);

    // The replica comes back at another address: no status changes, the Route's part must.
    h.backend.replaceReplicas('default', 'blue-00001');
    await h.settle();
    const moved = published().urls;
    expect(moved).toEqual(h.backend.observe('default', 'blue-00001').ready.map((e) => e.url));
    expect(moved).not.toEqual(first.urls);
  });

  it('refuses a template change that keeps its chosen revision name', async () => {
    h = await harness();
    await h.api(
      'POST',
      svcPath(),
      service('hello', {
        spec: { template: { metadata: { name: 'hello-one' }, spec: { containers: [{ image: 'x' }] } } },
      }),
    );
    await h.settle();
    const s = (await (await h.api('GET', svcPath('hello'))).json()) as any;
    s.spec.template = { metadata: { name: 'hello-one' }, spec: { containers: [{ image: 'y' }] } };
    const r = await h.api('PUT', svcPath('hello'), s);
    expect(r.status).toBe(422);
    expect(((await r.json()) as any).details.causes[0].field).toBe('spec.template.metadata.name');
  });

  /** Changes the Service's env in the store alone: no event reaches the reconciler (a missed event). */
  const changeUnheard = (value: string) => {
    const row = h.cp.store.getService('default', 'hello');
    if (!row) throw new Error('no service');
    const spec = structuredClone(row.spec);
    (spec.template.spec.containers[0] as any).env = [{ name: 'TARGET', value }];
    h.cp.store.updateService('default', 'hello', { ...row, spec }, undefined, 'user', 'update');
  };
  const until = async (what: () => boolean, ms: number) => {
    for (const deadline = Date.now() + ms; !what(); ) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
    return true;
  };

  it('repairs a change whose event was missed at the next full resync', async () => {
    h = await harness({}, undefined, { resyncMs: 300 });
    await h.api('POST', svcPath(), service('hello'));
    await h.settle();
    changeUnheard('unheard');
    expect(h.cp.store.getRevision('default', 'hello-00002')).toBeUndefined();
    expect(await until(() => h.backend.observe('default', 'hello-00002').ready.length === 1, 5000)).toBe(true);
    await h.settle();
    const svc = (await (await h.api('GET', svcPath('hello'))).json()) as any;
    expect(svc.status.traffic).toEqual([{ revisionName: 'hello-00002', latestRevision: true, percent: 100 }]);
    expect(h.backend.observe('default', 'hello-00001').desired).toBe(0);
  });

  it('sweeps orphaned workloads often without reconciling every service', async () => {
    h = await harness({}, undefined, { sweepMs: 100 });
    await h.api('POST', svcPath(), service('hello'));
    await h.settle();
    await h.backend.ensure(
      {
        namespace: 'default',
        service: 'gone',
        configuration: 'gone',
        revision: 'gone-00001',
        uid: 'u',
        spec: { containers: [{ image: 'x' }] },
        labels: {},
        annotations: {},
      },
      1,
    );
    changeUnheard('unheard');
    expect(await until(() => h.backend.list().every((w) => w.revision !== 'gone-00001'), 5000)).toBe(true);
    // Several sweeps later the unheard change is still unheard: a sweep costs nothing per service.
    await new Promise((r) => setTimeout(r, 400));
    await h.settle();
    expect(h.cp.store.getRevision('default', 'hello-00002')).toBeUndefined();
  });
});

describe("a Route's CertificateProvisioned with ACME for service hosts", () => {
  let h: Harness;
  afterEach(async () => {
    await h.close();
  });
  /** An ACME directory on a loopback port where nothing listens: every order fails at its first step. */
  const unreachableDirectory = async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return `https://127.0.0.1:${port}/dir`;
  };
  const conditionOf = async (path: string, type: string) => {
    const o = (await (await h.api('GET', path)).json()) as any;
    return (o.status?.conditions ?? []).find((c: any) => c.type === type);
  };
  const routePath = (name: string) => `/apis/serving.knative.dev/v1/namespaces/default/routes/${name}`;

  it('is False with the failed order on the Route, and the Service’s RoutesReady and Ready say so (http-protocol redirected)', async () => {
    h = await harness({}, undefined, {
      acme: { directoryUrl: await unreachableDirectory(), serviceHosts: true },
      httpProtocol: 'redirected',
    });
    expect((await h.api('POST', svcPath(), service('hello'))).status).toBe(201);
    const deadline = Date.now() + 20_000;
    while ((await conditionOf(routePath('hello'), 'CertificateProvisioned'))?.status !== 'False') {
      if (Date.now() > deadline) throw new Error('no failed CertificateProvisioned on the Route');
      await new Promise((r) => setTimeout(r, 50));
    }
    const failed = await conditionOf(routePath('hello'), 'CertificateProvisioned');
    expect(failed.reason).toBe('CertificateProvisionFailed');
    expect(failed.message).toMatch(
      /^Certificate for hello\.default\.localhost fails to be provisioned: registering the ACME account failed: cannot reach the ACME server: connect ECONNREFUSED 127\.0\.0\.1:\d+; next attempt at \d{4}-/,
    );
    expect(await conditionOf(routePath('hello'), 'Ready')).toMatchObject({
      status: 'False',
      reason: 'CertificateProvisionFailed',
    });
    expect(await conditionOf(svcPath('hello'), 'RoutesReady')).toMatchObject({
      status: 'False',
      reason: 'CertificateProvisionFailed',
      message: failed.message,
    });
    expect(await conditionOf(svcPath('hello'), 'Ready')).toMatchObject({ status: 'False' });
    // Traffic is assigned all the same: the router serves the service over plain HTTP meanwhile.
    expect(await conditionOf(svcPath('hello'), 'ConfigurationsReady')).toMatchObject({ status: 'True' });

    // A Route created directly gets the condition for its own host too.
    const route = {
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Route',
      metadata: { name: 'direct' },
      spec: { traffic: [{ configurationName: 'hello', percent: 100 }] },
    };
    expect((await h.api('POST', '/apis/serving.knative.dev/v1/namespaces/default/routes', route)).status).toBe(201);
    const until = Date.now() + 20_000;
    while ((await conditionOf(routePath('direct'), 'CertificateProvisioned'))?.status !== 'False') {
      if (Date.now() > until) throw new Error('no failed CertificateProvisioned on the direct Route');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await conditionOf(routePath('direct'), 'CertificateProvisioned')).message).toMatch(
      /^Certificate for direct\.default\.localhost fails to be provisioned: /,
    );
  });

  it('is True with HTTPDowngrade while plain HTTP serves the host (http-protocol enabled), and the Service is Ready', async () => {
    h = await harness({}, undefined, {
      acme: { directoryUrl: await unreachableDirectory(), serviceHosts: true },
      httpProtocol: 'enabled',
    });
    expect((await h.api('POST', svcPath(), service('hello'))).status).toBe(201);
    await h.settle();
    const downgraded = await conditionOf(routePath('hello'), 'CertificateProvisioned');
    expect(downgraded).toMatchObject({ status: 'True', reason: 'HTTPDowngrade' });
    expect(downgraded.message).toMatch(
      /^Certificate for hello\.default\.localhost is not ready, so plain HTTP serves it: /,
    );
    expect(await conditionOf(svcPath('hello'), 'Ready')).toMatchObject({ status: 'True' });
  });
});
