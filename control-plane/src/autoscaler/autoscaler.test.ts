import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AutoscalerConfig, autoscalerDefaults, type Stat } from '@skiff/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RevisionWorkload } from '../backends/backend.ts';
import { MemoryBackend } from '../backends/memory/memory-backend.ts';
import type { RevisionRow } from '../store/schema.ts';
import { Store } from '../store/store.ts';
import { Autoscaler } from './autoscaler.ts';

// The autoscaler's shell with simulated time: a memory backend (replicas ready at once), stats
// served from a table instead of HTTP, and ticks driven by hand.
const fast: AutoscalerConfig = { ...autoscalerDefaults, stableWindowMs: 6000, scaleToZeroGracePeriodMs: 2000 };

let dir: string;
let store: Store;
let backend: MemoryBackend & { scrapeTargets(ns: string, rev: string): { pod: string; url: string }[] };
let now: number;
let concurrency: number; // in flight across the revision, shared evenly by its ready replicas
let enqueued: string[];

/** The revision `hello-00001`, stored (the autoscaler forgets revisions the store does not have). */
function row(annotations: Record<string, string> = {}, cc = 10): RevisionRow {
  const spec = { containerConcurrency: cc, containers: [{ image: 'x' }] };
  store.createService(
    'default',
    'hello',
    'svc-uid',
    { labels: {}, annotations: {}, spec: { template: { spec } } } as never,
    'user',
  );
  return store.createRevision(
    {
      namespace: 'default',
      name: 'hello-00001',
      service: 'hello',
      uid: 'u1',
      configGeneration: 1,
      templateHash: 'h',
      annotations: Object.fromEntries(Object.entries(annotations).map(([k, v]) => [`autoscaling.knative.dev/${k}`, v])),
      labels: {},
      spec,
    } as never,
    'reconciler',
  ) as RevisionRow;
}

function workload(r: RevisionRow): RevisionWorkload {
  return { ...r, configuration: r.service, revision: r.name } as unknown as RevisionWorkload;
}

function autoscaler(config = fast): Autoscaler {
  return new Autoscaler({
    store,
    backend,
    config,
    now: () => now,
    enqueue: (ns, name) => enqueued.push(`${ns}/${name}`),
    scrape: async (url): Promise<Stat> => ({
      namespace: 'default',
      revision: 'hello-00001',
      pod: url,
      averageConcurrency: concurrency / Math.max(1, backend.observe('default', 'hello-00001').ready.length),
      averageProxiedConcurrency: 0,
      requestsPerSecond: concurrency * 10,
      proxiedRequestsPerSecond: 0,
      processUptimeSeconds: 10,
      periodMs: 1000,
      timestamp: now,
    }),
    random: () => 0.5,
  });
}

/** Runs `seconds` of simulated time: scrape each second, tick every 2 s, replicas follow at once. */
async function run(a: Autoscaler, r: RevisionRow, seconds: number, routed = true): Promise<number[]> {
  const seen: number[] = [];
  for (let i = 0; i < seconds; i++) {
    now += 1000;
    await a.scrapeAll();
    if (i % 2 === 1) a.tickAll();
    const want = a.desired(r, true, routed);
    await backend.ensure(workload(r), want);
    seen.push(want);
  }
  return seen;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'skiff-as-'));
  store = new Store(join(dir, 'skiff.db'));
  const b = new MemoryBackend() as typeof backend;
  b.scrapeTargets = (ns, rev) => b.observe(ns, rev).ready.map((e) => ({ pod: e.pod, url: e.url }));
  backend = b;
  now = 1_000_000;
  concurrency = 0;
  enqueued = [];
});
afterEach(async () => {
  await backend.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Autoscaler', () => {
  it('wakes a revision at zero on a poke and decides at once', () => {
    const a = autoscaler();
    const r = row({ 'initial-scale': '0' });
    expect(a.desired(r, true, true)).toBe(0);
    a.activate('default', 'hello-00001', 20);
    expect(enqueued).toEqual(['default/hello']);
    expect(a.desired(r, true, true)).toBe(3); // 20 held / (10 × 0.7) → 3
    const audit = store.auditLog('default', 'hello').find((e) => e.actor === 'autoscaler');
    expect(audit?.detail).toMatchObject({ revision: 'hello-00001', from: 0, to: 3 });
  });

  it('acts on a poke that comes before the reconciler asked about the revision', () => {
    const a = autoscaler();
    const r = row({ 'initial-scale': '0' });
    a.activate('default', 'hello-00001', 1);
    expect(a.desired(r, true, true)).toBe(1);
  });

  it("counts the routers' held requests as demand", () => {
    const a = autoscaler();
    const r = row({ 'initial-scale': '0' });
    a.desired(r, true, true);
    a.routerStats({
      router: 'r1',
      timestamp: now,
      periodMs: 1000,
      revisions: [
        { namespace: 'default', revision: 'hello-00001', averageHeld: 8, averageInFlight: 0, requestsPerSecond: 0 },
      ],
    });
    expect(a.desired(r, true, true)).toBe(2);
  });

  it('follows load up and back down, then to zero after the grace period', async () => {
    const a = autoscaler();
    const r = row();
    expect(a.desired(r, true, true)).toBe(1);
    await backend.ensure(workload(r), 1);
    concurrency = 21; // 3× the target of 7 on one replica: panic
    const up = await run(a, r, 4);
    expect(Math.max(...up)).toBe(3);
    concurrency = 21; // steady: each of 3 replicas at its target
    expect((await run(a, r, 10)).at(-1)).toBe(3);
    concurrency = 0;
    const down = await run(a, r, 20);
    const zeroAt = down.indexOf(0);
    // 6 s stable window then 2 s grace (panic from the start has long ended).
    expect(zeroAt).toBeGreaterThanOrEqual(7);
    expect(zeroAt).toBeLessThanOrEqual(12);
    expect(down.slice(zeroAt).every((n) => n === 0)).toBe(true);
    const decisions = a.decisions('default', 'hello-00001');
    expect(decisions.at(-1)).toMatchObject({ desired: 0, reason: 'idle past the grace period: scaled to zero' });
    // At zero with nothing heard, a tick does not even decide it again (idle revisions cost nothing).
    await run(a, r, 6);
    expect(a.decisions('default', 'hello-00001')).toEqual(decisions);
    expect(
      store.auditLog('default', 'hello').some((e) => e.actor === 'autoscaler' && /grace/.test(String(e.detail.reason))),
    ).toBe(true);
  });

  it('keeps min-scale while routed, and lets go of everything when unrouted', async () => {
    const a = autoscaler();
    const r = row({ 'min-scale': '2' });
    expect(a.desired(r, true, true)).toBe(2);
    await backend.ensure(workload(r), 2);
    expect((await run(a, r, 20)).every((n) => n === 2)).toBe(true);
    expect(a.desired(r, false, false)).toBe(0);
  });

  it('after a restart, starts from the replicas already running, in panic', async () => {
    const r = row();
    await backend.ensure(workload(r), 4);
    const a = autoscaler();
    expect(a.desired(r, true, true)).toBe(4);
    concurrency = 0;
    // No scale-down for a stable window (6 s) after the restart.
    const seen = await run(a, r, 6);
    expect(seen.every((n) => n === 4)).toBe(true);
    expect(a.decisions('default', 'hello-00001').at(-1)?.inPanic).toBe(true);
    const later = await run(a, r, 6);
    expect(later.at(-1)).toBeLessThan(4);
  });

  it('forgets a revision once the reconciler removed it', async () => {
    const a = autoscaler();
    const r = row();
    a.desired(r, true, true);
    expect(a.metrics().join('\n')).toContain('revision="hello-00001"');
    store.deleteService('default', 'hello', 'user');
    a.forget('default', 'hello-00001');
    expect(a.metrics().join('\n')).not.toContain('revision="hello-00001"');
  });

  it('forgets a deleted revision at the next sweep (30 ticks) without being told', async () => {
    const a = autoscaler();
    const r = row();
    a.desired(r, true, true);
    store.deleteService('default', 'hello', 'user');
    for (let i = 0; i < 29; i++) a.tickAll();
    expect(a.tracked).toBe(1);
    a.tickAll();
    expect(a.tracked).toBe(0);
    expect(a.metrics().join('\n')).not.toContain('revision="hello-00001"');
  });

  it('exposes gauges per revision', async () => {
    const a = autoscaler();
    const r = row();
    a.desired(r, true, true);
    await backend.ensure(workload(r), 1);
    concurrency = 3;
    await run(a, r, 2);
    const text = a.metrics().join('\n');
    expect(text).toMatch(/kn_revision_pods_desired\{namespace="default",service="hello",revision="hello-00001"\} 1/);
    expect(text).toMatch(/kn_revision_concurrency_stable\{[^}]+\} 3/);
    expect(text).toMatch(/kn_revision_panic_mode\{[^}]+\} 0/);
    expect(text).toMatch(/kn_revision_capacity_excess\{[^}]+\} -204/); // 1×10 − 211 − 3
  });
});

describe("the autoscaler's timer", () => {
  it('decides a tick in slices: the event loop serves others between them', async () => {
    let calls = 0;
    const a = new Autoscaler({
      store,
      backend,
      config: { ...fast, tickIntervalMs: 20, scrapeIntervalMs: 60_000 },
      now: () => {
        calls++;
        return now;
      },
      enqueue: () => {},
    });
    // 5,000 revisions with a replica wanted: each tick decides every one of them.
    const r = row();
    for (let i = 0; i < 5000; i++) a.desired({ ...r, name: `r${i}-00001` }, true);
    const before = calls;
    a.start();
    // The first decision of the first tick: something else waits on the event loop.
    while (calls === before) await new Promise((r) => setImmediate(r));
    await new Promise<void>((r) => setImmediate(() => r()));
    const callsWhenOthersRan = calls - before;
    // The whole tick is done later.
    while (calls - before < 5000) await new Promise((r) => setTimeout(r, 5));
    a.stop();
    expect(callsWhenOthersRan).toBeGreaterThan(0);
    expect(callsWhenOthersRan).toBeLessThan(5000);
  });
});
