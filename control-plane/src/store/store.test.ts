import { chmodSync, fsync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createApi } from '../api/app.ts';
import { ApiMetrics } from '../api/metrics.ts';
import { RoutingPublisher } from '../routing/publisher.ts';
import { service, svcPath } from '../testing/harness.ts';
import { Store, StoreConflict } from './store.ts';

const mode = (path: string) => statSync(path).mode & 0o777;

describe('the store on disk', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('keeps its directory 0700 and the database, WAL and SHM files 0600', () => {
    const parent = mkdtempSync(join(tmpdir(), 'skiff-store-'));
    dirs.push(parent);
    const dir = join(parent, 'data');
    const store = new Store(join(dir, 'skiff.db'));
    store.record('user', 'test', 'default', 'x', { secret: 'value' });
    expect(mode(dir)).toBe(0o700);
    for (const f of ['skiff.db', 'skiff.db-wal', 'skiff.db-shm']) expect([f, mode(join(dir, f))]).toEqual([f, 0o600]);
    store.close();
  });

  it('tightens the files of a data dir made before', () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-store-'));
    dirs.push(dir);
    const first = new Store(join(dir, 'skiff.db'));
    first.close();
    chmodSync(dir, 0o755);
    chmodSync(join(dir, 'skiff.db'), 0o644);
    const store = new Store(join(dir, 'skiff.db'));
    expect(mode(dir)).toBe(0o700);
    expect(mode(join(dir, 'skiff.db'))).toBe(0o600);
    store.close();
  });
});

describe('group commit', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const open = () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-store-'));
    dirs.push(dir);
    const file = join(dir, 'skiff.db');
    return { file, store: new Store(file) };
  };
  const write = (image: string) => ({
    labels: {},
    annotations: {},
    spec: { template: { spec: { containers: [{ image }] } } },
  });
  /** What another connection (another process would see the same) finds on disk. */
  const onDisk = (file: string): string[] => {
    const db = new Database(file, { readonly: true });
    try {
      return (db.prepare('select name from services order by name').all() as { name: string }[]).map((r) => r.name);
    } finally {
      db.close();
    }
  };

  it('commits the writes of one turn together, only then resolving durable(), and undoes a failed one alone', async () => {
    const { file, store } = open();
    const before = store.commits.groups;
    for (let i = 0; i < 50; i++)
      store.createService('default', `s${String(i).padStart(2, '0')}`, `u${i}`, write('x'), 'user');
    // The group's own reads see its writes; nothing is committed yet.
    expect(store.listServices()).toHaveLength(50);
    expect(onDisk(file)).toEqual([]);
    const version = store.getService('default', 's00')?.resourceVersion;
    expect(() => store.updateService('default', 's00', write('y'), 999_999, 'user', 'update')).toThrow(StoreConflict);
    expect(store.getService('default', 's00')?.resourceVersion).toBe(version);
    await store.durable();
    expect(onDisk(file)).toHaveLength(50);
    expect(store.commits.groups - before).toBe(1);
    expect(store.getService('default', 's00')?.spec.template.spec.containers[0]?.image).toBe('x');
    store.close();
  });

  const until = async (cond: () => boolean) => {
    const deadline = Date.now() + 5000;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  it('acknowledges a group only after the fsync of its WAL, made off the event loop while the next group commits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-store-'));
    dirs.push(dir);
    const file = join(dir, 'skiff.db');
    // The real fsync, each held until the test lets it run.
    const held: (() => void)[] = [];
    const store = new Store(file, {
      fsync: (fd, cb) => {
        held.push(() => fsync(fd, cb));
      },
    });
    let heard = 0;
    store.onEvents(() => heard++);
    const acked: string[] = [];
    store.createService('default', 'a', 'ua', write('x'), 'user');
    void store.durable().then(() => acked.push('a'));
    await until(() => held.length === 1);
    // Committed (another connection reads it; a SIGKILL keeps it), not yet acknowledged nor told.
    expect(onDisk(file)).toEqual(['a']);
    await new Promise((r) => setTimeout(r, 20));
    expect(acked).toEqual([]);
    expect(heard).toBe(0);
    // The loop goes on: the next group commits while that fsync waits; one fsync at a time.
    store.createService('default', 'b', 'ub', write('x'), 'user');
    void store.durable().then(() => acked.push('b'));
    await new Promise((r) => setTimeout(r, 20));
    expect(onDisk(file)).toEqual(['a', 'b']);
    expect(held).toHaveLength(1);
    held.shift()?.();
    await until(() => acked.length === 1);
    expect(acked).toEqual(['a']);
    expect(heard).toBe(1);
    // The next fsync covers the group committed meanwhile.
    await until(() => held.length === 1);
    expect(acked).toEqual(['a']);
    held.shift()?.();
    await until(() => acked.length === 2);
    expect(acked).toEqual(['a', 'b']);
    // At close, whatever is committed is synced before the file closes.
    store.createService('default', 'c', 'uc', write('x'), 'user');
    const last = store.durable();
    store.close();
    await last;
    expect(onDisk(file)).toEqual(['a', 'b', 'c']);
  });

  it('fails the writes an fsync covered when it fails, and refuses every write after it', async () => {
    const { file } = open();
    const store = new Store(file, {
      fsync: (_fd, cb) => {
        setImmediate(() => cb(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' })));
      },
    });
    store.createService('default', 'a', 'ua', write('x'), 'user');
    await expect(store.durable()).rejects.toThrow(/could not be synced to disk \(EIO/);
    expect(() => store.createService('default', 'b', 'ub', write('x'), 'user')).toThrow(/writes are refused/);
    await expect(store.durable()).rejects.toThrow(/could not be synced/);
    expect(store.getService('default', 'b')).toBeUndefined();
  });

  it('answers API writes only once they are on disk, sharing commits among concurrent clients', async () => {
    const { file, store } = open();
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
    const before = store.commits.groups;
    const n = 40;
    const seen = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const r = await api.request(svcPath(), {
          method: 'POST',
          headers: { authorization: 'Bearer u', 'content-type': 'application/json' },
          body: JSON.stringify(service(`c${i}`)),
        });
        // Acknowledged: another connection finds it on disk at this moment.
        return [r.status, onDisk(file).includes(`c${i}`)];
      }),
    );
    expect(seen).toEqual(Array.from({ length: n }, () => [201, true]));
    expect(store.commits.writes).toBeGreaterThanOrEqual(n);
    expect(store.commits.groups - before).toBeLessThan(n / 4);
    store.close();
  });
});

describe('list pages', () => {
  it('reads a page after the last key sent, over all namespaces or one, and counts what follows', () => {
    const store = new Store(':memory:');
    const spec = { template: { spec: { containers: [{ image: 'x' }] } } };
    const keys: string[] = [];
    for (const ns of ['a', 'a-b', 'b']) {
      for (let i = 0; i < 30; i++) {
        const name = `s-${String(i).padStart(2, '0')}`;
        store.createService(ns, name, `${ns}-${name}`, { labels: {}, annotations: {}, spec }, 'user');
        keys.push(`${ns}/${name}`);
      }
    }
    const walk = (rows: ReturnType<Store['services']>, scope: string[], n: number) => {
      const seen: string[] = [];
      let after: { namespace: string; name: string } | undefined;
      expect(rows.countAfter(after)).toBe(scope.length);
      for (;;) {
        const page = rows.after(after, n);
        expect(page.length).toBeLessThanOrEqual(n);
        seen.push(...page.map((r) => `${r.namespace}/${r.name}`));
        if (page.length < n) return seen;
        after = page.at(-1);
        expect(rows.countAfter(after)).toBe(scope.length - seen.length);
      }
    };
    expect(walk(store.services(), keys, 7)).toEqual(keys);
    const ab = keys.filter((k) => k.startsWith('a-b/'));
    expect(walk(store.services('a-b'), ab, 4)).toEqual(ab);
    // A key from another namespace: before it, the namespace's first row; after it, nothing.
    expect(store.services('a-b').after({ namespace: 'a', name: 'zzz' }, 100)).toHaveLength(30);
    expect(store.services('a-b').after({ namespace: 'b', name: '' }, 10)).toEqual([]);
    expect(store.services('a-b').countAfter({ namespace: 'b', name: '' })).toBe(0);
    store.close();
  });
});

describe('revision keys', () => {
  it('are read again only when a revision came or went, a rolled-back one included', async () => {
    const store = new Store(':memory:');
    const spec = { template: { spec: { containers: [{ image: 'x' }] } } };
    const keys = () => store.revisionKeys().map((k) => `${k.namespace}/${k.name}`);
    const revision = (service: string, n: number) => ({
      namespace: 'default',
      name: `${service}-0000${n}`,
      service,
      uid: `${service}-${n}`,
      configGeneration: n,
      templateHash: `h${n}`,
      labels: {},
      annotations: {},
      spec: spec.template.spec,
    });
    for (const name of ['a', 'b'])
      store.createService('default', name, name, { labels: {}, annotations: {}, spec }, 'user');
    expect(keys()).toEqual([]);
    store.createRevision(revision('a', 1), 'reconciler');
    const first = store.revisionKeys();
    expect(keys()).toEqual(['default/a-00001']);
    // Unchanged (a status write, another service's write): the same array, not read again.
    store.setRevisionStatus('default', 'a-00001', { observedGeneration: 1 });
    store.updateService('default', 'b', { labels: { x: 'y' }, annotations: {}, spec }, undefined, 'user', 'update');
    expect(store.revisionKeys()).toBe(first);
    // A dry run's revision is seen inside it and gone after it.
    const inside = store.dryRun(() => {
      store.createRevision(revision('b', 1), 'reconciler');
      return keys();
    });
    expect(inside).toEqual(['default/a-00001', 'default/b-00001']);
    expect(keys()).toEqual(['default/a-00001']);
    // A transaction that fails after adding one (rolled back) leaves none behind.
    await store.durable();
    expect(() =>
      store.derived(() => {
        store.createRevision(revision('b', 1), 'reconciler');
        expect(keys()).toContain('default/b-00001');
        throw new Error('fails after the insert');
      }),
    ).toThrow('fails after the insert');
    expect(keys()).toEqual(['default/a-00001']);
    store.createRevision(revision('b', 1), 'reconciler');
    store.createRevision(revision('a', 2), 'reconciler');
    expect(keys()).toEqual(['default/a-00001', 'default/a-00002', 'default/b-00001']);
    store.deleteRevision('default', 'a-00001', 'reconciler');
    expect(keys()).toEqual(['default/a-00002', 'default/b-00001']);
    // A deleted service takes its revisions along (the foreign key cascades).
    store.deleteService('default', 'a', 'user');
    expect(keys()).toEqual(['default/b-00001']);
    await store.durable();
    store.close();
  });
});

describe('resourceVersion', () => {
  it('grows with every write, across groups, derived writes, dry runs and a reopening, and is stored with each commit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-store-'));
    const file = join(dir, 'skiff.db');
    const spec = { template: { spec: { containers: [{ image: 'x' }] } } };
    const write = { labels: {}, annotations: {}, spec };
    let store = new Store(file);
    const seen: number[] = [];
    const rv = (row: { resourceVersion: number } | undefined) => {
      if (!row) throw new Error('no row');
      seen.push(row.resourceVersion);
    };
    rv(store.createService('default', 'a', 'a', write, 'user'));
    rv(store.createService('default', 'b', 'b', write, 'user'));
    // A dry run's numbers are not given again, nor are a failed write's.
    store.dryRun(() => rv(store.createService('default', 'c', 'c', write, 'user')));
    expect(() => store.updateService('default', 'a', write, 999, 'user', 'update')).toThrow(StoreConflict);
    expect(store.resourceVersion()).toBe(seen.at(-1));
    await store.durable();
    store.derived(() => store.setServiceStatus('default', 'a', { observedGeneration: 1 }));
    rv(store.getService('default', 'a'));
    expect(store.resourceVersion()).toBe(seen.at(-1));
    rv(store.createService('default', 'd', 'd', write, 'user'));
    await store.durable();
    // What another connection reads on disk: the counter as of the last commit.
    const disk = new Database(file, { readonly: true });
    expect(disk.prepare("select value from counters where name = 'resourceVersion'").pluck().get()).toBe(seen.at(-1));
    disk.close();
    store.close();
    store = new Store(file);
    expect(store.resourceVersion()).toBe(seen.at(-1));
    rv(store.createService('default', 'e', 'e', write, 'user'));
    expect(seen).toEqual([...new Set(seen)].sort((x, y) => x - y));
    expect(store.eventsAfter(0).map((e) => e.resourceVersion)).toEqual(
      seen.filter((_, i) => i !== 2), // the dry run's
    );
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
