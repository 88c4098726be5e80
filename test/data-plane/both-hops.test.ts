import { request } from 'node:http';
import { conformanceCases, exchange } from '@skiff/http/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { route as contractRoute, revision } from '../edge-router/contract.ts';
import { ControlPlaneStub } from '../helpers/control-plane-stub.ts';
import { type RouterProc, startRouter, stopRouters } from '../helpers/edge-router.ts';
import { get } from '../helpers/http.ts';
import {
  type App,
  freePort,
  type QueueProxyProc,
  startApp,
  startQueueProxy,
  stopAll,
  waitFor,
} from '../helpers/processes.ts';

// The data path as in production: client → router (Node) → queue-proxy → app, every process real.
describe('client → router → queue-proxy → app', () => {
  const cp = new ControlPlaneStub();
  let router: RouterProc;
  let app: App;
  let qp: QueueProxyProc;
  let wsApp: WebSocketServer;
  let wsQp: QueueProxyProc;

  beforeAll(async () => {
    app = await startApp();
    qp = await startQueueProxy(app.port);
    const wsPort = await freePort();
    // A real WebSocket app: echoes every message with a prefix.
    wsApp = new WebSocketServer({ port: wsPort, host: '127.0.0.1' });
    wsApp.on('connection', (socket) => socket.on('message', (data) => socket.send(`echo: ${String(data)}`)));
    wsQp = await startQueueProxy(wsPort, { SERVING_REVISION: 'ws-00001' });
    await cp.start();
    cp.publish({
      routes: [
        // The conformance table names host `h`.
        contractRoute('hello', [{ revisionName: 'hello-00001', percent: 100 }], { hosts: ['h', 'hello.example'] }),
        contractRoute('ws', [{ revisionName: 'ws-00001', percent: 100 }], { hosts: ['ws.example'] }),
      ],
      revisions: [revision('hello-00001', [qp.url]), revision('ws-00001', [wsQp.url])],
    });
    router = await startRouter('node', { SKIFF_CONTROL_PLANE_URL: cp.url, SKIFF_ROUTER_TOKEN: cp.token });
    await waitFor(
      async () => (await get(`${router.url}/`, { headers: { host: 'hello.example' } })).status === 200,
      10_000,
      'the route',
    );
  });

  afterAll(async () => {
    wsApp.close();
    await cp.stop();
    await stopRouters();
    await stopAll();
  });

  // The conformance table beside the parser (`http/src/testing.ts`), on each hop: the queue-proxy
  // alone and the router in front of it take the engine's decision, with the engine's status.
  const appAnswered = /"bytes":(\d+)/;
  describe.each(conformanceCases)('conformance: $name', (c) => {
    it('on the queue-proxy', async () => {
      const r = await exchange(qp.port, c.raw, appAnswered);
      expect(r.accepted, `status ${r.status}`).toBe(c.accept);
      if (!c.accept && c.status !== undefined) expect(r.status).toBe(c.status);
    });

    it('on the router in front of it', async () => {
      const r = await exchange(router.port, c.raw, appAnswered);
      // A request that names no host cannot be routed.
      expect(r.accepted, `status ${r.status}`).toBe(c.accept && !c.noHost);
      if (c.noHost) expect(r.status).toBe(404);
      else if (!c.accept && c.status !== undefined) expect(r.status).toBe(c.status);
    });
  });

  it('carries a WebSocket both ways through both hops', async () => {
    const socket = new WebSocket(`ws://127.0.0.1:${router.port}/chat`, { headers: { host: 'ws.example' } });
    const received: string[] = [];
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.once('open', () => {
        socket.on('message', (data) => {
          received.push(String(data));
          if (received.length === 3) resolve();
        });
        for (const m of ['one', 'two', 'three']) socket.send(m);
      });
    });
    socket.close();
    expect(received).toEqual(['echo: one', 'echo: two', 'echo: three']);
  });

  it('streams server-sent events through both hops as they are sent, not at the end', async () => {
    const arrivals: { at: number; text: string }[] = [];
    const started = Date.now();
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: router.port, path: '/events?n=4&ms=400', headers: { host: 'hello.example' } },
        (res) => {
          expect(res.headers['content-type']).toBe('text/event-stream');
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => arrivals.push({ at: Date.now() - started, text: chunk }));
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.once('error', reject);
      req.end();
    });
    expect(status).toBe(200);
    expect(arrivals.map((a) => a.text).join('')).toBe('data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\n');
    // The first event arrives long before the last was sent (1.2 s after the first).
    const first = arrivals[0]?.at ?? Number.POSITIVE_INFINITY;
    const last = arrivals.at(-1)?.at ?? 0;
    expect(first).toBeLessThan(last - 800);
  });
});
