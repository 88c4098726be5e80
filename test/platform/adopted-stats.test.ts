import { rmSync, statSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appService, type Platform, ready, servicePath, startPlatform } from '../helpers/platform.ts';
import { childrenOf, waitFor } from '../helpers/processes.ts';

// `skiff up` restarts a SIGKILLed control plane, which adopts the running replicas. Their
// queue-proxies were started pushing stats to the first one (its stats socket in the data folder):
// the stream must reach the new one, or the autoscaler would never scale an adopted replica again
// (it does not scrape pushers).
let p: Platform;
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

beforeAll(async () => {
  p = await startPlatform(undefined, undefined, ['--autoscaler-stable-window', '6s']);
}, 90_000);
afterAll(async () => {
  p?.proc.kill('SIGTERM');
  await p?.proc.exited;
  if (p) rmSync(p.dataDir, { recursive: true, force: true });
});

function hit(host: string, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: p.routerPort, path, headers: { host }, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(-1));
    });
    req.on('error', () => resolve(-2));
    req.end();
  });
}

async function desired(revision: string): Promise<number> {
  const r = await p.api('GET', '/metrics').catch(() => undefined);
  if (!r?.ok) return -1;
  const text = await r.text();
  return Number(text.match(new RegExp(`kn_revision_pods_desired\\{[^}]*revision="${revision}"\\} (\\S+)`))?.[1] ?? -1);
}

describe('stats of adopted replicas', () => {
  it("reach the restarted control plane after a SIGKILL: the autoscaler scales the adopted replica's revision", async () => {
    // Target 2 in flight per replica: 8 clients of 300 ms requests need 4. One replica at rest.
    const annotations = {
      'autoscaling.knative.dev/target': '2',
      'autoscaling.knative.dev/target-utilization-percentage': '100',
      'autoscaling.knative.dev/min-scale': '1',
    };
    expect((await p.api('POST', servicePath(), appService('adopt', {}, {}, annotations))).status).toBe(201);
    await ready(p, 'adopt');
    const supervisor = p.proc.child.pid as number;
    const controlPlane = childrenOf(supervisor).find((c) => c.env.SKIFF_UP_ARGS !== undefined);
    const queueProxy = () =>
      childrenOf(supervisor).find((c) => c.env.SERVING_REVISION === 'adopt-00001' && c.env.SKIFF_STATS_PUSH_URL);
    const pusher = queueProxy();
    expect(controlPlane).toBeDefined();
    // On this machine: over the control plane's stats socket in its data folder (no TLS, no network).
    expect(pusher?.env.SKIFF_STATS_PUSH_URL).toBe(`unix:${join(p.dataDir, 'stats.sock')}`);
    expect(statSync(join(p.dataDir, 'stats.sock')).mode & 0o777).toBe(0o600);
    expect(statSync(p.dataDir).mode & 0o777).toBe(0o700);

    process.kill(controlPlane?.pid as number, 'SIGKILL');
    const killedAt = Date.now();
    await waitFor(
      async () => (await p.api('GET', '/readyz').catch(() => undefined))?.status === 200,
      60_000,
      'the restarted control plane',
    );
    const backAt = Date.now();
    await waitFor(async () => (await desired('adopt-00001')) === 1, 30_000, 'the adopted revision at 1');
    // Adopted, not replaced: the same queue-proxy process, pushing to the address it was given.
    expect(queueProxy()?.pid).toBe(pusher?.pid);

    let stopped = false;
    const loops = Array.from({ length: 8 }, async () => {
      while (!stopped) await hit('adopt.default.localhost', '/sleep?ms=300');
    });
    try {
      // Held requests are not in it (no limit on concurrency: the router forwards them all), so
      // only the adopted replica's pushed stats can take it up.
      await waitFor(async () => (await desired('adopt-00001')) >= 3, 30_000, 'a scale-up from the pushed stats');
    } finally {
      stopped = true;
      await Promise.all(loops);
    }
    console.log(
      `adopted stats: control plane back ${backAt - killedAt} ms after SIGKILL, scaled up ${Date.now() - backAt} ms after`,
    );
  }, 180_000);
});
