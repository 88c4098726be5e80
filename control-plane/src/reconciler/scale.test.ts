import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { createApi } from '../api/app.ts';
import { ApiMetrics } from '../api/metrics.ts';
import { RoutingPublisher } from '../routing/publisher.ts';
import { Store } from '../store/store.ts';
import { harness, service, svcPath } from '../testing/harness.ts';

// The work of a control plane starting on N stored services must grow as N, not N²: two starts,
// one with 4× the services of the other, and what each costs per service. Counts, not timings:
// rows read from SQLite (every statement of the process, whatever reads them) and the bytes a
// router long-polling for deltas is sent until all are routed. An O(N) scan per service's
// reconcile (a start at 10,000 services that never finished) makes the per-service rows 4× larger.

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A data dir with `count` services stored through the API in process (nothing reconciled). */
async function seeded(count: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-scale-'));
  dirs.push(dir);
  const store = new Store(join(dir, 'skiff.db'));
  const api = createApi({
    store,
    publisher: new RoutingPublisher(store.nextRoutingEpoch()),
    tokens: { user: 'u', router: 'r' },
    metrics: new ApiMetrics(),
    changed: () => {},
    revisionDeleted: () => {},
    activate: () => {},
    routerStats: () => {},
    ready: () => true,
  });
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < count) {
        const r = await api.request(svcPath(), {
          method: 'POST',
          headers: { authorization: 'Bearer u', 'content-type': 'application/json' },
          body: JSON.stringify(service(`svc-${next++}`)),
        });
        if (r.status !== 201) throw new Error(`${r.status} ${await r.text()}`);
      }
    }),
  );
  store.close();
  return dir;
}

/** Counts the rows every better-sqlite3 statement of this process returns while `run` runs. */
async function rowsRead<T>(run: () => Promise<T>): Promise<{ rows: number; value: T }> {
  const probe = new Database(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('select 1')) as {
    all: (...a: unknown[]) => unknown[];
    get: (...a: unknown[]) => unknown;
  };
  probe.close();
  const { all, get } = proto;
  let rows = 0;
  proto.all = function (this: unknown, ...a: unknown[]) {
    const out = all.apply(this, a);
    rows += out.length;
    return out;
  };
  proto.get = function (this: unknown, ...a: unknown[]) {
    const out = get.apply(this, a);
    if (out !== undefined) rows++;
    return out;
  };
  try {
    const value = await run();
    return { rows, value };
  } finally {
    proto.all = all;
    proto.get = get;
  }
}

/** Starts a control plane on `dir` with a router long-polling for deltas; the bytes it is sent until all `count` are routed. */
async function start(dir: string, count: number): Promise<number> {
  const h = await harness({ readyAfterMs: 0 }, dir, { routerToken: 'r' });
  try {
    let bytes = 0;
    let since: number | undefined;
    let epoch: string | undefined;
    let routed = 0;
    const deadline = Date.now() + 25_000;
    while (routed < count) {
      if (Date.now() > deadline) throw new Error(`only ${routed} of ${count} services routed`);
      const q =
        since === undefined
          ? ''
          : `?${new URLSearchParams({ since: String(since), epoch: epoch ?? '', delta: 'true', waitSeconds: '5' })}`;
      const r = await h.fetch(`${h.cp.url}/internal/v1/routing${q}`, { headers: { authorization: 'Bearer r' } });
      if (r.status === 304) continue;
      const text = await r.text();
      bytes += text.length;
      const answer = JSON.parse(text) as { version: number; epoch: string };
      since = answer.version;
      epoch = answer.epoch;
      routed = [...h.cp.publisher.services()].length;
    }
    await h.settle();
    return bytes;
  } finally {
    await h.close();
  }
}

describe('a control plane starting on N stored services', () => {
  it('reads rows and sends a delta router bytes in proportion to N (4× the services, about 4× the work)', async () => {
    const small = 50;
    const large = 200;
    const dirSmall = await seeded(small);
    const dirLarge = await seeded(large);
    const a = await rowsRead(() => start(dirSmall, small));
    const b = await rowsRead(() => start(dirLarge, large));
    const [rowsSmall, rowsLarge] = [a.rows / small, b.rows / large];
    const [bytesSmall, bytesLarge] = [a.value / small, b.value / large];
    // Linear: the same per service (some slack for fixed costs and batching); quadratic: 4×.
    expect(rowsLarge, `rows read per service at ${small} and ${large}: ${rowsSmall}, ${rowsLarge}`).toBeLessThan(
      rowsSmall * 1.5,
    );
    expect(
      bytesLarge,
      `bytes to the router per service at ${small} and ${large}: ${bytesSmall}, ${bytesLarge}`,
    ).toBeLessThan(bytesSmall * 1.5);
    // Every service was routed, and a part is a few hundred bytes: the router was not sent the
    // whole snapshot over and over.
    expect(b.value).toBeGreaterThan(large * 100);
  }, 60_000);
});
