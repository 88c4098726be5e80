import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { get } from '../helpers/http.ts';
import { freePort, repoRoot, sleep } from '../helpers/processes.ts';

/**
 * A real Kubernetes control plane on loopback, the envtest way: etcd, kube-apiserver,
 * kube-controller-manager and kube-scheduler as processes, plus kwok playing the kubelets of N
 * fake Nodes, so pods become Running/Ready with fake IPs and EndpointSlices fill. Binaries come
 * from `scripts/k8s/build.sh` (built once, cached outside the repo). Pod and Node IPs are fake:
 * never send traffic to them.
 */
export interface TestCluster {
  /** Admin kubeconfig (token auth) usable by @kubernetes/client-node and kubectl. */
  kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** Admin bearer token (group system:masters). */
  token: string;
  /** Where kubectl and the other binaries live. */
  binDir: string;
  /** Kills every process (process group) and removes the temp dirs. */
  stop(): Promise<void>;
}

const buildScript = join(repoRoot, 'scripts/k8s/build.sh');
// Fake address plan: pods (kwok) and Services never overlap; Node IPs are outside both.
const podCidr = '10.244.0.0/16';
const serviceCidr = '10.96.0.0/16';
const nodeIp = (i: number) => `10.240.0.${i + 10}`;

/** Whether the cluster binaries are built, and if not, why (for a skip message). */
export function k8sAvailability(): { ok: true; binDir: string } | { ok: false; reason: string } {
  const found = spawnSync('bash', [buildScript, '--print-dir'], { encoding: 'utf8' });
  const dir = found.stdout.trim();
  if (found.status === 0 && dir !== '') return { ok: true, binDir: join(dir, 'bin') };
  const hasGo = spawnSync('go', ['version'], { encoding: 'utf8' }).status === 0;
  if (!hasGo) {
    return {
      ok: false,
      reason:
        'Go is not installed, so etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok cannot be ' +
        'built: install Go >= 1.26 and run scripts/k8s/build.sh',
    };
  }
  return {
    ok: false,
    reason:
      'the Kubernetes test binaries are not built yet: run scripts/k8s/build.sh (10-30 min the first time; .ci/run does it)',
  };
}

/**
 * describe() for Kubernetes suites: skips with a printed reason when the binaries (or Go to build
 * them) are missing, but fails when process.env.CI === 'true', where a skip would hide the suite.
 */
export const describeK8s = (name: string, fn: () => void): void => {
  const availability = k8sAvailability();
  if (availability.ok) {
    describe(name, fn);
    return;
  }
  const { reason } = availability;
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('has the Kubernetes test cluster binaries (CI=true: a skip is a failure)', () => {
        throw new Error(`cannot run the Kubernetes suite: ${reason}`);
      });
    });
    return;
  }
  console.warn(`Skipped the Kubernetes suite "${name}": ${reason}`);
  describe.skip(`${name} (skipped: ${reason})`, fn);
};

interface Component {
  name: string;
  child: ChildProcess;
  logPath: string;
  exited: Promise<void>;
  exitCode?: number | string;
}

// Children die with the test process even when it is killed outright (util-linux setpriv,
// as in the local backend): the kernel sends them SIGKILL when their parent goes.
const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

function launch(name: string, binary: string, args: string[], logDir: string, env: NodeJS.ProcessEnv): Component {
  const logPath = join(logDir, `${name}.log`);
  const fd = openSync(logPath, 'a');
  const argv = setpriv ? [setpriv, '--pdeathsig', 'SIGKILL', '--', binary, ...args] : [binary, ...args];
  const [file = '', ...rest] = argv;
  const child = spawn(file, rest, { env, stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  const component: Component = {
    name,
    child,
    logPath,
    exited: new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        component.exitCode = code ?? signal ?? -1;
        resolve();
      });
      // Not started at all (no 'exit' follows).
      child.once('error', (e) => {
        component.exitCode ??= e.message;
        resolve();
      });
    }),
  };

  return component;
}

function logTail(c: Component, lines = 40): string {
  try {
    return readFileSync(c.logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch (e) {
    return `(no log: ${(e as Error).message})`;
  }
}

function failure(c: Component, what: string): Error {
  return new Error(`${c.name} ${what}; last lines of ${c.logPath}:\n${logTail(c)}`);
}

/** Polls `check` every 100 ms until it holds; fails early, with the log, when a component exits. */
async function until(
  what: string,
  timeoutMs: number,
  components: Component[],
  check: () => Promise<boolean>,
  blame: Component | undefined = components.at(-1),
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const dead = components.find((c) => c.exitCode !== undefined);
    if (dead) throw failure(dead, `exited (${dead.exitCode}) while waiting for ${what}`);
    try {
      if (await check()) return;
      last = '';
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) {
      const message = `not ready after ${timeoutMs} ms: ${what}${last ? ` (last error: ${last})` : ''}`;
      throw blame ? failure(blame, message) : new Error(message);
    }
    await sleep(100);
  }
}

export interface KubeReply {
  status: number;
  body: string;
  json: any;
}

// The CA of each running cluster's self-signed serving cert, by server URL.
const caByServer = new Map<string, string>();

/** One request to the API server as admin (bearer token, the server's own CA). */
export function kubeRequest(
  cluster: Pick<TestCluster, 'server' | 'token'> & { ca?: string },
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<KubeReply> {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const ca = cluster.ca ?? caByServer.get(cluster.server);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${cluster.server}${path}`,
      {
        method,
        headers: {
          authorization: `Bearer ${cluster.token}`,
          accept: 'application/json',
          ...(payload === undefined ? {} : { 'content-type': contentType }),
        },
        ...(ca ? { ca } : { rejectUnauthorized: false }),
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined; // plain-text answers (/readyz, /healthz) are read from `body`
          }
          resolve({ status: res.statusCode ?? 0, body: text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Runs the cluster's kubectl as admin; resolves with its output, rejects with it on a non-zero exit. */
export function kubectl(
  cluster: Pick<TestCluster, 'binDir' | 'kubeconfigPath'>,
  args: string[],
  input?: string,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      join(cluster.binDir, 'kubectl'),
      ['--kubeconfig', cluster.kubeconfigPath, ...args],
      { encoding: 'utf8', timeout: 30_000 },
      (error, stdout, stderr) => {
        if (error)
          reject(Object.assign(new Error(`kubectl ${args.join(' ')}: ${stderr || error.message}`), { stdout, stderr }));
        else resolve({ stdout, stderr });
      },
    );
    child.stdin?.end(input);
  });
}

function kubeconfigYaml(server: string, ca: string, token: string): string {
  const caData = Buffer.from(ca).toString('base64');
  return `apiVersion: v1
kind: Config
clusters:
- name: skiff-test
  cluster:
    server: ${server}
    certificate-authority-data: ${caData}
users:
- name: admin
  user:
    token: ${token}
contexts:
- name: skiff-test
  context:
    cluster: skiff-test
    user: admin
current-context: skiff-test
`;
}

/** Stage files kwok v0.8.0 needs (it has no built-in stages any more), as kwokctl feeds them. */
const kwokStages = [
  'node/fast/node-initialize.yaml',
  'node/heartbeat-with-lease/node-heartbeat-with-lease.yaml',
  'pod/fast/pod-ready.yaml',
  'pod/fast/pod-complete.yaml',
  'pod/fast/pod-delete.yaml',
];

/**
 * Starts a fresh cluster (about 10 s) and resolves once its `nodes` fake Nodes are Ready and
 * schedulable and the default ServiceAccount exists.
 */
export async function startTestCluster(opts: { nodes?: number } = {}): Promise<TestCluster> {
  const nodes = opts.nodes ?? 2;
  const availability = k8sAvailability();
  if (!availability.ok) throw new Error(`cannot start a Kubernetes test cluster: ${availability.reason}`);
  const { binDir } = availability;
  const stagesDir = join(binDir, '..', 'stages');
  const bin = (name: string) => join(binDir, name);

  const dir = mkdtempSync(join(tmpdir(), 'skiff-k8s-'));
  const pki = join(dir, 'pki');
  const logs = join(dir, 'logs');
  mkdirSync(pki);
  mkdirSync(logs);
  // No stray ~/.kube or ~/.kwok config may leak in.
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir };
  const components: Component[] = [];
  let stopped: Promise<void> | undefined;
  /** After a failed start only the logs stay, for the error message that points at them. */
  const stop = (keepLogs = false) => {
    stopped ??= (async () => {
      for (const c of [...components].reverse()) {
        if (c.exitCode === undefined && c.child.pid !== undefined) {
          try {
            process.kill(-c.child.pid, 'SIGKILL');
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
          }
        }
      }
      await Promise.all(components.map((c) => c.exited));
      if (!keepLogs) rmSync(dir, { recursive: true, force: true });
      else for (const d of ['etcd', 'pki', 'kubeconfig']) rmSync(join(dir, d), { recursive: true, force: true });
    })();
    return stopped;
  };

  try {
    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];

    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const etcd = launch(
      'etcd',
      bin('etcd'),
      [
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=default=${peerUrl}`,
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ],
      logs,
      env,
    );
    components.push(etcd);
    await until('etcd /health', 30_000, components, async () => {
      const r = await get(`${etcdUrl}/health`, { timeoutMs: 2000 });
      return r.status === 200 && JSON.parse(r.body).health === 'true';
    });

    const token = randomBytes(24).toString('hex');
    const tokenFile = join(pki, 'tokens.csv');
    writeFileSync(tokenFile, `${token},admin,admin,"system:masters"\n`, { mode: 0o600 });
    const sa = generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    const saKey = join(pki, 'sa.key');
    const saPub = join(pki, 'sa.pub');
    writeFileSync(saKey, sa.privateKey, { mode: 0o600 });
    writeFileSync(saPub, sa.publicKey);

    const server = `https://127.0.0.1:${apiPort}`;
    const apiserver = launch(
      'kube-apiserver',
      bin('kube-apiserver'),
      [
        `--etcd-servers=${etcdUrl}`,
        // No --tls-cert-file: the server makes its own CA and serving cert here (apiserver.crt).
        `--cert-dir=${pki}`,
        `--secure-port=${apiPort}`,
        '--bind-address=127.0.0.1',
        // Without a default route the server cannot pick an address on its own.
        '--advertise-address=127.0.0.1',
        // The `kubernetes` Service keeps no (loopback) endpoints.
        '--endpoint-reconciler-type=none',
        `--service-cluster-ip-range=${serviceCidr}`,
        '--authorization-mode=RBAC',
        `--token-auth-file=${tokenFile}`,
        '--allow-privileged=true',
        `--service-account-issuer=${server}`,
        `--service-account-key-file=${saPub}`,
        `--service-account-signing-key-file=${saKey}`,
      ],
      logs,
      env,
    );
    components.push(apiserver);
    const anyCa = { server, token };
    await until('kube-apiserver /readyz', 60_000, components, async () => {
      const r = await kubeRequest(anyCa, 'GET', '/readyz');
      return r.status === 200;
    });

    // The self-signed bundle holds the serving cert and the CA that signed it.
    const caPath = join(pki, 'apiserver.crt');
    const ca = readFileSync(caPath, 'utf8');
    caByServer.set(server, ca);
    const kubeconfigPath = join(dir, 'kubeconfig');
    writeFileSync(kubeconfigPath, kubeconfigYaml(server, ca, token), { mode: 0o600 });

    const common = [`--kubeconfig=${kubeconfigPath}`, '--leader-elect=false', '--secure-port=0'];
    const kcm = launch(
      'kube-controller-manager',
      bin('kube-controller-manager'),
      [...common, `--root-ca-file=${caPath}`, `--service-account-private-key-file=${saKey}`],
      logs,
      env,
    );
    const scheduler = launch('kube-scheduler', bin('kube-scheduler'), common, logs, env);
    const kwok = launch(
      'kwok',
      bin('kwok'),
      [
        `--kubeconfig=${kubeconfigPath}`,
        ...kwokStages.map((s) => `--config=${join(stagesDir, s)}`),
        '--manage-all-nodes=true',
        `--cidr=${podCidr}`,
        `--node-ip=${nodeIp(0)}`,
        '--node-lease-duration-seconds=40',
      ],
      logs,
      env,
    );
    components.push(kcm, scheduler, kwok);

    const cluster = { server, token, ca };
    for (let i = 0; i < nodes; i++) {
      const name = `kwok-node-${i}`;
      const r = await kubeRequest(cluster, 'POST', '/api/v1/nodes', {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name,
          labels: {
            'kubernetes.io/hostname': name,
            'kubernetes.io/os': 'linux',
            'kubernetes.io/arch': 'amd64',
            type: 'kwok',
          },
          annotations: { 'kwok.x-k8s.io/node': 'fake' },
        },
        spec: { podCIDR: `10.244.${i}.0/24`, podCIDRs: [`10.244.${i}.0/24`] },
        status: { addresses: [{ type: 'InternalIP', address: nodeIp(i) }] },
      });
      if (r.status !== 201) throw new Error(`creating Node ${name}: ${r.status} ${r.body}`);
    }

    await until(
      `${nodes} Ready fake Nodes (kwok)`,
      60_000,
      components,
      async () => {
        const r = await kubeRequest(cluster, 'GET', '/api/v1/nodes');
        const ready = (r.json?.items ?? []).filter((n: any) =>
          (n.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
        );
        return ready.length === nodes;
      },
      kwok,
    );
    await until(
      'schedulable Nodes (node-lifecycle controller lifts not-ready taints)',
      60_000,
      components,
      async () => {
        const r = await kubeRequest(cluster, 'GET', '/api/v1/nodes');
        return (r.json?.items ?? []).every((n: any) => (n.spec?.taints ?? []).length === 0);
      },
      kcm,
    );
    await until(
      'the default ServiceAccount (serviceaccount controller)',
      60_000,
      components,
      async () => {
        const r = await kubeRequest(cluster, 'GET', '/api/v1/namespaces/default/serviceaccounts/default');
        return r.status === 200;
      },
      kcm,
    );

    return { kubeconfigPath, server, token, binDir, stop: () => stop() };
  } catch (e) {
    await stop(true);
    throw e;
  }
}
