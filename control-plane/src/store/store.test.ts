import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from './store.ts';

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
