import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type ControlPlaneProc, skiff, startControlPlaneProcess } from '../helpers/control-plane.ts';
import { stopAll } from '../helpers/processes.ts';

let cp: ControlPlaneProc;
beforeAll(async () => {
  cp = await startControlPlaneProcess();
});
afterAll(stopAll);

describe('the skiff CLI against a real control plane', () => {
  it('creates a service and waits until it is ready, printing its URL', async () => {
    const r = await skiff(
      ['service', 'create', 'hello', '--cmd', 'node app.mjs --port "$PORT"', '--env', 'TARGET=World', '--wait'],
      cp,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Service 'hello' created in namespace 'default'.");
    expect(r.stdout).toContain('http://hello.default.localhost:8080');
    const got = await skiff(['service', 'describe', 'hello', '-o', 'json'], cp);
    const svc = JSON.parse(got.stdout);
    expect(svc.spec.template.spec.containers[0].command).toEqual(['node', 'app.mjs', '--port', '$PORT']);
    expect(svc.spec.template.spec.containers[0].env).toEqual([{ name: 'TARGET', value: 'World' }]);
  });

  it('lists services as a table', async () => {
    const r = await skiff(['service', 'list'], cp);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^NAME\s+URL\s+LATEST\s+AGE\s+CONDITIONS\s+READY\s+REASON$/);
    expect(r.stdout).toMatch(/hello\s+http:\/\/hello\.default\.localhost:8080\s+hello-00001/);
  });

  it('updates a service with limits and scale bounds into a new revision', async () => {
    const r = await skiff(
      [
        'service',
        'update',
        'hello',
        '--concurrency-limit',
        '1',
        '--scale-min',
        '1',
        '--scale-max',
        '3',
        '--timeout',
        '30',
        '--env',
        'TARGET=v2',
        '--wait',
      ],
      cp,
    );
    expect(r.code).toBe(0);
    const svc = JSON.parse((await skiff(['service', 'describe', 'hello', '-o', 'json'], cp)).stdout);
    expect(svc.status.latestReadyRevisionName).toBe('hello-00002');
    expect(svc.spec.template.spec).toMatchObject({ containerConcurrency: 1, timeoutSeconds: 30 });
    expect(svc.spec.template.metadata.annotations).toEqual({
      'autoscaling.knative.dev/min-scale': '1',
      'autoscaling.knative.dev/max-scale': '3',
    });
  });

  it('splits traffic and tags revisions', async () => {
    const r = await skiff(
      [
        'service',
        'update',
        'hello',
        '--traffic',
        'hello-00001=50',
        '--traffic',
        '@latest=50',
        '--tag',
        'hello-00001=blue',
        '--wait',
      ],
      cp,
    );
    expect(r.code).toBe(0);
    const revs = await skiff(['revision', 'list', '-s', 'hello'], cp);
    expect(revs.stdout).toMatch(/hello-00001\s+hello\s+50%\s+blue/);
    expect(revs.stdout).toMatch(/hello-00002\s+hello\s+50%/);
    const svc = parse((await skiff(['service', 'describe', 'hello', '-o', 'yaml'], cp)).stdout);
    expect(svc.status.traffic).toContainEqual(
      expect.objectContaining({ tag: 'blue', url: 'http://blue-hello.default.localhost:8080' }),
    );
  });

  it('rolls back to a named revision', async () => {
    const r = await skiff(['rollback', 'hello', '--to', 'hello-00001'], cp);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("all traffic to revision 'hello-00001'");
  });

  it('applies a manifest file: created, then unchanged, then configured', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-cli-'));
    const file = join(dir, 'svc.yaml');
    const manifest = (target: string) => `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: applied
spec:
  template:
    spec:
      containers:
        - command: ["node", "app.mjs"]
          env:
            - name: TARGET
              value: ${target}
`;
    writeFileSync(file, manifest('one'));
    expect((await skiff(['apply', '-f', file], cp)).stdout.trim()).toBe('service.serving.knative.dev/applied created');
    expect((await skiff(['apply', '-f', file], cp)).stdout.trim()).toBe(
      'service.serving.knative.dev/applied unchanged',
    );
    const fromStdin = await skiff(['apply', '-f', '-'], cp, manifest('two'));
    expect(fromStdin.stdout.trim()).toBe('service.serving.knative.dev/applied configured');
  });

  it('prints the API’s refusal with each bad field and exits 1', async () => {
    const r = await skiff(
      ['service', 'create', 'bad', '--image', 'x', '--concurrency-limit', '5000', '--traffic', 'bad-00009=90'],
      cp,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Error: Service.serving.knative.dev "bad" is invalid:');
    expect(r.stderr).toContain('  spec.template.spec.containerConcurrency: Invalid value: 5000');
    expect(r.stderr).toContain('  spec.traffic: Invalid value: 90: traffic targets sum to 90, want 100');
  });

  it('exits 1 for a service that does not exist, and 2 for a usage mistake', async () => {
    const missing = await skiff(['service', 'describe', 'nope'], cp);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('"nope" not found');
    expect((await skiff(['service', 'create', 'x'], cp)).code).toBe(2);
    expect((await skiff(['service', 'frobnicate'], cp)).code).toBe(2);
    expect((await skiff(['service', 'list', '--bogus'], cp)).code).toBe(2);
    expect((await skiff(['service', 'update', 'hello', '--traffic', 'oops'], cp)).code).toBe(2);
  });

  it('reaches the HTTPS API through the kubeconfig the control plane wrote, as kubectl would', async () => {
    const kubeconfig = join(cp.dataDir, 'kubeconfig');
    expect(statSync(kubeconfig).mode & 0o777).toBe(0o600);
    const noEnv = { SKIFF_SERVER: '', SKIFF_TOKEN: '', SKIFF_DATA_DIR: mkdtempSync(join(tmpdir(), 'skiff-empty-')) };
    const viaFlag = await skiff(['service', 'list', '--kubeconfig', kubeconfig], cp, undefined, noEnv);
    expect(viaFlag.stderr).toBe('');
    expect(viaFlag.stdout).toContain('hello');
    const viaEnv = await skiff(['service', 'list'], cp, undefined, { ...noEnv, KUBECONFIG: kubeconfig });
    expect(viaEnv.stdout).toContain('hello');
    const none = await skiff(['service', 'list'], cp, undefined, noEnv);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no kubeconfig at');
    // Without the CA the server's certificate is not trusted.
    const other = await skiff(['service', 'list', '--server', cp.url, '--token', cp.token], cp, undefined, noEnv);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(
      /cannot reach the control plane at https:.*(SELF_SIGNED|UNABLE_TO_VERIFY|certificate)/i,
    );
  });

  it('exits 1 with a clear message when the token is wrong or the server is down', async () => {
    const wrong = await skiff(['service', 'list'], { ...cp, token: 'wrong' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('Unauthorized');
    const down = await skiff(['service', 'list'], { url: 'http://127.0.0.1:1', token: 'x' });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('cannot reach the control plane at http://127.0.0.1:1');
  });

  it('deletes revisions and services', async () => {
    const busy = await skiff(['revision', 'delete', 'hello-00001'], cp);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toContain('receives traffic');
    expect((await skiff(['service', 'delete', 'applied'], cp)).code).toBe(0);
    expect((await skiff(['service', 'describe', 'applied'], cp)).code).toBe(1);
  });
});
