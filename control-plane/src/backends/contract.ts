import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RevisionWorkload, WorkloadBackend } from './backend.ts';

/**
 * The behaviour every `WorkloadBackend` must show, run against each one (`memory`, `local`,
 * `kubernetes`) from its own test file: `describeBackendContract('local', () => new LocalBackend(...))`.
 * `workload(name)` gives a revision the backend can run (an image for Kubernetes, a command locally).
 */
export function describeBackendContract(
  name: string,
  make: () => Promise<WorkloadBackend> | WorkloadBackend,
  workload: (revision: string) => RevisionWorkload,
  opts: { readyWithinMs?: number } = {},
): void {
  const within = opts.readyWithinMs ?? 10_000;
  describe(`WorkloadBackend contract: ${name}`, () => {
    let backend: WorkloadBackend;
    beforeEach(async () => {
      backend = await make();
    });
    afterEach(async () => {
      await backend.close();
    });

    const readyCount = async (rev: string, n: number) => {
      const deadline = Date.now() + within;
      while (Date.now() < deadline) {
        if (backend.observe('default', rev).ready.length === n) return;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`${rev}: ${backend.observe('default', rev).ready.length} ready, want ${n}`);
    };

    it('knows nothing of a revision it was never asked to run', () => {
      expect(backend.observe('default', 'never-00001')).toMatchObject({ desired: 0, actual: 0, ready: [] });
    });

    it('brings a revision to one ready replica, then to two, with distinct endpoints', async () => {
      const w = workload('contract-00001');
      await backend.ensure(w, 1);
      await readyCount(w.revision, 1);
      await backend.ensure(w, 2);
      await readyCount(w.revision, 2);
      const ready = backend.observe('default', w.revision).ready;
      expect(new Set(ready.map((e) => e.url)).size).toBe(2);
      expect(backend.observe('default', w.revision).desired).toBe(2);
    });

    it('scales to zero and keeps knowing the revision', async () => {
      const w = workload('contract-00002');
      await backend.ensure(w, 1);
      await readyCount(w.revision, 1);
      await backend.ensure(w, 0);
      await readyCount(w.revision, 0);
      expect(backend.list()).toContainEqual({ namespace: 'default', revision: w.revision });
    });

    it('treats asking twice for the same scale as once', async () => {
      const w = workload('contract-00003');
      await backend.ensure(w, 1);
      await backend.ensure(w, 1);
      await readyCount(w.revision, 1);
      const first = backend.observe('default', w.revision).ready;
      await backend.ensure(w, 1);
      expect(backend.observe('default', w.revision).ready).toEqual(first);
    });

    it('removes a revision and forgets it; removing again is fine', async () => {
      const w = workload('contract-00004');
      await backend.ensure(w, 1);
      await readyCount(w.revision, 1);
      await backend.remove('default', w.revision);
      expect(backend.observe('default', w.revision).ready).toEqual([]);
      expect(backend.list()).not.toContainEqual({ namespace: 'default', revision: w.revision });
      await backend.remove('default', w.revision);
    });

    it('tells watchers when a revision changes', async () => {
      const seen: string[] = [];
      const stop = backend.watch((_ns, rev) => seen.push(rev));
      const w = workload('contract-00005');
      await backend.ensure(w, 1);
      await readyCount(w.revision, 1);
      stop();
      expect(seen).toContain(w.revision);
    });
  });
}
