import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skiff } from '../helpers/control-plane.ts';
import { type Sample, startLoad } from '../helpers/load.ts';
import { appService, type Platform, ready, servicePath, startPlatform } from '../helpers/platform.ts';
import { sleep, stopAll } from '../helpers/processes.ts';

// Rollouts on the local backend with short steps: real `skiff up`, real apps, load through the router.

let p: Platform;
beforeAll(async () => {
  p = await startPlatform();
}, 60_000);
afterAll(stopAll);

const host = (name: string) => `${name}.default.localhost`;

interface Seen {
  at: number;
  traffic: { revisionName: string; percent: number; latestRevision?: boolean; tag?: string }[];
  rollout: { status: string; reason?: string; message?: string } | undefined;
  routes: { status: string; reason?: string } | undefined;
}

async function getService(name: string): Promise<any> {
  return (await p.api('GET', servicePath(name))).json();
}

function seen(svc: any): Seen {
  const conds = (svc.status?.conditions ?? []) as { type: string; status: string; reason?: string }[];
  return {
    at: Date.now(),
    traffic: svc.status?.traffic ?? [],
    rollout: conds.find((c) => c.type === 'RolloutSucceeded'),
    routes: conds.find((c) => c.type === 'RoutesReady'),
  };
}

/** Polls the service's status every 100 ms until `done` says so (or the time is up). */
async function watch(name: string, done: (s: Seen) => boolean, timeoutMs: number): Promise<Seen[]> {
  const out: Seen[] = [];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const s = seen(await getService(name));
    out.push(s);
    if (done(s)) return out;
    await sleep(100);
  }
  throw new Error(`${name}: timed out; last ${JSON.stringify(out.at(-1))}`);
}

async function deploy(name: string, annotations: Record<string, string>, env: Record<string, string> = {}) {
  const svc: any = appService(name, {}, { TARGET: 'v1', ...env });
  svc.metadata.annotations = annotations;
  const created = await p.api('POST', servicePath(), svc);
  expect(created.status).toBe(201);
  return ready(p, name, 60_000);
}

/** A new template (a new revision) without waiting: the rollout makes the service not Ready for a while. */
async function newRevision(name: string, env: Record<string, string>) {
  const svc = await getService(name);
  delete svc.status;
  svc.spec.template.spec.containers[0].env = Object.entries(env).map(([k, v]) => ({ name: k, value: v }));
  const r = await p.api('PUT', servicePath(name), svc);
  expect(r.status).toBe(200);
}

const candidatePercent = (s: Seen, revision: string) =>
  s.traffic.filter((t) => t.revisionName === revision && !t.tag).reduce((n, t) => n + t.percent, 0);

/** The times each candidate percent was first reported, in order. */
function phases(history: Seen[], revision: string): { percent: number; from: number; to: number }[] {
  const out: { percent: number; from: number; to: number }[] = [];
  for (const s of history) {
    const pct = candidatePercent(s, revision);
    const last = out.at(-1);
    if (last && last.percent === pct) last.to = s.at;
    else out.push({ percent: pct, from: s.at, to: s.at });
  }
  return out;
}

const failed = (samples: Sample[]) => samples.filter((s) => s.status !== 200).length;

describe('progressive rollouts (skiff up)', () => {
  it('moves traffic in the configured steps, as measured through the router, to 100%', async () => {
    await deploy('steps', {
      'rollout.skiff.dev/steps': '10,50,100',
      'rollout.skiff.dev/step-duration': '6s',
      'rollout.skiff.dev/min-requests': '200',
      // Generous gates: this one is about the steps; the gates have their own tests.
      'rollout.skiff.dev/max-error-rate': '5',
      'rollout.skiff.dev/max-latency-increase': '2s',
    });
    const load = startLoad(p.routerPort, host('steps'), 8);
    await sleep(1000);
    await newRevision('steps', { TARGET: 'v2' });
    const history = await watch('steps', (s) => s.rollout?.status === 'True', 90_000);
    await sleep(1000);
    const samples = await load.stop();

    const inProgress = history.filter((s) => s.rollout?.status === 'Unknown');
    expect(inProgress[0]?.rollout).toMatchObject({ reason: 'InProgress' });
    expect(inProgress[0]?.rollout?.message).toContain('Step 1: revision "steps-00002" receives 10% of the traffic');
    // Knative's Route reports a rollout in progress; status.traffic has each revision of the rollout.
    expect(inProgress[0]?.routes).toMatchObject({ status: 'Unknown', reason: 'RolloutInProgress' });
    expect(inProgress[0]?.traffic).toEqual([
      { revisionName: 'steps-00001', latestRevision: true, percent: 90 },
      { revisionName: 'steps-00002', latestRevision: true, percent: 10 },
    ]);

    const steps = phases(history, 'steps-00002').filter((ph) => ph.percent > 0);
    expect(steps.map((ph) => ph.percent)).toEqual([10, 50, 100]);
    for (const step of steps.slice(0, 2)) {
      // Routers hear of a change within moments; leave them half a second.
      const inStep = samples.filter((s) => s.at > step.from + 500 && s.at <= step.to);
      const share = (100 * inStep.filter((s) => s.revision === 'steps-00002').length) / inStep.length;
      expect(inStep.length).toBeGreaterThan(1500);
      expect(
        Math.abs(share - step.percent),
        `step ${step.percent}%: measured ${share.toFixed(1)}%`,
      ).toBeLessThanOrEqual(3);
    }
    const after = samples.filter((s) => s.at > (steps[2] as { from: number }).from + 500);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((s) => s.revision === 'steps-00002')).toBe(true);
    expect(failed(samples)).toBe(0);

    const final = await getService('steps');
    expect(final.status.traffic).toEqual([{ revisionName: 'steps-00002', latestRevision: true, percent: 100 }]);
    expect(final.status.conditions.find((c: any) => c.type === 'Ready').status).toBe('True');

    // The steps and the verdict: rollout status, service describe and /metrics.
    const status = await skiff(['rollout', 'status', 'steps'], { url: p.apiUrl, token: p.token, dataDir: p.dataDir });
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('last: Succeeded');
    expect(status.stdout).toMatch(/rollout-step/);
    const describe = await skiff(['service', 'describe', 'steps'], {
      url: p.apiUrl,
      token: p.token,
      dataDir: p.dataDir,
    });
    expect(describe.stdout).toContain('Rollout:    gated, steps 10,50,100% of 6s');
    expect(describe.stdout).toContain('RolloutSucceeded');
    const metrics = await (await p.api('GET', '/metrics')).text();
    expect(metrics).toContain(
      'skiff_rollout_events_total{namespace="default",service="steps",action="rollout-step"} 1',
    );
    expect(metrics).toContain(
      'skiff_rollout_events_total{namespace="default",service="steps",action="rollout-succeeded"} 1',
    );
  }, 120_000);

  it('rolls back a revision that answers 500 for 20% of requests within one dwell of its first step', async () => {
    await deploy('flaky', {
      'rollout.skiff.dev/steps': '10,50,100',
      'rollout.skiff.dev/step-duration': '6s',
      'rollout.skiff.dev/min-requests': '20',
      'rollout.skiff.dev/max-error-rate': '1',
    });
    const load = startLoad(p.routerPort, host('flaky'), 6);
    await sleep(2000);
    await newRevision('flaky', { TARGET: 'v2', ERROR_PERCENT: '20' });
    const history = await watch('flaky', (s) => s.rollout?.status === 'False', 60_000);
    // Load goes on after the verdict: the new revision gets nothing more, and is not tried again.
    await sleep(3000);
    const samples = await load.stop();

    const started = history.find((s) => candidatePercent(s, 'flaky-00002') > 0) as Seen;
    const rolledBack = history.at(-1) as Seen;
    expect(rolledBack.at - started.at).toBeLessThanOrEqual(6000);
    expect(rolledBack.rollout).toMatchObject({ status: 'False', reason: 'RolledBack' });
    expect(rolledBack.rollout?.message).toMatch(
      /revision "flaky-00002" breached at step 1 \(10%\): 5xx \d+(\.\d)?% vs 0%/,
    );
    expect(rolledBack.traffic).toEqual([{ revisionName: 'flaky-00001', latestRevision: true, percent: 100 }]);
    expect(failed(samples) / samples.length).toBeLessThanOrEqual(0.01);
    expect(failed(samples)).toBeGreaterThan(0); // the bad revision did serve, and was caught by what it served
    expect(samples.filter((s) => s.at > rolledBack.at + 1000 && s.revision === 'flaky-00002')).toEqual([]);

    const after = await getService('flaky');
    expect(after.status.traffic).toEqual([{ revisionName: 'flaky-00001', latestRevision: true, percent: 100 }]);
    expect(after.status.latestReadyRevisionName).toBe('flaky-00002');
    // The failed revision is kept for inspection.
    const rev = await p.api('GET', '/apis/serving.knative.dev/v1/namespaces/default/revisions/flaky-00002');
    expect(rev.status).toBe(200);
  }, 90_000);

  it('rolls back a revision whose p99 is 300 ms higher on the latency gate', async () => {
    await deploy('slow', {
      'rollout.skiff.dev/steps': '20,100',
      'rollout.skiff.dev/step-duration': '8s',
      'rollout.skiff.dev/min-requests': '20',
      'rollout.skiff.dev/max-latency-increase': '200ms',
    });
    const load = startLoad(p.routerPort, host('slow'), 6);
    await sleep(1000);
    await newRevision('slow', { TARGET: 'v2', LATENCY_MS: '300' });
    const history = await watch('slow', (s) => s.rollout?.status === 'False', 60_000);
    const samples = await load.stop();
    const verdict = history.at(-1) as Seen;
    expect(verdict.rollout).toMatchObject({ status: 'False', reason: 'RolledBack' });
    // Every answer is 300 ms slower, so the breach shows at the highest quantile the sample backs
    // with 10 answers beyond it (p99 only from 1,000 answers; see decider.ts minAnswersBeyond).
    const [, quantile, slow, fast] =
      verdict.rollout?.message?.match(/(p99|p95|p90|p50) (\d+)ms vs (\d+)ms \(max \+200ms\) over (\d+) requests/) ?? [];
    expect(quantile).toBeDefined();
    expect(Number(slow) - Number(fast)).toBeGreaterThan(200);
    expect(verdict.traffic).toEqual([{ revisionName: 'slow-00001', latestRevision: true, percent: 100 }]);
    expect(failed(samples)).toBe(0);
  }, 90_000);

  it('rolls back a new revision whose replica crashes, though the replica comes back', async () => {
    await deploy('crashy', {
      'rollout.skiff.dev/steps': '10,100',
      'rollout.skiff.dev/step-duration': '60s',
      // More than it can serve: the gates never judge, only the crash can end this rollout.
      'rollout.skiff.dev/min-requests': '1000000',
    });
    const load = startLoad(p.routerPort, host('crashy'), 4);
    await sleep(1000);
    await newRevision('crashy', { TARGET: 'v2', EXIT_AFTER_MS: '4000' });
    const history = await watch('crashy', (s) => s.rollout?.status === 'False', 60_000);
    await sleep(2000);
    const samples = await load.stop();
    const started = history.find((s) => candidatePercent(s, 'crashy-00002') > 0) as Seen;
    const verdict = history.at(-1) as Seen;
    expect(verdict.rollout).toMatchObject({
      reason: 'RolledBack',
      message: 'revision "crashy-00002" had a replica crash or fail its readiness probe at step 1 (10% of the traffic)',
    });
    expect(verdict.traffic).toEqual([{ revisionName: 'crashy-00001', latestRevision: true, percent: 100 }]);
    // It crashed about 4 s after it started, which was before its rollout began.
    expect(verdict.at - started.at).toBeLessThan(8000);
    expect(samples.some((s) => s.revision === 'crashy-00002')).toBe(true);
    expect(samples.filter((s) => s.at > verdict.at + 1000 && s.revision === 'crashy-00002')).toEqual([]);
  }, 90_000);

  it('pauses, resumes, promotes and aborts with skiff rollout', async () => {
    const cp = { url: p.apiUrl, token: p.token, dataDir: p.dataDir };
    await deploy('steer', {
      'rollout.skiff.dev/steps': '10,50,100',
      'rollout.skiff.dev/step-duration': '60s',
      'rollout.skiff.dev/min-requests': '0',
    });
    const none = await skiff(['rollout', 'abort', 'steer'], cp);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no rollout is in progress');

    await newRevision('steer', { TARGET: 'v2' });
    await watch('steer', (s) => candidatePercent(s, 'steer-00002') === 10, 30_000);
    expect((await skiff(['rollout', 'pause', 'steer'], cp)).code).toBe(0);
    await watch('steer', (s) => s.rollout?.message?.includes('(paused)') === true, 10_000);
    expect((await skiff(['rollout', 'resume', 'steer'], cp)).code).toBe(0);
    await watch('steer', (s) => s.rollout?.message?.includes('(paused)') === false, 10_000);

    expect((await skiff(['rollout', 'promote', 'steer'], cp)).code).toBe(0);
    const promoted = await watch('steer', (s) => s.rollout?.status === 'True', 10_000);
    expect(promoted.at(-1)?.traffic).toEqual([{ revisionName: 'steer-00002', latestRevision: true, percent: 100 }]);
    expect(promoted.at(-1)?.rollout?.message).toContain('promoted by a user');
    const r = await p.get(host('steer'));
    expect(await r.text()).toBe('Hello v2!\n');

    await newRevision('steer', { TARGET: 'v3' });
    await watch('steer', (s) => candidatePercent(s, 'steer-00003') === 10, 30_000);
    expect((await skiff(['rollout', 'abort', 'steer'], cp)).code).toBe(0);
    const aborted = await watch('steer', (s) => s.rollout?.status === 'False', 10_000);
    expect(aborted.at(-1)?.rollout).toMatchObject({ reason: 'Aborted' });
    expect(aborted.at(-1)?.traffic).toEqual([{ revisionName: 'steer-00002', latestRevision: true, percent: 100 }]);

    const bad = await p.api('POST', `${servicePath('steer')}/rollout`, { action: 'rewind' });
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as any).details.causes[0].field).toBe('action');
  }, 90_000);

  it("follows Knative's rollout-duration: 1% first, equal steps, each revision in status.traffic", async () => {
    await deploy('gradual', { 'serving.knative.dev/rollout-duration': '4s' });
    const start = Date.now();
    await newRevision('gradual', { TARGET: 'v2' });
    const history = await watch('gradual', (s) => s.rollout?.status === 'True', 30_000);
    const steps = phases(history, 'gradual-00002')
      .map((ph) => ph.percent)
      .filter((x) => x > 0);
    expect(steps[0]).toBe(1);
    expect(steps.at(-1)).toBe(100);
    // The 1% counts as a 1 s step, so 3 s remain for the 99%: 3 steps of 33% a second apart.
    expect(steps).toEqual([1, 34, 67, 100]);
    expect(Date.now() - start).toBeGreaterThanOrEqual(4000);
    const mid = history.find((s) => s.traffic.length === 2) as Seen;
    expect(mid.traffic.every((t) => t.latestRevision === true)).toBe(true);
    expect(mid.traffic.reduce((n, t) => n + t.percent, 0)).toBe(100);
  }, 60_000);
});
