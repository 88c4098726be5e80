import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRouterConfig, RouterServer, runCore } from '@skiff/edge-router/node';
import { fetchTrusting } from '@skiff/http/tls';
import { describe, expect, it } from 'vitest';
import { LocalBackend } from '../../control-plane/src/backends/local/local-backend.ts';
import { StaticScale } from '../../control-plane/src/reconciler/reconciler.ts';
import { startControlPlane } from '../../control-plane/src/server.ts';
import type { RevisionRow } from '../../control-plane/src/store/schema.ts';
import { seedTestPki } from '../../control-plane/src/testing/pki.ts';
import { appService, servicePath } from '../helpers/platform.ts';

/** The test sets the revision's replica count itself (no autoscaler). */
class SetScale extends StaticScale {
  replicas = new Map<string, number>();
  override desired(revision: RevisionRow, routed: boolean): number {
    return routed ? (this.replicas.get(revision.name) ?? super.desired(revision, routed)) : 0;
  }
}

describe('scaling down under load', () => {
  it('goes from 3 replicas to 1 at 200 requests/s without failing a request', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-scale-'));
    const scale = new SetScale();
    const backend = new LocalBackend({ drainQuietPeriod: '500ms' });
    seedTestPki(dir);
    const cp = await startControlPlane({
      dataDir: dir,
      backend,
      apiPort: 0,
      userToken: 't',
      routerToken: 'r',
      scale,
      log: () => {},
    });
    const apiFetch = fetchTrusting(cp.ca);
    const running = runCore(
      parseRouterConfig({ SKIFF_CONTROL_PLANE_URL: cp.url, SKIFF_ROUTER_TOKEN: 'r' }),
      { info: () => {}, error: () => {} },
      apiFetch,
    );
    const router = new RouterServer(running.core);
    const port = await router.listen(0, '127.0.0.1');
    const agent = new Agent({ keepAlive: true, maxSockets: 50 });
    const hit = () =>
      new Promise<number>((resolve) => {
        const req = request(
          { host: '127.0.0.1', port, path: '/sleep?ms=20', headers: { host: 'scaled.default.localhost' }, agent },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
            res.on('error', () => resolve(-1));
          },
        );
        req.on('error', () => resolve(-2));
        req.end();
      });
    try {
      scale.replicas.set('scaled-00001', 3);
      const created = await apiFetch(`${cp.url}${servicePath()}`, {
        method: 'POST',
        headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
        body: JSON.stringify(appService('scaled')),
      });
      expect(created.status).toBe(201);
      const until = async (check: () => boolean, what: string) => {
        const deadline = Date.now() + 20_000;
        while (!check()) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
          await new Promise((r) => setTimeout(r, 25));
        }
      };
      await until(() => backend.observe('default', 'scaled-00001').ready.length === 3, 'three ready replicas');
      // The router has the route once it answers.
      for (let i = 0; i < 400 && (await hit()) !== 200; i++) await new Promise((r) => setTimeout(r, 25));
      // Load: 10 requests every 50 ms.
      const statuses: number[] = [];
      const inFlight: Promise<void>[] = [];
      const ticker = setInterval(() => {
        for (let i = 0; i < 10; i++) inFlight.push(hit().then((s) => void statuses.push(s)));
      }, 50);
      await new Promise((r) => setTimeout(r, 2000));
      scale.replicas.set('scaled-00001', 1);
      cp.reconciler.enqueue('default', 'scaled');
      await until(() => backend.observe('default', 'scaled-00001').actual === 1, 'one replica left');
      await new Promise((r) => setTimeout(r, 2000));
      clearInterval(ticker);
      await Promise.all(inFlight);
      expect(statuses.length).toBeGreaterThan(500);
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
    } finally {
      agent.destroy();
      running.stop();
      await router.close();
      await cp.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
