import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startRouter, stopRouters } from '../helpers/edge-router.ts';
import { startLoad } from '../helpers/load.ts';
import { appService, type Platform, ready, servicePath, startPlatform } from '../helpers/platform.ts';
import { sleep, stopAll, waitFor } from '../helpers/processes.ts';

afterAll(async () => {
  await stopRouters();
  await stopAll();
});

const host = 'twin.default.localhost';

async function rolloutOf(p: Platform): Promise<{ percent: number; condition: any; traffic: any[] }> {
  const svc = (await (await p.api('GET', servicePath('twin'))).json()) as any;
  const traffic = svc.status?.traffic ?? [];
  return {
    percent: traffic.find((t: any) => t.revisionName === 'twin-00002')?.percent ?? 0,
    condition: svc.status?.conditions?.find((c: any) => c.type === 'RolloutSucceeded'),
    traffic,
  };
}

async function until(p: Platform, done: (r: Awaited<ReturnType<typeof rolloutOf>>) => boolean, ms: number) {
  const deadline = Date.now() + ms;
  let last: Awaited<ReturnType<typeof rolloutOf>> | undefined;
  while (Date.now() < deadline) {
    last = await rolloutOf(p);
    if (done(last)) return { ...last, at: Date.now() };
    await sleep(100);
  }
  throw new Error(`timed out: ${JSON.stringify(last)}`);
}

describe('a rollout with a second router and a control-plane restart', () => {
  it('judges figures from every router, both apply the split, and a restart resumes from the stored step', async () => {
    let p = await startPlatform();
    const ports = { api: Number(new URL(p.apiUrl).port), router: p.routerPort };
    // A second router (its own process, like a second replica of the router Deployment).
    const second = await startRouter('node', {
      SKIFF_CONTROL_PLANE_URL: p.apiUrl,
      SKIFF_CONTROL_PLANE_CA_FILE: join(p.dataDir, 'ca.crt'),
      SKIFF_ROUTER_TOKEN: readFileSync(join(p.dataDir, 'router-token'), 'utf8').trim(),
      SKIFF_ROUTER_NAME: 'second',
    });
    const svc: any = appService('twin', {}, { TARGET: 'v1' });
    svc.metadata.annotations = {
      'rollout.skiff.dev/steps': '20,60,100',
      'rollout.skiff.dev/step-duration': '5s',
      'rollout.skiff.dev/min-requests': '300',
      'rollout.skiff.dev/max-error-rate': '5',
      'rollout.skiff.dev/max-latency-increase': '2s',
    };
    expect((await p.api('POST', servicePath(), svc)).status).toBe(201);
    await ready(p, 'twin', 60_000);

    // All the load goes through the second router: the gate can only judge from its figures.
    let load = startLoad(second.port, host, 6);
    const update = (await (await p.api('GET', servicePath('twin'))).json()) as any;
    delete update.status;
    update.spec.template.spec.containers[0].env = [{ name: 'TARGET', value: 'v2' }];
    expect((await p.api('PUT', servicePath('twin'), update)).status).toBe(200);
    const first = await until(p, (r) => r.percent === 20, 30_000);
    const second60 = await until(p, (r) => r.percent === 60, 60_000);
    let samples = await load.stop();
    const inStep = samples.filter((s) => s.at > first.at + 500 && s.at <= second60.at - 200);
    const share = (100 * inStep.filter((s) => s.revision === 'twin-00002').length) / inStep.length;
    expect(inStep.length).toBeGreaterThan(1000);
    expect(Math.abs(share - 20), `second router at step 1: ${share.toFixed(1)}%`).toBeLessThanOrEqual(3);
    expect(samples.every((s) => s.status === 200)).toBe(true);

    // The first router applies the same split (paused, so the step holds while it is measured).
    expect((await p.api('POST', `${servicePath('twin')}/rollout`, { action: 'pause' })).status).toBe(202);
    await until(p, (r) => r.condition?.message?.includes('(paused)'), 10_000);
    load = startLoad(p.routerPort, host, 6);
    // Enough answers for ±3 points to mean something (σ ≈ 1.3 points at 1,500), however busy the machine.
    const enough = 1500;
    await waitFor(() => load.samples.length >= enough, 60_000, `${enough} answers through the first router`);
    samples = await load.stop();
    const mine = (100 * samples.filter((s) => s.revision === 'twin-00002').length) / samples.length;
    expect(samples.length).toBeGreaterThanOrEqual(enough);
    expect((await rolloutOf(p)).percent).toBe(60);
    expect(Math.abs(mine - 60), `first router at step 2: ${mine.toFixed(1)}%`).toBeLessThanOrEqual(3);

    // Restart the control plane mid-rollout: it resumes from step 2, not from the start.
    p.proc.kill('SIGINT');
    expect(await p.proc.exited).toBe(0);
    p = await startPlatform(p.dataDir, ports);
    const resumed = await until(p, (r) => r.traffic.length > 0, 60_000);
    expect(resumed.percent).toBe(60);
    expect(resumed.condition).toMatchObject({ status: 'Unknown', reason: 'InProgress' });
    expect(resumed.condition.message).toContain('Step 2: revision "twin-00002" receives 60% of the traffic');
    expect(resumed.condition.message).toContain('(paused)');
    expect((await p.api('POST', `${servicePath('twin')}/rollout`, { action: 'resume' })).status).toBe(202);
    // The replicas restarted with the platform, on new ports: wait until the second router has
    // the new snapshot (it kept serving the last one while the control plane was down).
    const deadline = Date.now() + 30_000;
    let ok = 0;
    while (ok < 20 && Date.now() < deadline) {
      const probe = startLoad(second.port, host, 1);
      await sleep(50);
      const got = await probe.stop();
      ok = got.every((s) => s.status === 200) ? ok + got.length : 0;
    }
    load = startLoad(second.port, host, 6);
    const done = await until(p, (r) => r.condition?.status === 'True', 60_000);
    await load.stop();
    expect(done.traffic).toEqual([{ revisionName: 'twin-00002', latestRevision: true, percent: 100 }]);
    const view = (await (await p.api('GET', `${servicePath('twin')}/rollout`)).json()) as any;
    expect(view.events.filter((e: any) => e.action === 'rollout-start')).toHaveLength(1);
    expect(view.events.filter((e: any) => e.action === 'rollout-step')).toHaveLength(1);
    expect(view.lastOutcome.result).toBe('Succeeded');
  }, 240_000);
});
