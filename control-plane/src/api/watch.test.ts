import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, harness, service, svcPath } from '../testing/harness.ts';

// Watches as client-go (kubectl get -w, kubectl wait, kn --wait) makes them, over HTTPS.

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

interface Event {
  type: string;
  object: any;
}

/** An open watch: events as they arrive, one JSON object per line. */
function watch(hh: Harness, path: string, headers: Record<string, string> = {}) {
  const events: Event[] = [];
  const abort = new AbortController();
  let ended = false;
  const done = (async () => {
    const r = await hh.fetch(`${hh.cp.url}${path}`, {
      headers: { authorization: 'Bearer user-token', ...headers },
      signal: abort.signal,
    });
    expect(r.status).toBe(200);
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
          events.push(JSON.parse(buffer.slice(0, i)));
          buffer = buffer.slice(i + 1);
        }
      }
    } catch (e) {
      if (!abort.signal.aborted) throw e;
    }
    ended = true;
  })();
  return {
    events,
    get ended() {
      return ended;
    },
    done,
    async until(check: (events: Event[]) => boolean, what: string, ms = 10_000) {
      const deadline = Date.now() + ms;
      while (!check(events)) {
        if (Date.now() > deadline)
          throw new Error(
            `timed out waiting for ${what}: ${JSON.stringify(events.map((e) => [e.type, e.object?.metadata?.name]))}`,
          );
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop() {
      abort.abort();
    },
  };
}

const listRv = async (hh: Harness, path = svcPath()) =>
  ((await (await hh.api('GET', path)).json()) as any).metadata.resourceVersion as string;

const rvs = (events: Event[]) => events.map((e) => Number(e.object.metadata.resourceVersion));

describe('watch', () => {
  it('streams ADDED, MODIFIED and DELETED in order from the list’s resourceVersion', async () => {
    h = await harness();
    const rv = await listRv(h);
    const w = watch(h, `${svcPath()}?watch=true&resourceVersion=${rv}`);
    expect((await h.api('POST', svcPath(), service('w1'))).status).toBe(201);
    await h.settle();
    expect((await h.api('DELETE', svcPath('w1'))).status).toBe(200);
    await w.until((e) => e.some((x) => x.type === 'DELETED'), 'the deletion');
    w.stop();
    expect(w.events[0]).toMatchObject({ type: 'ADDED', object: { kind: 'Service', metadata: { name: 'w1' } } });
    expect(w.events.slice(1, -1).every((e) => e.type === 'MODIFIED')).toBe(true);
    // The reconciler's status writes are MODIFIED events: Ready comes through the watch (kn waits on it).
    expect(
      w.events.some((e) => e.object.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True')),
    ).toBe(true);
    const seen = rvs(w.events);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(seen[0]).toBeGreaterThan(Number(rv));
  });

  it('misses nothing and repeats nothing across a reconnect from the last resourceVersion', async () => {
    h = await harness();
    const start = await listRv(h);
    const whole = watch(h, `${svcPath()}?watch=true&resourceVersion=${start}`);
    const first = watch(h, `${svcPath()}?watch=true&resourceVersion=${start}`);
    for (const n of ['r1', 'r2']) expect((await h.api('POST', svcPath(), service(n))).status).toBe(201);
    await first.until((e) => e.length >= 2, 'two events');
    first.stop();
    await first.done;
    const last = first.events[first.events.length - 1]?.object.metadata.resourceVersion;
    // Changes while disconnected.
    for (const n of ['r3', 'r4']) expect((await h.api('POST', svcPath(), service(n))).status).toBe(201);
    expect((await h.api('DELETE', svcPath('r1'))).status).toBe(200);
    const second = watch(h, `${svcPath()}?watch=true&resourceVersion=${last}`);
    expect((await h.api('POST', svcPath(), service('r5'))).status).toBe(201);
    await h.settle();
    const total = () => first.events.length + second.events.length;
    await whole.until((e) => e.length === total() && e.some((x) => x.object.metadata.name === 'r5'), 'r5 everywhere');
    await second.until(() => whole.events.length === total(), 'the same count');
    whole.stop();
    second.stop();
    expect([...rvs(first.events), ...rvs(second.events)]).toEqual(rvs(whole.events));
  });

  it('answers a compacted resourceVersion with an ERROR event carrying 410 Expired', async () => {
    h = await harness();
    expect((await h.api('POST', svcPath(), service('c0'))).status).toBe(201);
    const old = await listRv(h);
    expect((await h.api('POST', svcPath(), service('c1'))).status).toBe(201);
    await h.settle();
    h.cp.store.compactEvents(h.cp.store.resourceVersion());
    const w = watch(h, `${svcPath()}?watch=true&resourceVersion=${old}`);
    await w.done;
    expect(w.events).toEqual([
      { type: 'ERROR', object: expect.objectContaining({ kind: 'Status', code: 410, reason: 'Expired' }) },
    ]);
    // From the current list it works.
    const now = watch(h, `${svcPath()}?watch=true&resourceVersion=${await listRv(h)}&timeoutSeconds=1`);
    await now.done;
    expect(now.events).toEqual([]);
  });

  it('starts with the current objects as ADDED without a resourceVersion, filtered by fieldSelector', async () => {
    h = await harness();
    for (const n of ['a', 'b']) expect((await h.api('POST', svcPath(), service(n))).status).toBe(201);
    const w = watch(h, `${svcPath()}?watch=true&fieldSelector=metadata.name%3Db`);
    await w.until((e) => e.length >= 1, 'b');
    expect(
      (
        await h.api(
          'PATCH',
          svcPath('a'),
          { metadata: { labels: { x: 'y' } } },
          {
            'content-type': 'application/merge-patch+json',
          },
        )
      ).status,
    ).toBe(200);
    expect(
      (
        await h.api(
          'PATCH',
          svcPath('b'),
          { metadata: { labels: { x: 'y' } } },
          {
            'content-type': 'application/merge-patch+json',
          },
        )
      ).status,
    ).toBe(200);
    await w.until((e) => e.some((x) => x.object.metadata.labels?.x === 'y'), 'b labelled');
    w.stop();
    expect(w.events[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'b' } } });
    expect(w.events.every((e) => e.object.metadata.name === 'b')).toBe(true);
  });

  it('serves the /watch/ paths, bookmarks when allowed, and ends at timeoutSeconds', async () => {
    h = await harness({}, undefined, { watchBookmarkMs: 200 });
    expect((await h.api('POST', svcPath(), service('p'))).status).toBe(201);
    const rv = await listRv(h);
    const started = Date.now();
    const w = watch(
      h,
      `/apis/serving.knative.dev/v1/watch/namespaces/default/services/p?resourceVersion=${rv}&allowWatchBookmarks=true&timeoutSeconds=2`,
    );
    expect((await h.api('POST', svcPath(), service('other'))).status).toBe(201);
    await w.done;
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    expect(w.events.some((e) => e.type === 'BOOKMARK' && Number(e.object.metadata.resourceVersion) > 0)).toBe(true);
    expect(w.events.filter((e) => e.type !== 'BOOKMARK').every((e) => e.object.metadata.name === 'p')).toBe(true);
  });

  it('sends Table rows to kubectl get -w, column definitions once', async () => {
    h = await harness();
    const w = watch(h, `${svcPath()}?watch=true`, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
    expect((await h.api('POST', svcPath(), service('t'))).status).toBe(201);
    await h.settle();
    await w.until((e) => e.length >= 2, 'two events');
    w.stop();
    expect(w.events[0]?.object).toMatchObject({
      kind: 'Table',
      rows: [{ cells: ['t', null, null, null, null, null] }],
    });
    expect(w.events[0]?.object.columnDefinitions.map((c: any) => c.name)).toContain('LatestReady');
    expect(w.events[1]?.object.columnDefinitions).toEqual([]);
  });

  it('resumes from a resourceVersion handed out before a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-watch-restart-'));
    h = await harness({}, dir);
    const rv = await listRv(h);
    expect((await h.api('POST', svcPath(), service('kept'))).status).toBe(201);
    await h.close();
    h = await harness({}, dir);
    const w = watch(h, `${svcPath()}?watch=true&resourceVersion=${rv}`);
    await w.until(
      (e) => e.some((x) => x.type === 'ADDED' && x.object.metadata.name === 'kept'),
      'the ADDED from before',
    );
    w.stop();
    expect(w.events[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'kept' } } });
  });
});
