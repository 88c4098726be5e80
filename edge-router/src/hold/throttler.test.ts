import { latencyQuantile, type SnapshotRevision } from '@skiff/shared';
import { describe, expect, it } from 'vitest';
import { type Lease, Throttler, type Waiter } from './throttler.ts';

const revision = (endpoints: string[], containerConcurrency = 1): SnapshotRevision => ({
  namespace: 'default',
  name: 'hello-00001',
  service: 'hello',
  containerConcurrency,
  timeoutSeconds: 300,
  endpoints: endpoints.map((url, i) => ({ pod: `pod-${i}`, url })),
});

function recorder() {
  const granted: { name: string; lease: Lease }[] = [];
  const waiter = (name: string): Waiter => ({ granted: (lease) => granted.push({ name, lease }) });
  return { granted, waiter };
}

function throttler(rev: SnapshotRevision, maxHeld = 10, onHeld?: () => void) {
  let now = 0;
  const t = new Throttler(rev, { maxHeld, random: Math.random, now: () => now, onHeld });
  return { t, advance: (ms: number) => (now += ms) };
}

describe('revision throttler', () => {
  it('admits at once while an endpoint has a free slot', () => {
    const { t } = throttler(revision(['http://a:1', 'http://b:1']));
    const { waiter } = recorder();
    const first = t.enter(waiter('1'));
    const second = t.enter(waiter('2'));
    expect(first).toMatchObject({ endpoint: { url: 'http://a:1' }, held: false });
    expect(second).toMatchObject({ endpoint: { url: 'http://b:1' }, held: false });
    expect(t.inFlight).toBe(2);
  });

  it('holds requests for a revision at zero and releases them in order when endpoints appear', () => {
    let pokes = 0;
    const { t } = throttler(revision([]), 10, () => pokes++);
    const { granted, waiter } = recorder();
    expect(t.enter(waiter('1'))).toBe('queued');
    expect(t.enter(waiter('2'))).toBe('queued');
    expect(t.held).toBe(2);
    expect(pokes).toBe(2);
    t.update(revision(['http://a:1']));
    // One slot: the oldest goes first; the next waits for the slot to be released.
    expect(granted.map((g) => g.name)).toEqual(['1']);
    expect(granted[0]?.lease.held).toBe(true);
    t.release((granted[0] as { lease: Lease }).lease);
    expect(granted.map((g) => g.name)).toEqual(['1', '2']);
    expect(t.held).toBe(0);
  });

  it("times a held request's wait with the revision's cold start, and reports each cold start once", () => {
    const { t, advance } = throttler(revision([]));
    const { granted, waiter } = recorder();
    advance(1000);
    t.enter(waiter('1'));
    advance(10);
    t.enter(waiter('2'));
    advance(490);
    const coldStart = { decidedAt: 1005, spawnedAt: 1050, listeningAt: 1400, readyAt: 1480 };
    t.update({ ...revision(['http://a:1', 'http://b:1']), coldStart });
    expect(granted.map((g) => g.lease.wait)).toEqual([
      { heldAt: 1000, releasedAt: 1500, coldStart },
      { heldAt: 1010, releasedAt: 1500, coldStart },
    ]);
    t.coldStarted(1000, coldStart.decidedAt, { held: 500 });
    t.coldStarted(1010, coldStart.decidedAt, { held: 490 });
    expect(t.takeColdStarts()).toEqual([
      { namespace: 'default', revision: 'hello-00001', at: 1000, phases: { held: 500 } },
    ]);
    expect(t.takeColdStarts()).toEqual([]);
    // A request admitted at once waited for nothing.
    t.release((granted[0] as { lease: Lease }).lease);
    expect((t.enter(waiter('3')) as Lease).wait).toBeUndefined();
  });

  it('holds when every endpoint is saturated and refuses past the queue bound', () => {
    const { t } = throttler(revision(['http://a:1']), 2);
    const { waiter } = recorder();
    const lease = t.enter(waiter('busy'));
    expect(lease).toHaveProperty('endpoint');
    expect(t.enter(waiter('1'))).toBe('queued');
    expect(t.enter(waiter('2'))).toBe('queued');
    expect(t.enter(waiter('3'))).toBe('full');
  });

  it('lets a waiter that gives up leave the queue at once', () => {
    const { t } = throttler(revision([]), 1);
    const { granted, waiter } = recorder();
    const gone = waiter('gone');
    expect(t.enter(gone)).toBe('queued');
    expect(t.cancel(gone)).toBe(true);
    expect(t.enter(waiter('next'))).toBe('queued');
    t.update(revision(['http://a:1']));
    expect(granted.map((g) => g.name)).toEqual(['next']);
    expect(t.cancel(gone)).toBe(false);
  });

  it('keeps in-flight counts of endpoints that stay across snapshots', () => {
    const { t } = throttler(revision(['http://a:1']));
    const { waiter } = recorder();
    t.enter(waiter('1'));
    t.update(revision(['http://b:1', 'http://a:1']));
    expect(t.endpoints.map((e) => [e.url, e.inFlight])).toEqual([
      ['http://a:1', 1],
      ['http://b:1', 0],
    ]);
  });

  it('moves a refused request to another endpoint once, or reports none left', () => {
    const { t } = throttler(revision(['http://a:1', 'http://b:1']));
    const { waiter } = recorder();
    const first = t.enter(waiter('1')) as Lease;
    const retry = t.retryElsewhere(first);
    expect(retry?.endpoint.url).toBe('http://b:1');
    expect(first.released).toBe(true);
    expect(t.retryElsewhere(retry as Lease)?.endpoint.url).toBe('http://a:1');
    const { t: single } = throttler(revision(['http://a:1']));
    expect(single.retryElsewhere(single.enter(waiter('x')) as Lease)).toBeUndefined();
    expect(single.inFlight).toBe(0);
  });

  it('reports time-weighted held and in-flight averages per period', () => {
    const { t, advance } = throttler(revision([]));
    const { granted, waiter } = recorder();
    t.enter(waiter('1'));
    advance(500);
    t.update(revision(['http://a:1']));
    advance(500);
    expect(t.load(1000)).toEqual({
      namespace: 'default',
      revision: 'hello-00001',
      averageHeld: 0.5,
      averageInFlight: 0.5,
      requests: 1,
      responses: 0,
      serverErrors: 0,
      latency: [],
    });
    t.release((granted[0] as { lease: Lease }).lease);
    expect(t.load(2000)).toMatchObject({ averageHeld: 0, averageInFlight: 0, requests: 0 });
  });

  it('counts answers, 5xx among them, and their latencies in mergeable buckets, per period', () => {
    const { t } = throttler(revision(['http://a:1']));
    t.answered(200, 3);
    t.answered(503, 3);
    t.answered(500, 420);
    t.answered(404, 420);
    const load = t.load(1000);
    expect(load).toMatchObject({ responses: 4, serverErrors: 2 });
    const counts = new Map(load.latency);
    expect(latencyQuantile(counts, 0.5)).toBeGreaterThanOrEqual(3);
    expect(latencyQuantile(counts, 0.5)).toBeLessThan(3.3);
    expect(latencyQuantile(counts, 0.99)).toBeGreaterThanOrEqual(420);
    expect(latencyQuantile(counts, 0.99)).toBeLessThan(462);
    expect(t.load(2000)).toMatchObject({ responses: 0, serverErrors: 0, latency: [] });
  });
});
