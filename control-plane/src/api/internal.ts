import { ActivateRequestSchema, failure, statsPushPath } from '@skiff/shared';
import type { Hono } from 'hono';
import { readBody, statusResponse } from './body.ts';
import type { ApiDeps } from './deps.ts';
import { readStatStream } from './stat-stream.ts';

const maxWaitSeconds = 60;

/**
 * Endpoints for routers and queue-proxies (router token only): the routing snapshot long-poll,
 * activation, and the stats stream (replicas' and routers' stats).
 */
export function internalRoutes(app: Hono, deps: ApiDeps): void {
  app.get('/internal/v1/routing', async (c) => {
    const since = Number(c.req.query('since') ?? -1);
    const wait = Math.min(maxWaitSeconds, Math.max(0, Number(c.req.query('waitSeconds') ?? 0)));
    if (!Number.isFinite(since) || !Number.isFinite(wait)) {
      return statusResponse(c.req.raw, failure('BadRequest', 'since and waitSeconds must be numbers'));
    }
    // `delta=true`: a router that applies deltas (others always get the full snapshot).
    const delta = c.req.query('delta') === 'true';
    const update = await deps.publisher.next(since, wait * 1000, c.req.raw.signal, delta, c.req.query('epoch'));
    if (!update) return c.body(null, 304);
    return c.json(update);
  });
  app.post('/internal/v1/activate', async (c) => {
    const body = await readBody(c.req.raw, 'object');
    if (!body.ok) return statusResponse(c.req.raw, body.status);
    const parsed = ActivateRequestSchema.safeParse(body.value);
    if (!parsed.success)
      return statusResponse(c.req.raw, failure('BadRequest', 'expected {namespace, revision, held?}'));
    deps.activate(parsed.data);
    return c.body(null, 202);
  });
  // Queue-proxies' and routers' stats, each over a stream of their own kept open.
  app.post(statsPushPath, async (c) => {
    const status = await readStatStream(c.req.raw.body, {
      replica: (stat) => deps.replicaStat?.(stat),
      router: (stats) => deps.routerStats(stats),
    });
    if (status) return statusResponse(c.req.raw, status);
    return c.body(null, 204);
  });
}
