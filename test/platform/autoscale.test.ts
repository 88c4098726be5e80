import { rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skiff } from '../helpers/control-plane.ts';
import { appService, type Platform, ready, servicePath, startPlatform } from '../helpers/platform.ts';

// The autoscaler end to end on the local backend, with short windows so it runs in seconds:
// `skiff up --autoscaler-stable-window 6s --autoscaler-scale-to-zero-grace-period 2s`.
let p: Platform;
const agent = new Agent({ keepAlive: true, maxSockets: 512 });

beforeAll(async () => {
  p = await startPlatform(undefined, undefined, [
    '--autoscaler-stable-window',
    '6s',
    '--autoscaler-scale-to-zero-grace-period=2s',
  ]);
});
afterAll(async () => {
  p?.proc.kill('SIGTERM');
  await p?.proc.exited;
  if (p) rmSync(p.dataDir, { recursive: true, force: true });
});

function hit(host: string, path: string): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: p.routerPort, path, headers: { host }, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
      res.on('error', () => resolve({ status: -1, ms: performance.now() - started }));
    });
    req.on('error', () => resolve({ status: -2, ms: performance.now() - started }));
    req.end();
  });
}

/** What the autoscaler reports for a revision on `/metrics`. */
async function gauges(revision: string): Promise<{ desired: number; actual: number; panic: number }> {
  const text = await (await p.api('GET', '/metrics')).text();
  const value = (name: string) =>
    Number(text.match(new RegExp(`${name}\\{[^}]*revision="${revision}"\\} (\\S+)`))?.[1] ?? 0);
  return {
    desired: value('kn_revision_pods_desired'),
    actual: value('kn_revision_pods_count'),
    panic: value('kn_revision_panic_mode'),
  };
}

/** Closed-loop load: `clients` loops each sending requests back to back until `stop`. */
function load(host: string, path: string, clients: number) {
  let stopped = false;
  const statuses = new Map<number, number>();
  const loops = Array.from({ length: clients }, async () => {
    while (!stopped) {
      const r = await hit(host, path);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    }
  });
  return {
    statuses,
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return statuses;
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('autoscaling on the local backend', () => {
  it('adds replicas as concurrency rises, removes them as it falls, then scales to zero and wakes on a request', async () => {
    // Target 2 in flight per replica (utilization 100%): 8 clients of 200 ms requests need 4.
    const annotations = {
      'autoscaling.knative.dev/target': '2',
      'autoscaling.knative.dev/target-utilization-percentage': '100',
    };
    expect((await p.api('POST', servicePath(), appService('auto', {}, {}, annotations))).status).toBe(201);
    await ready(p, 'auto');
    const host = 'auto.default.localhost';
    const rev = 'auto-00001';

    const timeline: { t: number; clients: number; desired: number; actual: number }[] = [];
    const started = Date.now();
    const watch = async (clients: number, ms: number) => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        const g = await gauges(rev);
        timeline.push({ t: Math.round((Date.now() - started) / 1000), clients, ...g });
        await sleep(500);
      }
    };

    const low = load(host, '/sleep?ms=200', 1);
    await watch(1, 6000);
    await low.stop();
    const high = load(host, '/sleep?ms=200', 8);
    await watch(8, 14_000);
    const highStatuses = await high.stop();
    const peak = Math.max(...timeline.filter((x) => x.clients === 8).map((x) => x.actual));
    expect(Math.max(...timeline.filter((x) => x.clients === 1).map((x) => x.desired))).toBeLessThanOrEqual(2);
    expect(peak, JSON.stringify(timeline)).toBeGreaterThanOrEqual(3);
    expect(peak).toBeLessThanOrEqual(8);
    expect([...low.statuses.keys(), ...highStatuses.keys()]).toEqual([200, 200]);

    // Idle: back down, then to zero after the 6 s window and the 2 s grace period.
    const idleFrom = Date.now();
    let zeroAfter = -1;
    while (Date.now() - idleFrom < 40_000) {
      const g = await gauges(rev);
      timeline.push({ t: Math.round((Date.now() - started) / 1000), clients: 0, ...g });
      if (g.desired === 0 && g.actual === 0) {
        zeroAfter = Date.now() - idleFrom;
        break;
      }
      await sleep(500);
    }
    expect(zeroAfter, JSON.stringify(timeline)).toBeGreaterThan(6000);
    expect(zeroAfter).toBeLessThan(30_000);
    const revision: any = await (
      await p.api('GET', `/apis/serving.knative.dev/v1/namespaces/default/revisions/${rev}`)
    ).json();
    expect(revision.status.actualReplicas).toBe(0);

    // The next request is held while a replica starts, and answers.
    const woken = await hit(host, '/');
    expect(woken.status).toBe(200);
    expect((await gauges(rev)).actual).toBe(1);

    // Every change was recorded with its reasons.
    const scaling: any = await (
      await p.api('GET', `/apis/serving.knative.dev/v1/namespaces/default/revisions/${rev}/scaling`)
    ).json();
    expect(scaling.changes.some((c: { reason: string }) => /grace/.test(c.reason))).toBe(true);
    expect(scaling.changes.some((c: { to: number; from: number }) => c.to > c.from && c.from >= 1)).toBe(true);

    // `skiff revision describe` prints the autoscaler's view and the decisions.
    const described = await skiff(['revision', 'describe', rev], { url: p.apiUrl, token: p.token, dataDir: p.dataDir });
    expect(described.code).toBe(0);
    expect(described.stdout).toMatch(/Autoscaler: +concurrency target 2\/replica, observed [\d.]+ \(stable\)/);
    expect(described.stdout).toMatch(/Scale decisions \(newest last\):\n(.*\n)*.* 1 -> 0 .*grace period/);
  }, 120_000);

  it('answers a burst of 200 concurrent requests at zero, none dropped (containerConcurrency 10)', async () => {
    const annotations = { 'autoscaling.knative.dev/initial-scale': '0' };
    const svc = appService('burst', { containerConcurrency: 10 }, {}, annotations);
    expect((await p.api('POST', servicePath(), svc)).status).toBe(201);
    await ready(p, 'burst', 30_000, false); // no probe request: it must stay at zero
    await sleep(300); // routers hear of a new route within milliseconds
    expect((await gauges('burst-00001')).actual).toBe(0);
    const t0 = performance.now();

    const results = await Promise.all(
      Array.from({ length: 200 }, () => hit('burst.default.localhost', '/sleep?ms=100')),
    );
    const byStatus = new Map<number, number>();
    for (const r of results) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
    expect(Object.fromEntries(byStatus)).toEqual({ 200: 200 });
    const g = await gauges('burst-00001');
    expect(g.actual).toBeGreaterThanOrEqual(1);
    console.log(
      `burst: 200 requests at zero answered in ${Math.round(performance.now() - t0)} ms; replicas ${g.actual} (desired ${g.desired})`,
    );
  }, 120_000);
});
