import { describe, expect, it } from 'vitest';
import { LiveSeries, type RevisionFigures } from './live.ts';

describe('LiveSeries', () => {
  it('samples the revisions of the newest list each second: rings of new ones made, of gone ones dropped', () => {
    let list = [
      { namespace: 'default', name: 'a-00001' },
      { namespace: 'default', name: 'b-00001' },
    ];
    const figures = new Map<string, RevisionFigures>([
      ['a-00001', { actual: 1, desired: 1 }],
      ['b-00001', { actual: 2, desired: 3, rps: 5 }],
    ]);
    let now = 1_700_000_000_000;
    let asked = 0;
    const live = new LiveSeries({
      revisions: () => list,
      figures: (_ns, name) => {
        asked++;
        return figures.get(name) ?? { actual: 0 };
      },
      routerStats: () => [
        {
          router: 'r1',
          timestamp: now,
          periodMs: 1000,
          revisions: [
            { namespace: 'default', revision: 'a-00001', averageHeld: 2, averageInFlight: 0, requestsPerSecond: 7 },
          ],
        },
      ],
      now: () => now,
    });
    const heard: [number, string[]][] = [];
    live.sample();
    const stop = live.subscribe((second, samples) => heard.push([second, [...samples.keys()]]));
    now += 1000;
    figures.set('a-00001', { actual: 2, desired: 2 });
    live.sample();
    const second = Math.floor(now / 1000);
    // Fields in seriesFields order: rps p50 p95 p99 concurrency target desired actual held errors5xx.
    expect(live.history('default', 'a-00001')).toEqual([
      [second - 1, 7, null, null, null, null, null, 1, 1, 2, null],
      [second, 7, null, null, null, null, null, 2, 2, 2, null],
    ]);
    expect(live.history('default', 'b-00001').at(-1)).toEqual([
      second,
      5,
      null,
      null,
      null,
      null,
      null,
      3,
      2,
      null,
      null,
    ]);
    expect(heard).toEqual([[second, ['default/a-00001', 'default/b-00001']]]);
    expect(live.metrics().filter((l) => l.startsWith('kn_revision_request_queued'))).toEqual([
      'kn_revision_request_queued{namespace_name="default",revision_name="a-00001"} 2',
    ]);
    expect(asked).toBe(4);
    // b goes, c comes (a new list): b's ring is dropped, c's starts.
    list = [
      { namespace: 'default', name: 'a-00001' },
      { namespace: 'default', name: 'c-00001' },
    ];
    now += 1000;
    live.sample();
    expect(live.history('default', 'b-00001')).toEqual([]);
    expect(live.history('default', 'c-00001')).toEqual([
      [second + 1, null, null, null, null, null, null, null, 0, null, null],
    ]);
    expect(live.history('default', 'a-00001')).toHaveLength(3);
    expect(heard.at(-1)).toEqual([second + 1, ['default/a-00001', 'default/c-00001']]);
    stop();
    live.stop();
  });

  it("takes each second's sample in slices: the event loop serves others between them", async () => {
    const list = Array.from({ length: 2000 }, (_, i) => ({ namespace: 'default', name: `s${i}-00001` }));
    let asked = 0;
    let askedWhenOthersRan: number | undefined;
    const live = new LiveSeries({
      revisions: () => list,
      figures: () => {
        // The first revision's turn: something else is waiting on the event loop.
        if (asked++ === 0) setImmediate(() => (askedWhenOthersRan = asked));
        return { actual: 1 };
      },
      routerStats: () => [],
    });
    const heard: number[] = [];
    live.subscribe((_second, samples) => heard.push(samples.size));
    live.start();
    while (heard.length === 0) await new Promise((r) => setTimeout(r, 50));
    live.stop();
    expect(heard).toEqual([2000]);
    expect(askedWhenOthersRan).toBeGreaterThan(0);
    expect(askedWhenOthersRan).toBeLessThan(2000);
    // Every revision sampled, all for the same second.
    const seconds = new Set(list.map((r) => live.history('default', r.name)[0]?.[0]));
    expect(seconds.size).toBe(1);
    expect([...seconds][0]).toBeTypeOf('number');
  });
});
