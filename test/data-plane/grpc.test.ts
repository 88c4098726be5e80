import { createServer as createHttp2Server, type Http2Server, constants as h2 } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revision, route } from '../edge-router/contract.ts';
import { ControlPlaneStub } from '../helpers/control-plane-stub.ts';
import { type RouterProc, startRouter, stopRouters } from '../helpers/edge-router.ts';
import { grpc, TestGrpcClient } from '../helpers/grpc.ts';
import { freePort, type QueueProxyProc, start, startQueueProxy, stopAll, waitFor } from '../helpers/processes.ts';

const grpcApp = fileURLToPath(new URL('../apps/grpc.mjs', import.meta.url));

// gRPC over h2c on every hop: client → router (Node) → queue-proxy → a @grpc/grpc-js server,
// with the revision's port named h2c in the routing snapshot.
describe('gRPC through the router and the queue-proxy', () => {
  const cp = new ControlPlaneStub();
  let router: RouterProc;
  let qp: QueueProxyProc;
  let qpOne: QueueProxyProc;
  let client: TestGrpcClient;
  /** A replica that is gone (replaced): its address refuses connections. */
  let goneUrl: string;
  /** An HTTP/2 server that refuses every stream (REFUSED_STREAM: not processed, RFC 9113 §8.7). */
  let refuser: Http2Server;
  let refuserUrl: string;

  async function app(): Promise<number> {
    const port = await freePort();
    await start(process.execPath, [grpcApp], { PORT: String(port) }, /grpc app listening/);
    return port;
  }

  /** The snapshot: every revision on h2c; `cold` has the replicas in `coldEndpoints` (none at first). */
  function publish(coldEndpoints: string[]): void {
    cp.publish({
      routes: ['grpc', 'one', 'short', 'cold', 'replaced', 'refusing'].map((name) =>
        route(name, [{ revisionName: `${name}-00001`, percent: 100 }]),
      ),
      revisions: [
        revision('grpc-00001', [qp.url], { protocol: 'h2c' }),
        revision('one-00001', [qpOne.url], { protocol: 'h2c', containerConcurrency: 1 }),
        revision('short-00001', [qp.url], { protocol: 'h2c', timeoutSeconds: 1 }),
        revision('cold-00001', coldEndpoints, { protocol: 'h2c' }),
        // containerConcurrency 1 makes the router try the endpoints in order: the gone one first.
        revision('replaced-00001', [goneUrl, qp.url], { protocol: 'h2c', containerConcurrency: 1 }),
        revision('refusing-00001', [refuserUrl, qp.url], { protocol: 'h2c', containerConcurrency: 1 }),
      ],
    });
  }

  beforeAll(async () => {
    qp = await startQueueProxy(await app(), { SERVING_REVISION: 'grpc-00001' });
    qpOne = await startQueueProxy(await app(), { SERVING_REVISION: 'one-00001', CONTAINER_CONCURRENCY: '1' });
    goneUrl = `http://127.0.0.1:${await freePort()}`;
    refuser = createHttp2Server();
    // Once the whole request has come (so the router has passed its body on), as a server that
    // read it but did not process it may.
    refuser.on('stream', (stream) => {
      stream.on('error', () => {});
      stream.resume();
      stream.on('end', () => stream.close(h2.NGHTTP2_REFUSED_STREAM));
    });
    await new Promise<void>((resolve) => refuser.listen(0, '127.0.0.1', resolve));
    refuserUrl = `http://127.0.0.1:${(refuser.address() as AddressInfo).port}`;
    await cp.start();
    publish([]);
    router = await startRouter('node', { SKIFF_CONTROL_PLANE_URL: cp.url, SKIFF_ROUTER_TOKEN: cp.token });
    client = new TestGrpcClient(router.port, 'grpc.default.example.com');
    await waitFor(
      async () => (await client.unary('Unary', { name: 'x' })).status.code === grpc.status.OK,
      10_000,
      'gRPC',
    );
  });

  afterAll(async () => {
    client?.close();
    refuser?.close();
    await cp.stop();
    await stopRouters();
    await stopAll();
  });

  it('serves a unary call with its trailers', async () => {
    const r = await client.unary<{ message: string }>('Unary', { name: 'skiff' });
    expect(r.status.code).toBe(grpc.status.OK);
    expect(r.value).toEqual({ message: 'hello skiff' });
    expect(r.status.metadata.get('x-served-by')).toEqual(['app']);
  });

  it('passes an error status, its message and trailers through', async () => {
    const r = await client.unary('Unary', { name: 'nothing', fail: true });
    expect(r.status.code).toBe(grpc.status.NOT_FOUND);
    expect(r.status.details).toBe('no nothing here');
    expect(r.status.metadata.get('x-why')).toEqual(['asked to fail']);
  });

  it('streams from the server', async () => {
    const r = await client.serverStream<{ i: number }>('Count', { count: 5, intervalMs: 20 });
    expect(r.status.code).toBe(grpc.status.OK);
    expect(r.values.map((v) => v.i)).toEqual([0, 1, 2, 3, 4]);
  });

  it('streams from the client', async () => {
    const r = await client.clientStream<{ sum: number }>(
      'Sum',
      [1, 2, 3, 4].map((n) => ({ n })),
    );
    expect(r.status.code).toBe(grpc.status.OK);
    expect(r.value).toEqual({ sum: 10 });
  });

  it('streams both ways, each answer before the next message', async () => {
    const r = await client.bidi<{ n: number }>(
      'Double',
      [1, 2, 3].map((n) => ({ n })),
    );
    expect(r.status.code).toBe(grpc.status.OK);
    expect(r.values).toEqual([{ n: 2 }, { n: 4 }, { n: 6 }]);
  });

  it('ends a stream past the revision timeout with DEADLINE_EXCEEDED', async () => {
    const short = new TestGrpcClient(router.port, 'short.default.example.com');
    const started = Date.now();
    const r = await short.serverStream<{ i: number }>('Count', { count: 100, intervalMs: 100 });
    short.close();
    expect(r.status.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(r.values.length).toBeGreaterThan(0);
    expect(r.values.length).toBeLessThan(100);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('with containerConcurrency 1 never runs two streams at once at the app', async () => {
    const one = new TestGrpcClient(router.port, 'one.default.example.com');
    const calls = await Promise.all([
      ...Array.from({ length: 3 }, () => one.unary('Unary', { name: 'a', sleepMs: 150 })),
      ...Array.from({ length: 3 }, () => one.serverStream('Count', { count: 3, intervalMs: 50 })),
    ]);
    expect(calls.map((c) => c.status.code)).toEqual(Array(6).fill(grpc.status.OK));
    const counters = await one.unary<{ overlaps: number; maxConcurrent: number }>('Counters', {});
    one.close();
    expect(counters.value).toEqual({ overlaps: 0, maxConcurrent: 1 });
  });

  it('sends a call to another replica when the one picked is gone (connection refused), as over HTTP/1.1', async () => {
    const replaced = new TestGrpcClient(router.port, 'replaced.default.example.com');
    const unary = [];
    for (let i = 0; i < 5; i++) unary.push(await replaced.unary<{ message: string }>('Unary', { name: `r${i}` }));
    const sum = await replaced.clientStream<{ sum: number }>('Sum', [{ n: 20 }, { n: 22 }]);
    replaced.close();
    expect(unary.map((r) => [r.status.code, r.value])).toEqual(
      [0, 1, 2, 3, 4].map((i) => [grpc.status.OK, { message: `hello r${i}` }]),
    );
    expect([sum.status.code, sum.value]).toEqual([grpc.status.OK, { sum: 42 }]);
  });

  it('sends a call with its whole body to another replica when the one picked refuses the stream', async () => {
    const refusing = new TestGrpcClient(router.port, 'refusing.default.example.com');
    const unary = await refusing.unary<{ message: string }>('Unary', { name: 'again' });
    const sum = await refusing.clientStream<{ sum: number }>('Sum', [{ n: 1 }, { n: 2 }, { n: 39 }]);
    refusing.close();
    expect([unary.status.code, unary.value]).toEqual([grpc.status.OK, { message: 'hello again' }]);
    expect([sum.status.code, sum.value]).toEqual([grpc.status.OK, { sum: 42 }]);
  });

  it('holds a call for a revision at zero until a replica is ready', async () => {
    const cold = new TestGrpcClient(router.port, 'cold.default.example.com');
    const call = cold.unary<{ message: string }>('Unary', { name: 'cold' });
    await waitFor(() => cp.pokes.some((p) => p.revision === 'cold-00001'), 5_000, 'a poke');
    const woken = await startQueueProxy(await app(), { SERVING_REVISION: 'cold-00001' });
    publish([woken.url]);
    const r = await call;
    cold.close();
    expect(r.status.code).toBe(grpc.status.OK);
    expect(r.value).toEqual({ message: 'hello cold' });
  });
});
