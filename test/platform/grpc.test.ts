import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CallResult, grpc, TestGrpcClient } from '../helpers/grpc.ts';
import { type Platform, ready, servicePath, startPlatform } from '../helpers/platform.ts';
import { stopAll, waitFor } from '../helpers/processes.ts';

const grpcApp = fileURLToPath(new URL('../apps/grpc.mjs', import.meta.url));

// A gRPC server deployed as a Skiff service whose port is named h2c (Knative's own example of
// one), on the local backend under `skiff up`: HTTP/2 on every hop, router → queue-proxy → app.
describe('a gRPC service (port h2c) on skiff up', () => {
  let p: Platform;
  const clients: TestGrpcClient[] = [];
  const client = (name: string) => {
    const c = new TestGrpcClient(p.routerPort, `${name}.default.localhost`);
    clients.push(c);
    return c;
  };

  async function deploy(name: string, spec: Record<string, unknown>, annotations?: Record<string, string>) {
    const svc = {
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Service',
      metadata: { name },
      spec: {
        template: {
          ...(annotations ? { metadata: { annotations } } : {}),
          spec: {
            containers: [{ command: [process.execPath, grpcApp], ports: [{ name: 'h2c', containerPort: 8080 }] }],
            ...spec,
          },
        },
      },
    };
    expect((await p.api('POST', servicePath(), svc)).status).toBe(201);
    // Not probed over HTTP/1.1: the app speaks only HTTP/2.
    await ready(p, name, 30_000, false);
  }

  /** A call, again while the router has not heard of the service yet (404, UNIMPLEMENTED to gRPC). */
  async function routed<T>(call: () => Promise<CallResult<T>>): Promise<CallResult<T>> {
    for (;;) {
      const r = await call();
      if (r.status.code !== grpc.status.UNIMPLEMENTED) return r;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  beforeAll(async () => {
    p = await startPlatform();
    await deploy('grpc', { containerConcurrency: 1 });
    await deploy('grpc-short', { timeoutSeconds: 1 });
    await deploy('grpc-cold', {}, { 'autoscaling.knative.dev/initial-scale': '0' });
  }, 120_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await stopAll();
  });

  it('serves all four kinds of call with their status and trailers', async () => {
    const c = client('grpc');
    const unary = await routed(() => c.unary<{ message: string }>('Unary', { name: 'skiff' }));
    expect(unary.status.code).toBe(grpc.status.OK);
    expect(unary.value).toEqual({ message: 'hello skiff' });
    expect(unary.status.metadata.get('x-served-by')).toEqual(['grpc-00001']);

    const failed = await c.unary('Unary', { name: 'nothing', fail: true });
    expect(failed.status.code).toBe(grpc.status.NOT_FOUND);
    expect(failed.status.details).toBe('no nothing here');
    expect(failed.status.metadata.get('x-why')).toEqual(['asked to fail']);

    const server = await c.serverStream<{ i: number }>('Count', { count: 4, intervalMs: 20 });
    expect([server.status.code, server.values]).toEqual([grpc.status.OK, [{ i: 0 }, { i: 1 }, { i: 2 }, { i: 3 }]]);
    const sum = await c.clientStream<{ sum: number }>('Sum', [{ n: 5 }, { n: 6 }]);
    expect([sum.status.code, sum.value]).toEqual([grpc.status.OK, { sum: 11 }]);
    const both = await c.bidi<{ n: number }>('Double', [{ n: 1 }, { n: 21 }]);
    expect([both.status.code, both.values]).toEqual([grpc.status.OK, [{ n: 2 }, { n: 42 }]]);
  });

  it('with containerConcurrency 1 runs concurrent calls and streams one at a time at the app', async () => {
    const c = client('grpc');
    await routed(() => c.unary('Unary', { name: 'warm' }));
    const calls = await Promise.all([
      ...Array.from({ length: 3 }, () => c.unary('Unary', { name: 'a', sleepMs: 100 })),
      ...Array.from({ length: 3 }, () => c.serverStream('Count', { count: 3, intervalMs: 40 })),
    ]);
    expect(calls.map((r) => r.status.code)).toEqual(Array(6).fill(grpc.status.OK));
    const counters = await c.unary<{ overlaps: number; maxConcurrent: number }>('Counters', {});
    expect(counters.value).toEqual({ overlaps: 0, maxConcurrent: 1 });
  });

  it('ends a stream that outlives timeoutSeconds with DEADLINE_EXCEEDED', async () => {
    const c = client('grpc-short');
    await routed(() => c.unary('Unary', { name: 'warm' }));
    const started = Date.now();
    const r = await c.serverStream<{ i: number }>('Count', { count: 100, intervalMs: 100 });
    expect(r.status.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(r.values.length).toBeGreaterThan(0);
    expect(r.values.length).toBeLessThan(100);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('holds a call to a revision at zero, wakes a replica and answers it', async () => {
    const svc = (await (await p.api('GET', servicePath('grpc-cold'))).json()) as any;
    expect(svc.status.revisions[0].actualReplicas).toBe(0);
    const c = client('grpc-cold');
    const started = Date.now();
    const r = await routed(() => c.unary<{ message: string }>('Unary', { name: 'cold' }));
    expect(r.status.code).toBe(grpc.status.OK);
    expect(r.value).toEqual({ message: 'hello cold' });
    expect(Date.now() - started).toBeLessThan(15_000);
    await waitFor(
      async () =>
        ((await (await p.api('GET', servicePath('grpc-cold'))).json()) as any).status.revisions[0].actualReplicas === 1,
      10_000,
      'one replica',
    );
  });
});
