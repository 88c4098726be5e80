// The router as a Cloudflare Worker (wrangler.toml at the repo root): the web-standard app, with
// each revision's holding state in a Durable Object.
import { createApp } from '../app.ts';
import { parseRouterConfig } from '../config.ts';
import { RememberingProbe } from '../forward/connect-probe.ts';
import { acceptsConnections } from '../worker/connect-socket.ts';
import { DurableGate } from '../worker/durable-gate.ts';
import { configEnv, type WorkerEnv } from '../worker/env.ts';
import { IsolateSnapshot } from '../worker/isolate-snapshot.ts';

export { RevisionGate } from '../worker/revision-gate.ts';

let router: { fetch: (request: Request, env: WorkerEnv, ctx: ExecutionContext) => Response | Promise<Response> };

function createRouter(env: WorkerEnv) {
  const config = parseRouterConfig(configEnv(env));
  const snapshot = new IsolateSnapshot(config);
  const app = createApp({
    config,
    resolve: async (host, tag, c) => {
      await snapshot.ensure((work) => c.executionCtx.waitUntil(work));
      return snapshot.core.resolve(host, tag);
    },
    gate: new DurableGate(env, () => snapshot.version),
    fetch: (input, init) => fetch(input, init),
    // workerd reports every failed subrequest as "Network connection lost": a refused connection
    // cannot be told from one lost after the request went out, so a failed fetch is never retried;
    // a socket opened first tells a refusing endpoint before anything is sent.
    isConnectRefused: () => false,
    connectProbe: new RememberingProbe(acceptsConnections),
    clientAddress: (c) => c.req.header('cf-connecting-ip'),
    background: (c, work) => c.executionCtx.waitUntil(work),
  });
  return { fetch: (request: Request, e: WorkerEnv, ctx: ExecutionContext) => app.fetch(request, e, ctx) };
}

export default {
  fetch(request, env, ctx) {
    router ??= createRouter(env);
    return router.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<WorkerEnv>;
