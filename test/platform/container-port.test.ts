import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appService, type Platform, ready, servicePath, startPlatform } from '../helpers/platform.ts';
import { freePort, sleep, stopAll } from '../helpers/processes.ts';

// Issue 12, item 10: `kn service create --port 9999` with an app listening on 9999 sat in
// Deploying for good: the local backend gave the app another PORT, probed that, and had no
// progress deadline. (A free port stands in for 9999: other suites may run beside this one.)

let p: Platform;
beforeAll(async () => {
  p = await startPlatform();
}, 60_000);
afterAll(stopAll);

const revisionPath = (name: string) => `/apis/serving.knative.dev/v1/namespaces/default/revisions/${name}`;

describe('containerPort and the progress deadline on one machine', () => {
  it('serves an app that listens on its declared containerPort (on every address), as kn --port would deploy it', async () => {
    const port = await freePort();
    // Like most apps: a fixed port, all addresses, $PORT never read.
    const script = `require('node:http').createServer((q, s) => s.end('on ${port}\\n')).listen(${port})`;
    const svc = appService('knport', {
      containers: [{ command: [process.execPath, '-e', script], ports: [{ containerPort: port }] }],
    });
    expect((await p.api('POST', servicePath(), svc)).status).toBe(201);
    await ready(p, 'knport', 60_000);
    const r = await p.get('knport.default.localhost');
    expect(r.status).toBe(200);
    expect(await r.text()).toBe(`on ${port}\n`);
  }, 90_000);

  it('gives the app its containerPort as PORT, and each replica its own loopback address (HOST)', async () => {
    const port = await freePort();
    const svc: any = appService(
      'twoport',
      {},
      {},
      { 'autoscaling.knative.dev/min-scale': '2', 'autoscaling.knative.dev/max-scale': '2' },
    );
    svc.spec.template.spec.containers[0].ports = [{ containerPort: port }];
    expect((await p.api('POST', servicePath(), svc)).status).toBe(201);
    await ready(p, 'twoport', 60_000);
    const started = Date.now();
    while (Date.now() - started < 30_000) {
      const rev = (await (await p.api('GET', revisionPath('twoport-00001'))).json()) as any;
      if (rev.status?.actualReplicas === 2) break;
      await sleep(100);
    }
    const hosts = new Set<string>();
    for (let i = 0; i < 100 && hosts.size < 2; i++) {
      const env = (await (await p.get('twoport.default.localhost', '/env')).json()) as Record<string, string>;
      expect(env.PORT).toBe(String(port));
      hosts.add(env.HOST as string);
    }
    expect([...hosts].sort()).toHaveLength(2);
    for (const h of hosts) expect(h).toMatch(/^127\.0\.0\.\d+$/);
  }, 90_000);

  it('fails a revision that never becomes ready with ProgressDeadlineExceeded, naming what was probed', async () => {
    // Runs, but never listens on $PORT.
    const svc: any = appService('stuck', {}, {}, { 'serving.knative.dev/progress-deadline': '3s' });
    svc.spec.template.spec.containers[0].command = [process.execPath, '-e', 'setInterval(() => {}, 1000)'];
    const created = Date.now();
    expect((await p.api('POST', servicePath(), svc)).status).toBe(201);
    let revision: any;
    let ready: any;
    while (Date.now() - created < 30_000) {
      revision = await (await p.api('GET', revisionPath('stuck-00001'))).json();
      ready = revision.status?.conditions?.find((c: { type: string }) => c.type === 'Ready');
      if (ready?.status === 'False') break;
      await sleep(200);
    }
    expect(Date.now() - created).toBeGreaterThanOrEqual(3000);
    expect(ready).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded' });
    expect(ready.message).toMatch(
      /within the progress deadline \(3s\); the queue-proxy probed a TCP connection to 127\.0\.0\.1:\d+/,
    );
    const service = (await (await p.api('GET', servicePath('stuck'))).json()) as any;
    const serviceReady = service.status.conditions.find((c: { type: string }) => c.type === 'Ready');
    expect(serviceReady.status).toBe('False');
    expect(serviceReady.message).toContain(
      'Revision "stuck-00001" failed with message: Initial scale was never achieved',
    );
  }, 60_000);

  it('refuses a progress-deadline that is not a positive duration, naming the annotation', async () => {
    for (const value of ['soon', '-5s', '0s']) {
      const svc = appService('badline', {}, {}, { 'serving.knative.dev/progress-deadline': value });
      const r = await p.api('POST', servicePath(), svc);
      expect(r.status).toBe(422);
      const status = (await r.json()) as { kind: string; details: { causes: { field: string; message: string }[] } };
      expect(status.kind).toBe('Status');
      expect(status.details.causes.map((c) => c.field)).toEqual([
        'spec.template.metadata.annotations[serving.knative.dev/progress-deadline]',
      ]);
    }
  });
});
