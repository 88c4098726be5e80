import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type Platform, ready, startPlatform, testAppPath } from '../helpers/platform.ts';
import { childrenOf, repoRoot, stopAll, waitFor } from '../helpers/processes.ts';
import { describeK8s, k8sAvailability } from '../k8s/cluster.ts';

// The real kubectl (the test cluster's build, v1.36) against `skiff up` with the kubeconfig it
// writes: no --validate=false, no --insecure-skip-tls-verify, no hand-made discovery.

let p: Platform;
let kubeconfig: string;
const availability = k8sAvailability();
const kubectlBin = availability.ok ? join(availability.binDir, 'kubectl') : 'kubectl';
// kn-wait: what `kn ... --wait` does, through client-go (scripts/k8s/build-kn-wait.sh; .ci/run builds it).
const knWait = spawnSync('bash', [join(repoRoot, 'scripts/k8s/build-kn-wait.sh'), '--print-path'], {
  encoding: 'utf8',
}).stdout.trim();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** kubectl's flags: skiff up's kubeconfig, and a discovery cache of this run's own. */
const base = () => ['--kubeconfig', kubeconfig, '--cache-dir', join(p.dataDir, 'kube-cache')];

function kubectl(args: string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      kubectlBin,
      [...base(), ...args],
      { encoding: 'utf8', timeout: 60_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(input);
  });
}

async function ok(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

const manifest = (name: string, target: string, extra = '') => `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: ${name}
spec:
  template:
    spec:
      containers:
        - command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(testAppPath)}]
          env:
            - name: TARGET
              value: ${target}
${extra}`;

const answer = async (name: string) => (await (await p.get(`${name}.default.localhost`)).text()).trim();

async function answers(name: string, body: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = await answer(name);
    if (last === body) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} answered ${JSON.stringify(last)}, not ${JSON.stringify(body)}`);
}

const getJson = async (args: string[]) => JSON.parse(await ok([...args, '-o', 'json'])) as any;

describeK8s('kubectl against skiff up', () => {
  beforeAll(async () => {
    p = await startPlatform();
    kubeconfig = join(p.dataDir, 'kubeconfig');
  }, 60_000);
  afterAll(async () => {
    await stopAll();
    if (p) rmSync(p.dataDir, { recursive: true, force: true });
  });

  it('apply -f (validated), wait --for=condition=Ready, get with Knative’s columns, -o yaml', async () => {
    expect(await ok(['apply', '-f', '-'], manifest('web', 'v1'))).toMatch(/service.serving.knative.dev\/web created/);
    await ok(['wait', '--for=condition=Ready', 'ksvc/web', '--timeout=60s']);
    await answers('web', 'Hello v1!');
    // Knative's printer columns only: kube-apiserver adds no AGE when a CRD names its columns.
    const table = await ok(['get', 'ksvc']);
    const [header, ...rows] = table.trim().split('\n');
    expect(header?.split(/\s+/)).toEqual(['NAME', 'URL', 'LATESTCREATED', 'LATESTREADY', 'READY', 'REASON']);
    expect(rows.find((r) => r.startsWith('web '))).toMatch(
      /^web\s+http:\/\/web\.default\.localhost\S*\s+web-00001\s+web-00001\s+True\s*$/,
    );
    const revs = (await ok(['get', 'rev'])).trim().split('\n');
    expect(revs[0]?.split(/\s{2,}/)).toEqual([
      'NAME',
      'CONFIG NAME',
      'GENERATION',
      'READY',
      'REASON',
      'ACTUAL REPLICAS',
      'DESIRED REPLICAS',
    ]);
    const yaml = parse(await ok(['get', 'ksvc', 'web', '-o', 'yaml']));
    expect(yaml).toMatchObject({ kind: 'Service', metadata: { name: 'web', generation: 1 } });
    expect(yaml.status.observedGeneration).toBe(1);
    // Other kinds by their short names and categories.
    expect(await ok(['get', 'cfg,rt', '-o', 'name'])).toContain('route.serving.knative.dev/web');
    expect(await ok(['get', 'knative', '-o', 'name'])).toContain('revision.serving.knative.dev/web-00001');
    expect(await ok(['get', 'ksvc', 'web', '--subresource=status', '-o', 'name'])).toBe(
      'service.serving.knative.dev/web\n',
    );
  });

  it('refuses an unknown field on apply without --validate=false, naming it; nothing stored', async () => {
    const typo = manifest('typo', 'v1').replace('          env:', '          envv:');
    const r = await kubectl(['apply', '-f', '-'], typo);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/envv/);
    expect((await kubectl(['get', 'ksvc', 'typo'])).stderr).toMatch(/NotFound|not found/);
  });

  it('explain prints field docs from the zod schemas', async () => {
    const out = await ok(['explain', 'ksvc.spec.template.spec.containerConcurrency']);
    expect(out).toMatch(/KIND:\s+Service/);
    expect(out).toMatch(/GROUP:\s+serving\.knative\.dev/);
    expect(out).toMatch(/Most requests one replica handles at once/);
    expect(await ok(['explain', 'ksvc.spec'])).toMatch(/traffic\s+<\[\]Object>/);
  });

  it('patch --type merge and --type json make new revisions that answer; get -w streams the change', async () => {
    const watch: ChildProcess = spawn(kubectlBin, [...base(), 'get', 'ksvc', 'web', '-w', '--no-headers'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let seen = '';
    watch.stdout?.on('data', (d: Buffer) => (seen += d.toString()));
    const sees = async (pattern: RegExp) => {
      const deadline = Date.now() + 30_000;
      while (!pattern.test(seen) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(seen).toMatch(pattern);
    };
    try {
      // The watch lists first (the current row), then streams changes.
      await sees(/web\s+\S+\s+web-00001\s+web-00001\s+True/);
      const merge = JSON.stringify({
        spec: {
          template: {
            spec: {
              containers: [{ command: [process.execPath, testAppPath], env: [{ name: 'TARGET', value: 'v2' }] }],
            },
          },
        },
      });
      await ok(['patch', 'ksvc', 'web', '--type', 'merge', '-p', merge]);
      await ok(['wait', '--for=jsonpath={.status.latestReadyRevisionName}=web-00002', 'ksvc/web', '--timeout=60s']);
      await answers('web', 'Hello v2!');
      await sees(/web\s+\S+\s+web-00002\s+web-00002\s+True/);
    } finally {
      watch.kill();
    }
    const json = JSON.stringify([{ op: 'replace', path: '/spec/template/spec/containers/0/env/0/value', value: 'v3' }]);
    await ok(['patch', 'ksvc', 'web', '--type', 'json', '-p', json]);
    await ok(['wait', '--for=jsonpath={.status.latestReadyRevisionName}=web-00003', 'ksvc/web', '--timeout=60s']);
    await answers('web', 'Hello v3!');
  });

  it('diff and apply --dry-run=server store nothing: generation and revisions unchanged', async () => {
    const before = await getJson(['get', 'ksvc', 'web']);
    const changed = manifest('web', 'dry');
    const diff = await kubectl(['diff', '-f', '-'], changed);
    expect(diff.code).toBe(1); // kubectl diff: 1 means "differences found"
    expect(diff.stdout).toMatch(/-\s+value: v3/);
    expect(diff.stdout).toMatch(/\+\s+value: dry/);
    expect(await ok(['apply', '--dry-run=server', '-f', '-'], changed)).toMatch(/configured \(server dry run\)/);
    const after = await getJson(['get', 'ksvc', 'web']);
    expect(after.metadata.generation).toBe(before.metadata.generation);
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    const revisions = await getJson(['get', 'rev', '-l', 'serving.knative.dev/service=web']);
    expect(revisions.items.map((r: any) => r.metadata.name).sort()).toEqual(['web-00001', 'web-00002', 'web-00003']);
    await answers('web', 'Hello v3!');
  });

  it('apply --server-side: managedFields, a conflict between two managers, --force-conflicts', async () => {
    await ok(['apply', '--server-side', '--field-manager=alice', '-f', '-'], manifest('ssa', 'alice'));
    await ok(['wait', '--for=condition=Ready', 'ksvc/ssa', '--timeout=60s']);
    await answers('ssa', 'Hello alice!');
    const svc = await getJson(['get', 'ksvc', 'ssa', '--show-managed-fields']);
    expect(svc.metadata.managedFields.map((m: any) => [m.manager, m.operation])).toEqual([['alice', 'Apply']]);

    const conflict = await kubectl(
      ['apply', '--server-side', '--field-manager=bob', '-f', '-'],
      manifest('ssa', 'bob'),
    );
    expect(conflict.code).not.toBe(0);
    expect(conflict.stderr).toMatch(/conflict with "alice": \.spec\.template\.spec\.containers/);
    expect((await getJson(['get', 'ksvc', 'ssa'])).metadata.generation).toBe(1);

    await ok(['apply', '--server-side', '--field-manager=bob', '--force-conflicts', '-f', '-'], manifest('ssa', 'bob'));
    await ok(['wait', '--for=jsonpath={.status.latestReadyRevisionName}=ssa-00002', 'ksvc/ssa', '--timeout=60s']);
    await answers('ssa', 'Hello bob!');
    const taken = await getJson(['get', 'ksvc', 'ssa', '--show-managed-fields']);
    expect(taken.metadata.managedFields.map((m: any) => m.manager)).toEqual(['bob']);
  });

  it('a Configuration and a Route created with kubectl serve through the router; the split moves', async () => {
    const cfg = (target: string) => `apiVersion: serving.knative.dev/v1
kind: Configuration
metadata:
  name: blue
spec:
  template:
    spec:
      containers:
        - command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(testAppPath)}]
          env:
            - name: TARGET
              value: ${target}
`;
    const rt = (old: number) => `apiVersion: serving.knative.dev/v1
kind: Route
metadata:
  name: split
spec:
  traffic:
    - revisionName: blue-00001
      percent: ${old}
      tag: old
    - configurationName: blue
      latestRevision: true
      percent: ${100 - old}
`;
    const typo = await kubectl(['apply', '-f', '-'], cfg('v1').replace('  template:', '  templat:'));
    expect(typo.code).not.toBe(0);
    expect(typo.stderr).toMatch(/templat/);
    expect(await ok(['apply', '-f', '-'], cfg('one'))).toMatch(/configuration.serving.knative.dev\/blue created/);
    await ok(['wait', '--for=condition=Ready', 'cfg/blue', '--timeout=60s']);
    // Server-side apply over kubectl's client-side apply: a conflict naming its manager, then forced.
    const conflict = await kubectl(['apply', '--server-side', '--field-manager=ci', '-f', '-'], cfg('two'));
    expect(conflict.stderr).toMatch(/conflict with "kubectl-client-side-apply": \.spec\.template\.spec\.containers/);
    await ok(['apply', '--server-side', '--field-manager=ci', '--force-conflicts', '-f', '-'], cfg('two'));
    await ok(['wait', '--for=jsonpath={.status.latestReadyRevisionName}=blue-00002', 'cfg/blue', '--timeout=60s']);
    const [cfgHeader, cfgRow] = (await ok(['get', 'cfg', 'blue'])).trim().split('\n');
    expect(cfgHeader?.split(/\s+/)).toEqual(['NAME', 'LATESTCREATED', 'LATESTREADY', 'READY', 'REASON']);
    expect(cfgRow).toMatch(/^blue\s+blue-00002\s+blue-00002\s+True\s*$/);
    expect(
      (await getJson(['get', 'cfg', 'blue', '--show-managed-fields'])).metadata.managedFields.map(
        (m: any) => m.manager,
      ),
    ).toContain('ci');

    expect(await ok(['apply', '-f', '-'], rt(50))).toMatch(/route.serving.knative.dev\/split created/);
    await ok(['wait', '--for=condition=Ready', 'rt/split', '--timeout=60s']);
    expect(await ok(['get', 'rt', 'split', '-o', 'jsonpath={.status.url}'])).toMatch(
      /^http:\/\/split\.default\.localhost(:\d+)?$/,
    );
    // The tag's host reaches the pinned revision; the route's host splits between both.
    await answers('old-split', 'Hello one!');
    const seen = new Set<string>();
    for (let i = 0; i < 40 && seen.size < 2; i++) seen.add(await answer('split'));
    expect([...seen].sort()).toEqual(['Hello one!', 'Hello two!']);
    // The split moves: everything to the configuration's latest.
    expect(await ok(['apply', '-f', '-'], rt(0))).toMatch(/route.serving.knative.dev\/split configured/);
    await ok(['wait', '--for=jsonpath={.status.traffic[0].percent}=0', 'rt/split', '--timeout=60s']);
    await answers('split', 'Hello two!');
    for (let i = 0; i < 20; i++) expect(await answer('split')).toBe('Hello two!');
    // Dry runs and diff store nothing.
    await ok(['apply', '--dry-run=server', '-f', '-'], rt(100));
    expect((await getJson(['get', 'rt', 'split'])).metadata.generation).toBe(2);
    expect(await ok(['explain', 'rt.spec.traffic.configurationName'])).toMatch(/latest ready revision/);

    // A Service's own Configuration is reconciled back when edited directly: the Service wins.
    const edit = await kubectl(['patch', 'cfg', 'web', '--type', 'merge', '-p', '{"metadata":{"labels":{"x":"y"}}}']);
    expect(edit.code).toBe(0);
    expect(edit.stderr).toMatch(/Warning: configuration web is owned by Service web/);
    expect((await getJson(['get', 'cfg', 'web'])).metadata.labels.x).toBeUndefined();
    await answers('web', 'Hello v3!');

    // Its revisions' replicas are told no Service (Knative's deploy.go: K_SERVICE from the label).
    const env = (await (await p.get('split.default.localhost', '/env')).json()) as Record<string, string>;
    expect(env).toMatchObject({ K_SERVICE: '', K_CONFIGURATION: 'blue', K_REVISION: 'blue-00002' });
    // Its replica dies and is replaced on other ports: the Route (whose status does not change)
    // reaches the new one, as a Service's route does.
    const supervisor = p.proc.child.pid as number;
    const appOf = () => childrenOf(supervisor).find((c) => c.env.K_REVISION === 'blue-00002');
    const killed = appOf()?.pid;
    expect(killed).toBeTypeOf('number');
    process.kill(killed as number, 'SIGKILL');
    await waitFor(() => (appOf()?.pid ?? killed) !== killed, 30_000, 'the replica replaced');
    await answers('split', 'Hello two!');
    // A DomainMapping applied server-side reaches the Route (Knative takes any Addressable Route).
    const dm = `apiVersion: serving.knative.dev/v1beta1
kind: DomainMapping
metadata:
  name: split.example.test
spec:
  ref:
    apiVersion: serving.knative.dev/v1
    kind: Route
    name: split
`;
    expect(await ok(['apply', '--server-side', '--field-manager=dm', '-f', '-'], dm)).toMatch(
      /domainmapping.serving.knative.dev\/split.example.test serverside-applied/,
    );
    await ok(['wait', '--for=condition=Ready', 'domainmapping/split.example.test', '--timeout=60s']);
    expect((await (await p.get('split.example.test')).text()).trim()).toBe('Hello two!');
    const otherDm = await kubectl(
      ['apply', '--server-side', '--field-manager=other', '-f', '-'],
      dm.replace('name: split\n', 'name: web\n'),
    );
    expect(otherDm.code).not.toBe(0);
    expect(otherDm.stderr).toMatch(/conflict with "dm": \.spec\.ref\.name/);
    // Server-side apply to the status subresource: owned under subresource status.
    const statusApplied = await ok(
      [
        'apply',
        '--server-side',
        '--subresource=status',
        '--field-manager=probe',
        '--show-managed-fields',
        '-o',
        'json',
        '-f',
        '-',
      ],
      `${dm}status:\n  address:\n    url: http://probe.example.test\n`,
    );
    expect(JSON.parse(statusApplied).metadata.managedFields).toContainEqual(
      expect.objectContaining({ manager: 'probe', operation: 'Apply', subresource: 'status' }),
    );
    await ok(['delete', 'domainmapping', 'split.example.test']);

    await ok(['delete', 'rt/split', 'cfg/blue', '--wait=true']);
    const deadline = Date.now() + 10_000;
    while ((await p.get('split.default.localhost')).status !== 404 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await p.get('split.default.localhost')).status).toBe(404);
  }, 180_000);

  it('DomainMapping (v1beta1): apply (validated), get with URL/READY/REASON, explain, apply again, patch', async () => {
    const dm = (target: string, label: string) => `apiVersion: serving.knative.dev/v1beta1
kind: DomainMapping
metadata:
  name: shop.example.test
  labels:
    team: ${label}
spec:
  ref:
    apiVersion: serving.knative.dev/v1
    kind: Service
    name: ${target}
`;
    const typo = await kubectl(['apply', '-f', '-'], dm('web', 'a').replace('  ref:', '  reff:'));
    expect(typo.code).not.toBe(0);
    expect(typo.stderr).toMatch(/reff/);
    expect(await ok(['apply', '-f', '-'], dm('web', 'a'))).toMatch(
      /domainmapping.serving.knative.dev\/shop.example.test created/,
    );
    await ok(['wait', '--for=condition=Ready', 'domainmapping/shop.example.test', '--timeout=60s']);
    // get -w: the current row, then the change a relabel makes (the watch streams Table rows).
    const watch: ChildProcess = spawn(
      kubectlBin,
      [...base(), 'get', 'domainmapping', '-w', '--no-headers', '-L', 'team'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let seen = '';
    watch.stdout?.on('data', (d: Buffer) => (seen += d.toString()));
    const sees = async (pattern: RegExp) => {
      const deadline = Date.now() + 30_000;
      while (!pattern.test(seen) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(seen).toMatch(pattern);
    };
    try {
      await sees(/shop\.example\.test\s+http:\/\/shop\.example\.test\s+True\s+a/);
      await ok(['label', '--overwrite', 'domainmapping', 'shop.example.test', 'team=w']);
      await sees(/shop\.example\.test\s+http:\/\/shop\.example\.test\s+True\s+w/);
    } finally {
      watch.kill();
    }
    const [header, row] = (await ok(['get', 'domainmapping'])).trim().split('\n');
    expect(header?.split(/\s+/)).toEqual(['NAME', 'URL', 'READY', 'REASON']);
    expect(row).toMatch(/^shop\.example\.test\s+http:\/\/shop\.example\.test\s+True\s*$/);
    expect((await (await p.get('shop.example.test')).text()).trim()).toBe('Hello v3!');
    const explained = await ok(['explain', 'domainmapping.spec.ref']);
    expect(explained).toMatch(/GROUP:\s+serving\.knative\.dev/);
    expect(explained).toMatch(/VERSION:\s+v1beta1/);
    expect(explained).toMatch(/The Service the domain reaches/);
    // Applied again with a change: kubectl's merge patch against the last applied configuration.
    expect(await ok(['apply', '-f', '-'], dm('web', 'b'))).toMatch(/shop.example.test configured/);
    expect((await getJson(['get', 'domainmapping', 'shop.example.test'])).metadata.labels.team).toBe('b');
    await ok([
      'patch',
      'domainmapping',
      'shop.example.test',
      '--type',
      'json',
      '-p',
      '[{"op":"replace","path":"/metadata/labels/team","value":"c"}]',
    ]);
    expect((await getJson(['get', 'domainmapping', 'shop.example.test'])).metadata.labels.team).toBe('c');
    await ok(['delete', 'domainmapping', 'shop.example.test']);
    expect((await kubectl(['get', 'domainmapping', 'shop.example.test'])).stderr).toMatch(/NotFound|not found/);
  });

  it('create with generateName, delete: gone from the API and the router', async () => {
    const gen = manifest('x', 'gen').replace('  name: x', '  generateName: gen-');
    const created = await ok(['create', '-f', '-', '-o', 'name'], gen);
    const name = created.trim().replace('service.serving.knative.dev/', '');
    expect(name).toMatch(/^gen-[a-z0-9]{5}$/);
    await ready(p, name);
    await ok(['delete', 'ksvc', name, 'ssa', '--wait=true']);
    expect((await kubectl(['get', 'ksvc', 'ssa'])).stderr).toMatch(/NotFound|not found/);
    const deadline = Date.now() + 10_000;
    while ((await p.get('ssa.default.localhost')).status !== 404 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await p.get('ssa.default.localhost')).status).toBe(404);
    await answers('web', 'Hello v3!');
  });

  const knWaitRuns = knWait !== '' || process.env.CI === 'true';
  it.skipIf(!knWaitRuns)(
    'client-go list + watch (kn --wait): Ready after a create, DELETED after a delete',
    async () => {
      if (knWait === '') throw new Error('kn-wait is not built: run scripts/k8s/build-kn-wait.sh (CI=true: no skip)');
      /** Starts kn-wait; `listed` resolves once it has listed (its watch starts from that list). */
      const wait = (name: string, until: string) => {
        let out = '';
        let err = '';
        const child = spawn(knWait, ['--kubeconfig', kubeconfig, '--name', name, '--for', until, '--timeout', '60s']);
        const listed = new Promise<void>((resolve) => {
          child.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            if (out.includes('"type":"LIST"')) resolve();
          });
        });
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        const done = new Promise<Run>((resolve) =>
          child.once('exit', (code) => resolve({ code: code ?? 1, stdout: out, stderr: err })),
        );
        return { listed, done };
      };
      // Started before the Service exists, as kn does: an empty list, then the watch from its resourceVersion.
      const waiting = wait('kn', 'ready');
      await waiting.listed;
      await ok(['create', '-f', '-'], manifest('kn', 'kn'));
      const readyRun = await waiting.done;
      expect(readyRun.stderr).toBe('');
      expect(readyRun.code).toBe(0);
      const events = readyRun.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(events[0]).toMatchObject({ type: 'LIST', items: 0 });
      expect(events.at(-1)).toMatchObject({ type: 'MODIFIED', name: 'kn', ready: true });
      await answers('kn', 'Hello kn!');

      const deleting = wait('kn', 'deleted');
      await deleting.listed;
      await ok(['delete', 'ksvc', 'kn', '--wait=false']);
      const deletedRun = await deleting.done;
      expect(deletedRun.code).toBe(0);
      expect(deletedRun.stdout.trim().split('\n').at(-1)).toMatch(/"type":"DELETED"/);
    },
  );
});
