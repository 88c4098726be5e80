import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { startControlPlaneProcess } from '../helpers/control-plane.ts';
import { sleep, stopAll } from '../helpers/processes.ts';

afterAll(stopAll);

const manifest = (name: string, target: string) => ({
  apiVersion: 'serving.knative.dev/v1',
  kind: 'Service',
  metadata: { name },
  spec: { template: { spec: { containers: [{ image: 'x', env: [{ name: 'TARGET', value: target }] }] } } },
});

describe('crash safety', () => {
  it('keeps every acknowledged write through 20 SIGKILLs at random moments among 8 concurrent writers, with a sound SQLite file', async () => {
    const first = await startControlPlaneProcess();
    const { dataDir, token } = first;
    first.proc.kill('SIGKILL');
    await first.proc.exited;
    // Each service is written by one client only, so its writes are ordered. `acked` is the last
    // write the API acknowledged; `inFlight` the one sent when the kill came (committed or not).
    const acked = new Map<string, string>();
    const inFlight = new Map<string, string>();
    let n = 0;
    for (let round = 0; round < 20; round++) {
      // Port 0: the kernel's pick, read back from the control plane's output (a port chosen here
      // and closed could be taken by another process before the control plane bound it).
      const cp = await startControlPlaneProcess(dataDir);
      const list = (await (
        await cp.fetch(`${cp.url}/apis/serving.knative.dev/v1/namespaces/default/services`, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).json()) as {
        items: {
          metadata: { name: string };
          spec: { template: { spec: { containers: { env: { value: string }[] }[] } } };
        }[];
      };
      const found = new Map(
        list.items.map((s) => [s.metadata.name, s.spec.template.spec.containers[0]?.env[0]?.value]),
      );
      for (const [name, target] of acked) {
        // Acknowledged means durable: it is there, unless the write in flight at the kill replaced it.
        expect([target, inFlight.get(name)], `${name} after round ${round}`).toContain(found.get(name));
      }
      for (const [name, value] of found) {
        if (value !== acked.get(name)) {
          expect(inFlight.get(name), `${name} holds a write nobody sent`).toBe(value);
          acked.set(name, value as string);
        }
      }
      inFlight.clear();

      let killed = false;
      let ackedThisRound = 0;
      const writer = async (w: number) => {
        while (!killed) {
          const i = n++;
          const name = `svc-${w}-${i % 10}`;
          const target = `t${i}`;
          const exists = acked.has(name);
          const url = `${cp.url}/apis/serving.knative.dev/v1/namespaces/default/services${exists ? `/${name}` : ''}`;
          inFlight.set(name, target);
          try {
            const r = await cp.fetch(url, {
              method: exists ? 'PUT' : 'POST',
              headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
              body: JSON.stringify(manifest(name, target)),
            });
            await r.arrayBuffer();
            if (r.status === 200 || r.status === 201) {
              acked.set(name, target);
              inFlight.delete(name);
              ackedThisRound++;
            } else throw new Error(`unexpected ${r.status}`);
          } catch (e) {
            // The server died mid-request: not acknowledged, so nothing is promised.
            if (!killed) throw e;
            return;
          }
        }
      };
      // 8 writers, so that writes share group commits; the kill comes at a random moment once
      // the round is writing (a loaded machine may take a while to answer the first one).
      const writers = Array.from({ length: 8 }, (_, w) => writer(w));
      const started = Date.now();
      while (ackedThisRound === 0 && Date.now() - started < 10_000) await sleep(10);
      await sleep(Math.random() * 400);
      killed = true;
      cp.proc.kill('SIGKILL');
      await cp.proc.exited;
      await Promise.all(writers);

      const db = new Database(join(dataDir, 'skiff.db'), { readonly: true });
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      db.close();
    }
    expect(acked.size).toBeGreaterThan(10);
  }, 300_000);
});
