import { mkdtempSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlaneStub } from '../helpers/control-plane-stub.ts';
import { startRouter, stopRouters } from '../helpers/edge-router.ts';
import { get } from '../helpers/http.ts';
import { type App, freePorts, sleep, startApp, stopAll } from '../helpers/processes.ts';
import { revision, route } from './contract.ts';

const host = 'hello.default.example.com';

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

// How the Node router starts: never answering before it knows the routes (a restarted router
// used to send every request 404 until its first snapshot arrived).
describe('edge router on node, starting', () => {
  let app: App;
  beforeAll(async () => {
    app = await startApp({ TARGET: 'start' });
  });
  afterAll(async () => {
    await stopRouters();
    await stopAll();
  });

  it('does not listen until it has its first routing snapshot, then serves at once', async () => {
    const cp = new ControlPlaneStub();
    const [cpPort, port] = (await freePorts(2)) as [number, number];
    const starting = startRouter('node', {
      SKIFF_CONTROL_PLANE_URL: `http://127.0.0.1:${cpPort}`,
      SKIFF_ROUTER_TOKEN: cp.token,
      PORT: String(port),
    });
    starting.catch(() => {});
    await sleep(1500);
    expect(await accepts(port)).toBe(false);
    await cp.start(cpPort);
    cp.publish({
      routes: [route('hello', [{ revisionName: 'hello-00001', percent: 100 }])],
      revisions: [revision('hello-00001', [app.url])],
    });
    const router = await starting;
    const reply = await get(`${router.url}/`, { headers: { host } });
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('Hello start!\n');
    await router.stop();
    await cp.stop();
  }, 60_000);

  it('keeps its last snapshot in a 0600 file and, restarted while the control plane is down, serves from it', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'skiff-router-')), 'routing.json');
    const cp = new ControlPlaneStub();
    await cp.start();
    cp.publish({
      routes: [route('hello', [{ revisionName: 'hello-00001', percent: 100 }])],
      revisions: [revision('hello-00001', [app.url])],
    });
    const env = { SKIFF_CONTROL_PLANE_URL: cp.url, SKIFF_ROUTER_TOKEN: cp.token, SKIFF_ROUTER_SNAPSHOT_FILE: file };
    const first = await startRouter('node', env);
    expect((await get(`${first.url}/`, { headers: { host } })).status).toBe(200);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    await first.stop();
    await cp.stop();

    const second = await startRouter('node', env);
    const reply = await get(`${second.url}/`, { headers: { host } });
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('Hello start!\n');
    await second.stop();
  }, 60_000);
});
