import { Agent } from 'node:http';
import * as http2 from 'node:http2';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { latencyQuantile, type SnapshotRevision, type SnapshotRoute } from '@skiff/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlaneStub } from '../helpers/control-plane-stub.ts';
import { type RouterProc, type RouterRuntime, startRouter, stopRouters } from '../helpers/edge-router.ts';
import { grpc, TestGrpcClient } from '../helpers/grpc.ts';
import { get, type Reply } from '../helpers/http.ts';
import { type App, freePort, sleep, start, startApp, stopAll, waitFor } from '../helpers/processes.ts';

/** What a runtime can do that the contract depends on (see each `false` in the runtime's test file). */
export interface RuntimeCapabilities {
  /**
   * The ways of going away while held that the runtime tells the router about: the client closes
   * its connection (FIN) or resets it (RST).
   */
  seesClientGone: ('close' | 'reset')[];
  /**
   * The router can tell that an endpoint refused the connection (so nothing reached the app) from
   * other upstream failures: from the error of the runtime's fetch, or (Workers) a probe socket.
   */
  seesConnectRefused: boolean;
  /** The app sees the client's `Host` (else the endpoint's address, the host in X-Forwarded-Host). */
  passesHost: boolean;
  /**
   * HTTP/2 and gRPC: whether the router's port takes HTTP/2 with prior knowledge (h2c) from
   * clients, reaches a revision whose port is named h2c over h2c (else 502), and carries gRPC,
   * whose status comes in trailers (else a call is answered UNIMPLEMENTED before it reaches the app);
   * whether the app sees the client's host as `:authority` over h2c (else in X-Forwarded-Host).
   */
  http2: { acceptsH2c: boolean; reachesH2c: boolean; grpc: boolean; passesAuthority: boolean };
}

const h2cApp = fileURLToPath(new URL('../apps/h2c.mjs', import.meta.url));
const grpcApp = fileURLToPath(new URL('../apps/grpc.mjs', import.meta.url));

/** One HTTP/2 request with prior knowledge: status, headers and body as text. */
function h2request(url: string, authority: string, path: string): Promise<Reply> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.on('error', reject);
    const stream = session.request({ ':path': path, ':authority': authority });
    let body = '';
    let headers: http2.IncomingHttpHeaders = {};
    stream.setEncoding('utf8');
    stream.on('response', (h) => {
      headers = h;
    });
    stream.on('data', (d: string) => {
      body += d;
    });
    stream.on('error', reject);
    stream.on('end', () => {
      session.close();
      resolve({
        status: Number(headers[':status']),
        headers: headers as Reply['headers'],
        body,
        ms: Date.now() - started,
      });
    });
  });
}

const domain = 'example.com';
const host = (name: string) => `${name}.default.${domain}`;
/** Routers in the contract hold at most this many requests per revision. */
const maxHeld = 3;
const maxBodyBytes = 1000;

export function revision(name: string, endpoints: string[], extra: Partial<SnapshotRevision> = {}): SnapshotRevision {
  return {
    namespace: 'default',
    name,
    service: name.replace(/-\d+$/, ''),
    containerConcurrency: 0,
    timeoutSeconds: 30,
    endpoints: endpoints.map((url, i) => ({ pod: `${name}-pod-${i}`, url })),
    ...extra,
  };
}

export function route(
  name: string,
  traffic: SnapshotRoute['traffic'],
  extra: Partial<SnapshotRoute> = {},
): SnapshotRoute {
  return { namespace: 'default', name, visibility: 'public', hosts: [host(name)], traffic, ...extra };
}

/**
 * The edge router's behaviour as a user sees it, run against one runtime: real router process,
 * real apps on loopback as endpoints, and a stand-in control plane serving the routing snapshot.
 */
export function routerContract(runtime: RouterRuntime, caps: RuntimeCapabilities): void {
  describe(`edge router on ${runtime}`, () => {
    const cp = new ControlPlaneStub();
    let router: RouterProc;
    let appA: App;
    let appB: App;
    let h2cUrl: string;
    let grpcUrl: string;
    let marker = 0;
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });

    /** Publishes a snapshot and waits until the router routes with it (a marker host answers). */
    async function publish(routes: SnapshotRoute[], revisions: SnapshotRevision[]): Promise<void> {
      const probe = `snapshot-${++marker}`;
      cp.publish({
        routes: [...routes, route(probe, [{ revisionName: `${probe}-00001`, percent: 100 }])],
        revisions: [...revisions, revision(`${probe}-00001`, [appA.url])],
      });
      await waitFor(async () => (await send(probe)).status === 200, 15_000, `router to pick up ${probe}`);
    }

    function send(name: string, path = '/', init: Parameters<typeof get>[1] = {}): Promise<Reply> {
      return get(`${router.url}${path}`, { agent, ...init, headers: { host: host(name), ...init.headers } });
    }

    beforeAll(async () => {
      [appA, appB] = await Promise.all([startApp({ TARGET: 'a' }), startApp({ TARGET: 'b' })]);
      const [h2cPort, grpcPort] = [await freePort(), await freePort()];
      await Promise.all([
        start(process.execPath, [h2cApp], { PORT: String(h2cPort) }, /h2c app listening/),
        start(process.execPath, [grpcApp], { PORT: String(grpcPort) }, /grpc app listening/),
      ]);
      h2cUrl = `http://127.0.0.1:${h2cPort}`;
      grpcUrl = `http://127.0.0.1:${grpcPort}`;
      await cp.start();
      router = await startRouter(runtime, {
        SKIFF_CONTROL_PLANE_URL: cp.url,
        SKIFF_ROUTER_TOKEN: cp.token,
        SKIFF_ROUTER_NAME: `contract-${runtime}`,
        SKIFF_TAG_HEADER_ROUTING: 'true',
        SKIFF_MAX_HELD_PER_REVISION: String(maxHeld),
        SKIFF_MAX_BODY_BYTES: String(maxBodyBytes),
        SKIFF_SNAPSHOT_WAIT_SECONDS: '5',
        SKIFF_RANDOM_SEED: '20261122',
      });
    }, 90_000);

    afterAll(async () => {
      agent.destroy();
      await cp.stop();
      await stopRouters();
      await stopAll();
    });

    it('routes a service host to its revision and names the revision in Skiff-Revision', async () => {
      await publish(
        [route('hello', [{ revisionName: 'hello-00001', percent: 100 }])],
        [revision('hello-00001', [appA.url])],
      );
      const reply = await send('hello');
      expect(reply.status).toBe(200);
      expect(reply.body).toBe('Hello a!\n');
      expect(reply.headers['skiff-revision']).toBe('hello-00001');
    });

    it('matches hosts case-insensitively and ignores the port', async () => {
      await publish(
        [route('hello', [{ revisionName: 'hello-00001', percent: 100 }])],
        [revision('hello-00001', [appA.url])],
      );
      const reply = await get(`${router.url}/`, { agent, headers: { host: 'HeLLo.Default.EXAMPLE.com:8080' } });
      expect(reply.status).toBe(200);
      expect(reply.body).toBe('Hello a!\n');
    });

    it('answers 404 with a plain message for an unknown host', async () => {
      const reply = await send('nobody');
      expect(reply.status).toBe(404);
      expect(reply.headers['content-type']).toMatch(/^text\/plain/);
      expect(reply.body).toBe(`no service is served at host ${host('nobody')}\n`);
    });

    it('does not serve a cluster-local service on the public host set', async () => {
      await publish(
        [route('internal', [{ revisionName: 'internal-00001', percent: 100 }], { visibility: 'cluster-local' })],
        [revision('internal-00001', [appA.url])],
      );
      expect((await send('internal')).status).toBe(404);
    });

    it('sends a tag host to its revision only, and Skiff-Tag on the main host to the tag revision', async () => {
      await publish(
        [
          route('web', [
            { revisionName: 'web-00001', percent: 100, tag: 'current' },
            { revisionName: 'web-00002', percent: 0, tag: 'candidate', hosts: [host('candidate-web')] },
          ]),
        ],
        [revision('web-00001', [appA.url]), revision('web-00002', [appB.url])],
      );
      for (let i = 0; i < 20; i++) {
        const tagged = await send('candidate-web');
        expect([tagged.status, tagged.headers['skiff-revision'], tagged.body]).toEqual([
          200,
          'web-00002',
          'Hello b!\n',
        ]);
        const main = await send('web');
        expect(main.headers['skiff-revision']).toBe('web-00001');
      }
      const byHeader = await send('web', '/', { headers: { 'skiff-tag': 'candidate' } });
      expect(byHeader.headers['skiff-revision']).toBe('web-00002');
      // An unknown tag falls through to the split.
      const unknownTag = await send('web', '/', { headers: { 'skiff-tag': 'nope' } });
      expect(unknownTag.headers['skiff-revision']).toBe('web-00001');
    });

    it('splits 10,000 requests 90/10 within 1.5 points', async () => {
      await publish(
        [
          route('split', [
            { revisionName: 'split-00001', percent: 90 },
            { revisionName: 'split-00002', percent: 10 },
          ]),
        ],
        [revision('split-00001', [appA.url]), revision('split-00002', [appB.url])],
      );
      const counts = new Map<string, number>();
      let next = 0;
      const total = 10_000;
      const worker = async () => {
        while (next < total) {
          next++;
          const reply = await send('split');
          expect(reply.status).toBe(200);
          const name = String(reply.headers['skiff-revision']);
          counts.set(name, (counts.get(name) ?? 0) + 1);
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
      const share = ((counts.get('split-00002') ?? 0) / total) * 100;
      expect((counts.get('split-00001') ?? 0) + (counts.get('split-00002') ?? 0)).toBe(total);
      expect(Math.abs(share - 10)).toBeLessThanOrEqual(1.5);
    }, 120_000);

    it('tells the app who asked: X-Forwarded-For/Proto/Host and Forwarded', async () => {
      await publish(
        [route('hello', [{ revisionName: 'hello-00001', percent: 100 }])],
        [revision('hello-00001', [appA.url])],
      );
      const reply = await send('hello', '/headers', { headers: { 'x-custom': 'kept' } });
      const seen = JSON.parse(reply.body).headers as Record<string, string>;
      expect(seen['x-custom']).toBe('kept');
      expect(seen.host).toBe(caps.passesHost ? host('hello') : new URL(appA.url).host);
      expect(seen['x-forwarded-for']).toBe('127.0.0.1');
      expect(seen['x-forwarded-proto']).toBe('http');
      expect(seen['x-forwarded-host']).toBe(host('hello'));
      expect(seen.forwarded).toBe(`for=127.0.0.1;host=${host('hello')};proto=http`);
      expect(seen['k-proxy-request']).toBeUndefined();
    });

    it('streams request and response bodies both ways', async () => {
      await publish(
        [route('hello', [{ revisionName: 'hello-00001', percent: 100 }])],
        [revision('hello-00001', [appA.url])],
      );
      const body = 'x'.repeat(900);
      const echoed = await send('hello', '/echo', { method: 'POST', body });
      expect(echoed.status).toBe(200);
      expect(echoed.body).toBe(body);
      const download = await send('hello', '/download?bytes=3000000');
      expect(download.status).toBe(200);
      expect(download.body.length).toBe(3_000_000);
    });

    it('holds a request for a revision at zero, pokes the control plane, and releases it when an endpoint appears', async () => {
      const cold = () => route('cold', [{ revisionName: 'cold-00001', percent: 100 }]);
      await publish([cold()], [revision('cold-00001', [])]);
      const pokesBefore = cp.pokes.length;
      const started = Date.now();
      const pending = send('cold', '/headers', { agent: undefined });
      await waitFor(() => cp.pokes.slice(pokesBefore).some((p) => p.revision === 'cold-00001'), 10_000, 'a poke');
      expect(cp.unauthorized).toBe(0);
      await sleep(300);
      // The snapshot brings the endpoint with its start from zero, step by step (the backend's times).
      const readyAt = Date.now();
      const coldStart = { decidedAt: started + 40, spawnedAt: started + 80, listeningAt: started + 120, readyAt };
      cp.publish({ routes: [cold()], revisions: [revision('cold-00001', [appA.url], { coldStart })] });
      const reply = await pending;
      expect(reply.status).toBe(200);
      expect(reply.ms).toBeGreaterThanOrEqual(250);
      expect(Date.now() - started).toBeLessThan(10_000);
      // The queue-proxy counts requests carrying this marker as proxied by the router.
      expect(JSON.parse(reply.body).headers['k-proxy-request']).toBe('activator');
      // Its wait explained: every phase in Server-Timing, the steps adding up to the time held.
      const phases = Object.fromEntries(
        String(reply.headers['server-timing'] ?? '')
          .split(',')
          .map((part) => {
            const [name = '', dur = ''] = part.trim().split(';dur=');
            return [name, Number(dur)];
          }),
      );
      expect(Object.keys(phases)).toEqual(['held', 'decision', 'spawn', 'listening', 'ready', 'routed', 'first-byte']);
      expect(phases.held).toBeGreaterThanOrEqual(250);
      const steps = ['decision', 'spawn', 'listening', 'ready', 'routed'].reduce((a, k) => a + (phases[k] ?? 0), 0);
      expect(Math.abs(steps - (phases.held ?? 0))).toBeLessThan(1);
      // The next request waits for nothing and carries no Server-Timing.
      const warm = await send('cold', '/headers', { agent: undefined });
      expect(warm.status).toBe(200);
      expect(warm.headers['server-timing']).toBeUndefined();
      // The cold start is reported once, with the same phases, for the control plane's log.
      await waitFor(
        () => cp.stats.some((s) => s.coldStarts?.some((x) => x.revision === 'cold-00001')),
        5_000,
        'the cold start in the stats',
      );
      const reported = cp.stats.flatMap((s) => s.coldStarts ?? []).filter((x) => x.revision === 'cold-00001');
      expect(reported).toHaveLength(1);
      expect(Math.abs((reported[0]?.phases.held ?? 0) - (phases.held ?? 0))).toBeLessThanOrEqual(0.05); // the header rounds to 0.1 ms
      await waitFor(
        () => cp.stats.some((s) => s.revisions.some((r) => r.revision === 'cold-00001' && r.averageHeld > 0)),
        5_000,
        'stats showing the held request',
      );
    });

    it('reports each revision’s answers, the 5xx among them and their latencies in its stats', async () => {
      await publish(
        [route('answers', [{ revisionName: 'answers-00001', percent: 100 }])],
        [revision('answers-00001', [appA.url])],
      );
      const replies = await Promise.all([
        send('answers'),
        send('answers', '/status?code=503'),
        send('answers', '/status?code=500'),
        send('answers', '/sleep?ms=300'),
      ]);
      expect(replies.map((r) => r.status)).toEqual([200, 503, 500, 200]);
      const totals = () => {
        const latency = new Map<number, number>();
        let responses = 0;
        let serverErrors = 0;
        for (const s of cp.stats) {
          for (const r of s.revisions) {
            if (r.revision !== 'answers-00001') continue;
            responses += r.responses ?? 0;
            serverErrors += r.serverErrors ?? 0;
            for (const [bucket, n] of r.latency ?? []) latency.set(bucket, (latency.get(bucket) ?? 0) + n);
          }
        }
        return { responses, serverErrors, p99: latencyQuantile(latency, 0.99) ?? 0 };
      };
      await waitFor(() => totals().responses >= 4, 5_000, 'stats with the four answers');
      expect(totals()).toMatchObject({ responses: 4, serverErrors: 2 });
      expect(totals().p99).toBeGreaterThanOrEqual(300);
    });

    it('answers 503 at once when the revision queue is full', async () => {
      await publish(
        [route('full', [{ revisionName: 'full-00001', percent: 100 }])],
        [revision('full-00001', [], { timeoutSeconds: 2 })],
      );
      const held = Array.from({ length: maxHeld }, () => send('full', '/', { agent: undefined }));
      await sleep(500);
      const refused = await send('full', '/', { agent: undefined });
      expect(refused.status).toBe(503);
      expect(refused.ms).toBeLessThan(1_000);
      expect(refused.body).toBe('pending request queue full for revision full-00001\n');
      for (const reply of await Promise.all(held)) expect(reply.status).toBe(504);
      // The router's own 503 and 504s count among the revision's answers, for the rollout gate.
      const counted = () =>
        cp.stats
          .flatMap((s) => s.revisions)
          .filter((r) => r.revision === 'full-00001')
          .reduce(
            (n, r) => ({
              responses: n.responses + (r.responses ?? 0),
              serverErrors: n.serverErrors + (r.serverErrors ?? 0),
            }),
            { responses: 0, serverErrors: 0 },
          );
      await waitFor(() => counted().responses >= maxHeld + 1, 5_000, 'stats with the 503 and the 504s');
      expect(counted()).toEqual({ responses: maxHeld + 1, serverErrors: maxHeld + 1 });
    });

    it('answers 504 when a request is held past the revision timeout', async () => {
      await publish(
        [route('slow', [{ revisionName: 'slow-00001', percent: 100 }])],
        [revision('slow-00001', [], { timeoutSeconds: 1 })],
      );
      const reply = await send('slow', '/', { agent: undefined });
      expect(reply.status).toBe(504);
      expect(reply.ms).toBeGreaterThanOrEqual(900);
      expect(reply.ms).toBeLessThan(3_000);
    });

    it('counts time held toward the revision timeout', async () => {
      const r = () => route('budget', [{ revisionName: 'budget-00001', percent: 100 }]);
      await publish([r()], [revision('budget-00001', [], { timeoutSeconds: 2 })]);
      const pending = send('budget', '/sleep?ms=1500', { agent: undefined });
      await sleep(1_000);
      cp.publish({ routes: [r()], revisions: [revision('budget-00001', [appA.url], { timeoutSeconds: 2 })] });
      // 1 s held + 1.5 s at the app > 2 s: the whole request times out.
      const reply = await pending;
      expect(reply.status).toBe(504);
      expect(reply.ms).toBeLessThan(3_500);
    });

    for (const how of caps.seesClientGone) {
      it(`a client that goes away while held (${how === 'close' ? 'closes' : 'resets'} its connection) leaves the queue at once`, async () => {
        const name = `gone-${how}`;
        const r = () => route(name, [{ revisionName: `${name}-00001`, percent: 100 }]);
        await publish([r()], [revision(`${name}-00001`, [], { timeoutSeconds: 20 })]);
        const sockets: Socket[] = [];
        for (let i = 0; i < maxHeld; i++) sockets.push(await rawRequest(router.port, host(name)));
        await sleep(300);
        if (how === 'close') sockets[0]?.destroy();
        else sockets[0]?.resetAndDestroy();
        await sleep(300);
        // Its place is free again: one more request is held instead of refused.
        const late = send(name, '/', { agent: undefined });
        await sleep(300);
        cp.publish({ routes: [r()], revisions: [revision(`${name}-00001`, [appA.url], { timeoutSeconds: 20 })] });
        expect((await late).status).toBe(200);
        const answers = await Promise.all(sockets.slice(1).map(readAll));
        for (const text of answers) expect(text).toMatch(/^HTTP\/1\.1 200/);
      });
    }

    it('answers 502 when the endpoint refuses the connection', async () => {
      const dead = `http://127.0.0.1:${await freePort()}`;
      await publish(
        [route('broken', [{ revisionName: 'broken-00001', percent: 100 }])],
        [revision('broken-00001', [dead])],
      );
      const reply = await send('broken');
      expect(reply.status).toBe(502);
      expect(reply.body).toMatch(/^error reverse proxying to revision broken-00001/);
    });

    if (caps.seesConnectRefused) {
      it('retries a refused connection once on another endpoint', async () => {
        const dead = `http://127.0.0.1:${await freePort()}`;
        // Best of two random choices: about half the requests try the dead endpoint first.
        await publish(
          [route('flaky', [{ revisionName: 'flaky-00001', percent: 100 }])],
          [revision('flaky-00001', [dead, appA.url])],
        );
        for (let i = 0; i < 30; i++) {
          const reply = await send('flaky');
          expect(reply.status).toBe(200);
        }
        // Two dead endpoints: one retry, then 502.
        const dead2 = `http://127.0.0.1:${await freePort()}`;
        await publish(
          [route('flaky', [{ revisionName: 'flaky-00002', percent: 100 }])],
          [revision('flaky-00002', [dead, dead2])],
        );
        expect((await send('flaky')).status).toBe(502);
      });
    }

    it('never retries a request the endpoint may have read: a dropped connection answers 502', async () => {
      // An endpoint that accepts, reads a request head and drops the connection without answering.
      const dropped: string[] = [];
      const dropper = createServer((socket) => {
        let head = '';
        socket.on('data', (d: Buffer) => {
          head += d.toString('latin1');
          if (!head.includes('\r\n\r\n')) return;
          dropped.push(head.split(' ')[1] ?? '');
          socket.destroy();
        });
        socket.on('error', () => undefined);
      });
      await new Promise<void>((resolve) => dropper.listen(0, '127.0.0.1', resolve));
      try {
        const dropperUrl = `http://127.0.0.1:${(dropper.address() as AddressInfo).port}`;
        await publish(
          [route('dropping', [{ revisionName: 'dropping-00001', percent: 100 }])],
          [revision('dropping-00001', [dropperUrl, appA.url])],
        );
        const failed: string[] = [];
        for (let i = 0; i < 30; i++) {
          // No body: nothing in the request itself stops a replay.
          const path = `/headers?n=${i}`;
          const reply = await send('dropping', path, { method: 'DELETE' });
          if (reply.status === 502) failed.push(path);
          else expect([reply.status, JSON.parse(reply.body).url]).toEqual([200, path]);
        }
        // Best of two random choices: some requests went to the dropper first. Each of them reached
        // it once and answered 502; none was sent again to the app.
        expect(dropped.length).toBeGreaterThan(0);
        expect(failed).toEqual(dropped);
      } finally {
        dropper.close();
      }
    });

    it(`reaches a revision whose port is named h2c ${caps.http2.reachesH2c ? 'over h2c' : '... not: 502 (fetch speaks HTTP/1.1)'}`, async () => {
      await publish(
        [route('h2', [{ revisionName: 'h2-00001', percent: 100 }])],
        [revision('h2-00001', [h2cUrl], { protocol: 'h2c' })],
      );
      if (!caps.http2.reachesH2c) {
        const reply = await send('h2', '/over');
        expect(reply.status).toBe(502);
        expect(reply.body).toContain('h2c');
        return;
      }
      const reply = caps.http2.acceptsH2c
        ? await h2request(router.url, host('h2'), '/over?h2=1')
        : await send('h2', '/over?h2=1');
      expect(reply.status).toBe(200);
      const seen = JSON.parse(reply.body);
      expect(seen).toMatchObject({ httpVersion: '2.0', method: 'GET', path: '/over?h2=1' });
      expect(caps.http2.passesAuthority ? seen.authority : seen.forwardedHost).toBe(host('h2'));
    });

    it(
      caps.http2.grpc
        ? 'carries gRPC calls with their status and trailers'
        : 'answers a gRPC call UNIMPLEMENTED (trailers-only, saying why) before it reaches the app',
      async () => {
        await publish(
          [route('grpc', [{ revisionName: 'grpc-00001', percent: 100 }])],
          [revision('grpc-00001', [grpcUrl], { protocol: 'h2c' })],
        );
        if (!caps.http2.acceptsH2c) {
          // No HTTP/2 from clients here: a gRPC-shaped HTTP/1.1 request gets the same refusal.
          const reply = await send('grpc', '/skiff.Test/Unary', {
            method: 'POST',
            headers: { 'content-type': 'application/grpc' },
            body: '',
          });
          expect([reply.status, reply.headers['grpc-status']]).toEqual([200, '12']);
          return;
        }
        const client = new TestGrpcClient(router.port, host('grpc'));
        try {
          const ok = await client.unary<{ message: string }>('Unary', { name: 'contract' });
          const failed = await client.unary('Unary', { name: 'nothing', fail: true });
          if (caps.http2.grpc) {
            expect([ok.status.code, ok.value]).toEqual([grpc.status.OK, { message: 'hello contract' }]);
            expect([failed.status.code, failed.status.details]).toEqual([grpc.status.NOT_FOUND, 'no nothing here']);
            expect(failed.status.metadata.get('x-why')).toEqual(['asked to fail']);
          } else {
            for (const r of [ok, failed]) {
              expect(r.status.code).toBe(grpc.status.UNIMPLEMENTED);
              expect(r.status.details).toContain('trailers');
            }
            // Neither call ran at the app.
            const direct = new TestGrpcClient(Number(new URL(grpcUrl).port), host('grpc'));
            const counters = await direct.unary<{ maxConcurrent: number }>('Counters', {});
            direct.close();
            expect([counters.status.code, counters.value?.maxConcurrent]).toEqual([grpc.status.OK, 0]);
          }
        } finally {
          client.close();
        }
      },
    );

    it('refuses a request head over 16 KiB with 431 and serves one just under it', async () => {
      await publish(
        [route('hello', [{ revisionName: 'hello-00001', percent: 100 }])],
        [revision('hello-00001', [appA.url])],
      );
      const big = await send('hello', '/', { agent: undefined, headers: { 'x-big': 'y'.repeat(17 * 1024) } });
      expect(big.status).toBe(431);
      const fine = await send('hello', '/', { agent: undefined, headers: { 'x-big': 'y'.repeat(15 * 1024) } });
      expect(fine.status).toBe(200);
    });

    it('refuses a body over the configured limit with 413', async () => {
      const reply = await send('hello', '/upload', {
        agent: undefined,
        method: 'POST',
        body: 'z'.repeat(maxBodyBytes + 1),
      });
      expect(reply.status).toBe(413);
      const fits = await send('hello', '/upload', { agent: undefined, method: 'POST', body: 'z'.repeat(maxBodyBytes) });
      expect(JSON.parse(fits.body)).toEqual({ bytes: maxBodyBytes });
    });

    it('keeps serving the last snapshot while the control plane is down, then follows it again', async () => {
      await publish(
        [route('hello', [{ revisionName: 'hello-00001', percent: 100 }])],
        [revision('hello-00001', [appA.url])],
      );
      const port = cp.port;
      await cp.stop();
      const until = Date.now() + 3_000;
      while (Date.now() < until) {
        expect((await send('hello')).status).toBe(200);
        await sleep(100);
      }
      await cp.start(port);
      await publish(
        [route('hello', [{ revisionName: 'hello-00002', percent: 100 }])],
        [revision('hello-00002', [appB.url])],
      );
      expect((await send('hello')).headers['skiff-revision']).toBe('hello-00002');
    }, 60_000);
  });
}

/** Sends a GET on a raw socket and leaves it open (so the test can drop it). */
function rawRequest(port: number, hostHeader: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`GET / HTTP/1.1\r\nHost: ${hostHeader}\r\nConnection: close\r\n\r\n`);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

function readAll(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('close', () => resolve(text));
    socket.on('error', () => resolve(text));
  });
}
