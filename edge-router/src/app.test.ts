import type { ActivateRequest, RouterStats, RoutingSnapshot, SnapshotRevision } from '@skiff/shared';
import { describe, expect, it } from 'vitest';
import { createApp } from './app.ts';
import { parseRouterConfig } from './config.ts';
import { RouterCore } from './core.ts';
import { type ConnectProbe, RememberingProbe } from './forward/connect-probe.ts';
import { LocalGate } from './hold/gate.ts';
import { seededRandom } from './routing/random.ts';
import type { ControlPlane } from './snapshot/control-plane.ts';

const revision = (name: string, endpoints: string[], extra: Partial<SnapshotRevision> = {}): SnapshotRevision => ({
  namespace: 'default',
  name,
  service: 'hello',
  containerConcurrency: 0,
  timeoutSeconds: 300,
  endpoints: endpoints.map((url, i) => ({ pod: `p${i}`, url })),
  ...extra,
});

function snapshot(version: number, revisions: SnapshotRevision[]): RoutingSnapshot {
  return {
    version,
    generatedAt: '',
    routes: [
      {
        namespace: 'default',
        name: 'hello',
        visibility: 'public',
        hosts: ['hello.default.example.com'],
        traffic: [{ revisionName: revisions[0]?.name ?? 'none', percent: 100, tag: 'cur' }],
      },
    ],
    revisions,
  };
}

/** The app in-process (`app.request()`), with a fake upstream fetch recording what it was sent. */
function setup(
  env: Record<string, string> = {},
  upstream?: (url: string, init: RequestInit) => Promise<Response>,
  connectProbe?: ConnectProbe,
) {
  const pokes: ActivateRequest[] = [];
  const controlPlane: ControlPlane = {
    routing: async () => undefined,
    activate: async (r) => {
      pokes.push(r);
    },
    reportStats: async (_s: RouterStats) => undefined,
  };
  const config = parseRouterConfig({ SKIFF_CONTROL_PLANE_URL: 'http://cp', SKIFF_ROUTER_TOKEN: 't', ...env });
  const core = new RouterCore({ config, controlPlane, random: seededRandom(1), now: Date.now, log: console });
  const sent: { url: string; headers: Headers }[] = [];
  const app = createApp({
    config,
    resolve: (host, tag) => core.resolve(host, tag),
    gate: new LocalGate(core),
    fetch: async (input, init = {}) => {
      const url = String(input);
      sent.push({ url, headers: new Headers(init.headers) });
      if (upstream) return upstream(url, init);
      return new Response('hello\n', { headers: { 'content-type': 'text/plain', connection: 'x-hop', 'x-hop': '1' } });
    },
    isConnectRefused: (e) => e instanceof Error && e.message === 'refused',
    connectProbe,
    clientAddress: () => '192.0.2.7',
  });
  const request = (path: string, init: RequestInit = {}) =>
    app.request(`http://hello.default.example.com${path}`, {
      ...init,
      headers: { host: 'hello.default.example.com', ...(init.headers as Record<string, string>) },
    });
  return { app, core, sent, pokes, request };
}

describe('web-standard router app', () => {
  it('forwards to the endpoint with forwarding headers, drops hop-by-hop ones and names the revision', async () => {
    const { core, sent, request } = setup();
    core.applySnapshot(snapshot(1, [revision('hello-00001', ['http://10.0.0.1:8012'])]));
    const res = await request('/path?q=1', { headers: { 'x-forwarded-for': '203.0.113.9', connection: 'close' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('hello\n');
    expect(res.headers.get('skiff-revision')).toBe('hello-00001');
    expect(res.headers.get('x-hop')).toBeNull();
    expect(sent[0]?.url).toBe('http://10.0.0.1:8012/path?q=1');
    const h = sent[0]?.headers as Headers;
    expect(h.get('x-forwarded-for')).toBe('203.0.113.9, 192.0.2.7');
    expect(h.get('forwarded')).toBe('for=192.0.2.7;host=hello.default.example.com;proto=http');
    expect(h.get('x-forwarded-host')).toBe('hello.default.example.com');
    expect(h.get('connection')).toBeNull();
    expect(h.get('k-proxy-request')).toBeNull();
  });

  it('leaves Skiff-Revision out when configured so, and ignores Skiff-Tag unless enabled', async () => {
    const { core, request } = setup({ SKIFF_REVISION_HEADER: 'false' });
    core.applySnapshot(snapshot(1, [revision('hello-00001', ['http://10.0.0.1:8012'])]));
    const res = await request('/', { headers: { 'skiff-tag': 'cur' } });
    expect(res.headers.get('skiff-revision')).toBeNull();
  });

  it('holds a request at zero, marks it for the queue-proxy, and pokes the control plane once', async () => {
    const { core, sent, pokes, request } = setup();
    core.applySnapshot(snapshot(1, [revision('hello-00001', [])]));
    const first = request('/');
    const second = request('/');
    await new Promise((r) => setTimeout(r, 20));
    expect(pokes).toEqual([{ namespace: 'default', revision: 'hello-00001', held: 1 }]);
    core.applySnapshot(snapshot(2, [revision('hello-00001', ['http://10.0.0.1:8012'])]));
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    expect(sent.map((s) => s.headers.get('k-proxy-request'))).toEqual(['activator', 'activator']);
  });

  it('answers 504 when held past the revision timeout, and 503 when the queue is full', async () => {
    const { core, request } = setup({ SKIFF_MAX_HELD_PER_REVISION: '1' });
    core.applySnapshot(snapshot(1, [revision('hello-00001', [], { timeoutSeconds: 1 })]));
    const started = Date.now();
    const held = request('/');
    const full = await request('/');
    expect(full.status).toBe(503);
    const timedOut = await held;
    expect(timedOut.status).toBe(504);
    expect(await timedOut.text()).toBe('request timeout waiting for revision hello-00001\n');
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('a client that goes away leaves the queue at once', async () => {
    const { core, request } = setup({ SKIFF_MAX_HELD_PER_REVISION: '1' });
    core.applySnapshot(snapshot(1, [revision('hello-00001', [])]));
    const abort = new AbortController();
    const gone = request('/', { signal: abort.signal });
    await new Promise((r) => setTimeout(r, 10));
    abort.abort();
    await Promise.resolve(gone).catch(() => undefined);
    expect(core.throttlers.get('default/hello-00001')?.held).toBe(0);
  });

  it('retries a refused connection once on another endpoint, and answers 502 otherwise', async () => {
    let calls = 0;
    const { core, sent, request } = setup({}, async (url) => {
      calls++;
      if (url.startsWith('http://10.0.0.1')) throw new Error('refused');
      if (url.startsWith('http://10.0.0.3')) throw new Error('reset after sending');
      return new Response('ok');
    });
    core.applySnapshot(
      snapshot(1, [
        revision('hello-00001', ['http://10.0.0.1:8012', 'http://10.0.0.2:8012'], { containerConcurrency: 1 }),
      ]),
    );
    const res = await request('/');
    expect(res.status).toBe(200);
    expect(sent.map((s) => s.url)).toEqual(['http://10.0.0.1:8012/', 'http://10.0.0.2:8012/']);
    // A failure after the request went out is not retried.
    core.applySnapshot(snapshot(2, [revision('hello-00001', ['http://10.0.0.3:8012', 'http://10.0.0.3:8013'])]));
    calls = 0;
    const failed = await request('/');
    expect(failed.status).toBe(502);
    expect(calls).toBe(1);
  });

  it('with a connect probe (Workers): sends a request refused by the probe elsewhere, body and all, and never retries a failed fetch', async () => {
    const asked: string[] = [];
    const probe = new RememberingProbe(async (url) => {
      asked.push(url);
      return !url.startsWith('http://10.0.0.1');
    });
    const bodies: string[] = [];
    const { core, sent, request } = setup(
      {},
      async (url, init) => {
        // The fetch of Workers: every failure looks alike, so none may count as refused.
        if (url.startsWith('http://10.0.0.3')) throw new Error('Network connection lost.');
        bodies.push(await new Response(init.body).text());
        return new Response('ok');
      },
      probe,
    );
    core.applySnapshot(snapshot(1, [revision('hello-00001', ['http://10.0.0.1:8012', 'http://10.0.0.2:8012'])]));
    for (let i = 0; i < 6; i++) {
      const res = await request('/', { method: 'POST', body: `body ${i}` });
      expect(res.status).toBe(200);
    }
    // Nothing was ever sent to the refusing endpoint; every body arrived whole at the other one.
    expect(sent.every((s) => s.url.startsWith('http://10.0.0.2'))).toBe(true);
    expect(bodies).toEqual(Array.from({ length: 6 }, (_, i) => `body ${i}`));
    // The refusing endpoint is asked each time it is picked; the answering one only until it answered.
    expect(asked.filter((u) => u.startsWith('http://10.0.0.2')).length).toBeLessThanOrEqual(1);
    expect(asked.filter((u) => u.startsWith('http://10.0.0.1')).length).toBeGreaterThan(0);

    // The probe got through but the request failed: 502, not sent again.
    core.applySnapshot(snapshot(2, [revision('hello-00001', ['http://10.0.0.3:8012', 'http://10.0.0.3:8013'])]));
    sent.length = 0;
    expect((await request('/', { method: 'DELETE' })).status).toBe(502);
    expect(sent).toHaveLength(1);

    // A single endpoint: nowhere to retry, so nothing is asked.
    core.applySnapshot(snapshot(3, [revision('hello-00001', ['http://10.0.0.4:8012'])]));
    asked.length = 0;
    expect((await request('/')).status).toBe(200);
    expect(asked).toEqual([]);
  });

  it('refuses heads over 16 KiB with 431, bodies over the limit with 413, unknown hosts with 404', async () => {
    const { core, request, app } = setup({ SKIFF_MAX_BODY_BYTES: '10' });
    core.applySnapshot(snapshot(1, [revision('hello-00001', ['http://10.0.0.1:8012'])]));
    expect((await request('/', { headers: { 'x-big': 'y'.repeat(17_000) } })).status).toBe(431);
    const declared = { method: 'POST', body: 'x'.repeat(11), headers: { 'content-length': '11' } };
    expect((await request('/', declared)).status).toBe(413);
    const unknown = await app.request('http://other.example.com/', { headers: { host: 'other.example.com' } });
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toBe('no service is served at host other.example.com\n');
  });
});
