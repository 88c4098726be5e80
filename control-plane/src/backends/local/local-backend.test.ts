import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { RevisionWorkload } from '../backend.ts';
import { describeBackendContract } from '../contract.ts';
import { LocalBackend, replicaCrashBackoff } from './local-backend.ts';
import { freePort } from './replica.ts';

const app = fileURLToPath(new URL('../../../../test/apps/app.mjs', import.meta.url));

const workload = (
  revision: string,
  command = [process.execPath, app],
  env: { name: string; value: string }[] = [],
): RevisionWorkload => ({
  namespace: 'default',
  service: 'contract',
  configuration: 'contract',
  revision,
  uid: revision,
  spec: { containers: [{ command, env }], timeoutSeconds: 5 },
  labels: {},
  annotations: {},
});

describeBackendContract(
  'local',
  () => new LocalBackend({ drainQuietPeriod: '100ms' }),
  (r) => workload(r),
  { readyWithinMs: 15_000 },
);

describe('local backend', () => {
  let backend: LocalBackend;
  afterEach(async () => {
    await backend.close();
  });

  const until = async (check: () => boolean, ms = 15_000) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (check()) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('timed out');
  };

  it('runs the app behind a queue-proxy with PORT and K_* set, reachable at the endpoint', async () => {
    backend = new LocalBackend({ drainQuietPeriod: '100ms' });
    await backend.ensure(workload('env-00001', undefined, [{ name: 'TARGET', value: 'Local' }]), 1);
    await until(() => backend.observe('default', 'env-00001').ready.length === 1);
    const [endpoint] = backend.observe('default', 'env-00001').ready;
    expect(await (await fetch(`${endpoint?.url}/`)).text()).toBe('Hello Local!\n');
    const env = (await (await fetch(`${endpoint?.url}/env`)).json()) as Record<string, string>;
    expect(env).toMatchObject({ K_SERVICE: 'contract', K_CONFIGURATION: 'contract', K_REVISION: 'env-00001' });
    expect(Number(env.PORT)).toBeGreaterThan(0);
  });

  it.each([
    ['app', 0],
    ['queue-proxy', 1],
  ])(
    'replaces a replica whose %s is killed',
    async (_, which) => {
      backend = new LocalBackend({ drainQuietPeriod: '100ms' });
      await backend.ensure(workload('kill-00001'), 2);
      await until(() => backend.observe('default', 'kill-00001').ready.length === 2);
      const before = backend.observe('default', 'kill-00001').ready.map((e) => e.pod);
      const victim = backend.pids('default', 'kill-00001')[which] as number;
      process.kill(victim, 'SIGKILL');
      await until(() => {
        const o = backend.observe('default', 'kill-00001');
        return o.ready.length === 2 && o.ready.some((e) => !before.includes(e.pod));
      });
      const o = backend.observe('default', 'kill-00001');
      expect(o).toMatchObject({ desired: 2, actual: 2 });
      expect(backend.pids('default', 'kill-00001')).not.toContain(victim);
      // The killed replica's other process went with it.
      expect(backend.pids('default', 'kill-00001')).toHaveLength(4);
    },
    30_000,
  ); // two replicas started twice over: more than 5 s on a loaded machine (the 2 s bar is test/platform/faults.test.ts)

  it('listens on loopback only, and its admin port refuses a drain without the replica token', async () => {
    backend = new LocalBackend({ drainQuietPeriod: '100ms' });
    await backend.ensure(workload('lo-00001'), 1);
    await until(() => backend.observe('default', 'lo-00001').ready.length === 1);
    const [replica] = backend.replicas('default', 'lo-00001');
    if (!replica) throw new Error('no replica');
    for (const url of [replica.url, replica.adminUrl, replica.statsUrl]) {
      // 127.0.0.2 is this host too: a socket bound to every address would answer there.
      const elsewhere = url.replace('127.0.0.1', '127.0.0.2');
      await expect(fetch(elsewhere)).rejects.toThrow();
    }
    for (const headers of [{}, { authorization: 'Bearer wrong' }] as Record<string, string>[]) {
      const r = await fetch(`${replica.adminUrl}/wait-for-drain`, { method: 'POST', headers });
      expect(r.status).toBe(401);
    }
    await new Promise((r) => setTimeout(r, 300));
    const probe = await fetch(`${replica.url}/`, { headers: { 'k-network-probe': 'queue' } });
    expect(probe.status).toBe(200);
    const drained = await fetch(`${replica.adminUrl}/wait-for-drain`, {
      method: 'POST',
      headers: { authorization: `Bearer ${replica.adminToken}` },
    });
    expect(drained.status).toBe(200);
  });

  it('reports a command that does not exist as ContainerMissing', async () => {
    backend = new LocalBackend();
    await backend.ensure(workload('missing-00001', ['definitely-not-a-command-xyz']), 1);
    await until(() => backend.observe('default', 'missing-00001').failure !== undefined);
    expect(backend.observe('default', 'missing-00001').failure).toEqual({
      reason: 'ContainerMissing',
      message: 'command not found: definitely-not-a-command-xyz',
    });
  });

  it('restarts a crashing command with backoff and reports its exit code and last output', async () => {
    backend = new LocalBackend({ crashBackoff: { ...replicaCrashBackoff, initialMs: 50 }, failureThreshold: 2 });
    const crash = [process.execPath, '-e', 'console.error("boom: database unreachable"); process.exit(3)'];
    await backend.ensure(workload('crash-00001', crash), 1);
    await until(() => backend.observe('default', 'crash-00001').failure !== undefined);
    const failure = backend.observe('default', 'crash-00001').failure;
    expect(failure?.reason).toBe('ExitCode3');
    expect(failure?.message).toContain('boom: database unreachable');
  });

  it('gives a declared containerPort to the app as PORT, each replica on a loopback address of its own', async () => {
    backend = new LocalBackend({ drainQuietPeriod: '100ms' });
    const port = await freePort();
    const fixed = (revision: string): RevisionWorkload => {
      const w = workload(revision);
      w.spec = { ...w.spec, containers: [{ ...w.spec.containers[0], ports: [{ containerPort: port }] }] };
      return w;
    };
    // Two replicas of one revision and one of the next: three apps on the same port.
    await backend.ensure(fixed('port-00001'), 2);
    await backend.ensure(fixed('port-00002'), 1);
    await until(
      () =>
        backend.observe('default', 'port-00001').ready.length === 2 &&
        backend.observe('default', 'port-00002').ready.length === 1,
      30_000,
    );
    const endpoints = [
      ...backend.observe('default', 'port-00001').ready,
      ...backend.observe('default', 'port-00002').ready,
    ];
    const envs = await Promise.all(
      endpoints.map(async (e) => (await (await fetch(`${e.url}/env`)).json()) as Record<string, string>),
    );
    expect(envs.map((e) => e.PORT)).toEqual([String(port), String(port), String(port)]);
    expect(new Set(envs.map((e) => e.HOST)).size).toBe(3);
    for (const e of envs) expect(e.HOST).toMatch(/^127\.0\.0\.\d+$/);
  }, 60_000);

  it('fails a revision with no ready replica by its progress deadline, saying what was probed, and stops it', async () => {
    backend = new LocalBackend({ drainQuietPeriod: '100ms' });
    // Runs, but never listens: the queue-proxy's TCP probe never gets through.
    const w = workload('stuck-00001', [process.execPath, '-e', 'setInterval(() => {}, 1000)']);
    w.annotations = { 'serving.knative.dev/progress-deadline': '2s' };
    const started = Date.now();
    await backend.ensure(w, 1);
    await until(() => backend.observe('default', 'stuck-00001').failure !== undefined, 30_000);
    const elapsed = Date.now() - started;
    const failure = backend.observe('default', 'stuck-00001').failure;
    expect(failure?.reason).toBe('ProgressDeadlineExceeded');
    expect(failure?.message).toMatch(
      /^Initial scale was never achieved: no replica became ready within the progress deadline \(2s\); the queue-proxy probed a TCP connection to 127\.0\.0\.1:\d+ \(PORT=\d+\)/,
    );
    expect(elapsed).toBeGreaterThanOrEqual(2000);
    // Stopped, and not started again.
    await until(() => backend.pids('default', 'stuck-00001').length === 0, 30_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(backend.observe('default', 'stuck-00001')).toMatchObject({ desired: 1, actual: 0, ready: [] });
  }, 60_000);
});

describe('control plane on the local backend', () => {
  it('refuses an image-only service with 422 naming the command field', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { startControlPlane } = await import('../../server.ts');
    const { seedTestPki } = await import('../../testing/pki.ts');
    const { fetchTrusting } = await import('@skiff/http/tls');
    const dir = mkdtempSync(join(tmpdir(), 'skiff-local-'));
    seedTestPki(dir);
    const cp = await startControlPlane({
      dataDir: dir,
      backend: new LocalBackend(),
      apiPort: 0,
      userToken: 't',
      log: () => {},
    });
    try {
      const r = await fetchTrusting(cp.ca)(`${cp.url}/apis/serving.knative.dev/v1/namespaces/default/services`, {
        method: 'POST',
        headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
        body: JSON.stringify({
          apiVersion: 'serving.knative.dev/v1',
          kind: 'Service',
          metadata: { name: 'img' },
          spec: { template: { spec: { containers: [{ image: 'ghcr.io/knative/helloworld-go' }] } } },
        }),
      });
      expect(r.status).toBe(422);
      const status = (await r.json()) as { details: { causes: { field: string; message: string }[] } };
      expect(status.details.causes[0]?.field).toBe('spec.template.spec.containers[0].command');
      expect(status.details.causes[0]?.message).toContain('cannot run the image "ghcr.io/knative/helloworld-go"');
    } finally {
      await cp.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000); // it boots a control plane: 5 s is not enough on a loaded machine
});
