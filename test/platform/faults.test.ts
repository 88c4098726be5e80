import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appService, type Platform, ready, servicePath, startPlatform } from '../helpers/platform.ts';
import { childrenOf, type ProcessInfo, sleep, stopAll, waitFor } from '../helpers/processes.ts';

// Fault injection on one machine: `skiff up` is a supervisor whose children are the control
// plane, the router and each replica's app and queue-proxy. Each case kills one of them under a
// bounded load through the router and checks what clients saw. Figures go to bench/RESULTS.md.

const revision = 'steady-00001';
const host = 'steady.default.localhost';
let p: Platform;
let supervisor: number;
const figures: string[] = [];

beforeAll(async () => {
  p = await startPlatform();
  supervisor = p.proc.child.pid as number;
  const svc = appService(
    'steady',
    {},
    { TARGET: 'Steady' },
    {
      'autoscaling.knative.dev/min-scale': '2',
      'autoscaling.knative.dev/max-scale': '2',
    },
  );
  expect((await p.api('POST', servicePath(), svc)).status).toBe(201);
  await ready(p, 'steady', 60_000);
  await waitFor(() => replicaProcesses('app').length === 2, 30_000, 'two replicas');
}, 90_000);

afterAll(async () => {
  if (figures.length > 0) console.log(`fault injection figures:\n${figures.join('\n')}`);
  await stopAll();
});

const children = () => childrenOf(supervisor);
const controlPlane = () => children().find((c) => c.command.includes('up-control-plane'));
const router = () => children().find((c) => c.command.includes('edge-router'));
/** The running app (`K_REVISION`) or queue-proxy (`SERVING_REVISION`) processes of the revision. */
function replicaProcesses(role: 'app' | 'queue-proxy'): ProcessInfo[] {
  return children().filter((c) =>
    role === 'app'
      ? c.env.K_REVISION === revision
      : c.env.SERVING_REVISION === revision && c.command.includes('queue-proxy'),
  );
}

interface Outcome {
  start: number;
  end: number;
  status: number;
  error?: string;
}

/** `clients` loops of GET requests through the router for `ms`, each on a kept-alive connection. */
async function load(clients: number, ms: number): Promise<Outcome[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const outcomes: Outcome[] = [];
  const until = Date.now() + ms;
  const one = () =>
    new Promise<Outcome>((resolve) => {
      const start = Date.now();
      const req = request(
        { host: '127.0.0.1', port: p.routerPort, path: '/sleep?ms=20', headers: { host }, agent, timeout: 30_000 },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ start, end: Date.now(), status: res.statusCode ?? 0 }));
          res.on('error', (e) => resolve({ start, end: Date.now(), status: 0, error: e.message }));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => resolve({ start, end: Date.now(), status: 0, error: e.message }));
      req.end();
    });
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (Date.now() < until) outcomes.push(await one());
    }),
  );
  agent.destroy();
  return outcomes;
}

const failed = (outcomes: Outcome[]) => outcomes.filter((o) => o.status !== 200);
const summary = (outcomes: Outcome[]) =>
  failed(outcomes)
    .slice(0, 5)
    .map((o) => `${o.status} ${o.error ?? ''} at ${o.start}`);

async function apiAnswers(): Promise<boolean> {
  try {
    return (await p.api('GET', servicePath('steady'))).status === 200;
  } catch {
    return false;
  }
}

/** Whether the queue-proxy serving on `port` reports its app ready. */
function probeReady(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/', headers: { 'k-network-probe': 'queue' }, agent: false, timeout: 1000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

describe('fault injection on one machine (skiff up)', () => {
  it('SIGKILL of the control plane under load (50 clients, 20 s): 0 failed requests, replicas adopted', async () => {
    const cp = controlPlane();
    if (!cp) throw new Error('no control-plane process');
    const appsBefore = replicaProcesses('app').map((a) => a.pid);
    const running = load(50, 20_000);
    await sleep(5_000);
    const killedAt = Date.now();
    process.kill(cp.pid, 'SIGKILL');
    await waitFor(async () => (controlPlane()?.pid ?? cp.pid) !== cp.pid && (await apiAnswers()), 30_000, 'API back');
    const apiBackMs = Date.now() - killedAt;
    const outcomes = await running;
    expect(summary(outcomes)).toEqual([]);
    expect(outcomes.length).toBeGreaterThan(1000);
    // Adopted, not restarted: the same app processes serve on.
    expect(replicaProcesses('app').map((a) => a.pid)).toEqual(appsBefore);
    figures.push(
      `control plane SIGKILL: ${outcomes.length} requests, ${failed(outcomes).length} failed, API back in ${apiBackMs} ms, replicas adopted (same pids)`,
    );
  }, 90_000);

  it('SIGKILL of the router: it serves again within moments, from its kept snapshot', async () => {
    const r = router();
    if (!r) throw new Error('no router process');
    const killedAt = Date.now();
    process.kill(r.pid, 'SIGKILL');
    let status = 0;
    while (status !== 200 && Date.now() - killedAt < 10_000) {
      status = await new Promise<number>((resolve) => {
        const req = request(
          { host: '127.0.0.1', port: p.routerPort, path: '/', headers: { host }, agent: false },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', () => resolve(0));
        req.end();
      });
      if (status !== 200) await sleep(10);
    }
    const backMs = Date.now() - killedAt;
    expect(status).toBe(200);
    // The target is 1 s (bench/RESULTS.md records it); a loaded CI machine gets room.
    expect(backMs).toBeLessThan(5_000);
    expect(router()?.pid).not.toBe(r.pid);
    figures.push(`router SIGKILL: serving again after ${backMs} ms`);
  }, 30_000);

  it.each(['app', 'queue-proxy'] as const)(
    'SIGKILL of one replica’s %s under load (50 clients, 20 s): replaced, only requests in flight on it fail',
    async (role) => {
      const before = new Set(replicaProcesses('queue-proxy').map((q) => q.pid));
      const victim = replicaProcesses(role)[0];
      if (!victim) throw new Error(`no ${role} process`);
      const running = load(50, 20_000);
      await sleep(5_000);
      const killedAt = Date.now();
      process.kill(victim.pid, 'SIGKILL');
      let replacedMs = -1;
      await waitFor(
        async () => {
          const fresh = replicaProcesses('queue-proxy').find((q) => !before.has(q.pid));
          if (!fresh || !(await probeReady(Number(fresh.env.QUEUE_SERVING_PORT)))) return false;
          replacedMs = Date.now() - killedAt;
          return true;
        },
        20_000,
        'a replacement replica',
      );
      const outcomes = await running;
      const bad = failed(outcomes);
      figures.push(
        `replica ${role} SIGKILL: ${outcomes.length} requests, ${bad.length} failed, replaced (ready) in ${replacedMs} ms`,
      );
      if (bad.length > 0) {
        const starts = bad.map((o) => o.start - killedAt);
        const kinds = new Set(bad.map((o) => `${o.status} ${o.error ?? ''}`.trim()));
        figures.push(
          `  failed ones started ${Math.min(...starts)} to ${Math.max(...starts)} ms after the kill: ${[...kinds].join(', ')}`,
        );
      }
      expect(outcomes.length).toBeGreaterThan(1000);
      // Only requests on the dead replica may fail: those in flight on it, and (an app kill) those
      // its queue-proxy took in the moment before the supervisor ended it too (tens of ms on a
      // loaded machine), at most 0.1% (issue 12's bar; the router replays a dropped idempotent
      // request, so none failed in bench/RESULTS.md's runs).
      expect(bad.filter((o) => o.start > killedAt + 250).map((o) => `${o.status} ${o.error ?? ''}`)).toEqual([]);
      expect(bad.length).toBeLessThanOrEqual(outcomes.length * 0.001);
      // Generous for a loaded CI machine; the 2 s target is in bench/RESULTS.md.
      expect(replacedMs).toBeLessThan(10_000);
      expect(replicaProcesses('app')).toHaveLength(2);
    },
    90_000,
  );

  it('SIGSTOP of the control plane for 10 s under load: 0 failed requests', async () => {
    const cp = controlPlane();
    if (!cp) throw new Error('no control-plane process');
    const running = load(50, 15_000);
    await sleep(2_000);
    process.kill(cp.pid, 'SIGSTOP');
    try {
      await sleep(10_000);
    } finally {
      process.kill(cp.pid, 'SIGCONT');
    }
    const outcomes = await running;
    expect(summary(outcomes)).toEqual([]);
    expect(outcomes.length).toBeGreaterThan(1000);
    expect(controlPlane()?.pid).toBe(cp.pid);
    figures.push(`control plane SIGSTOP 10 s: ${outcomes.length} requests, ${failed(outcomes).length} failed`);
  }, 60_000);
});
