import { failure } from '@skiff/shared';
import { Hono } from 'hono';
import { bearer, tokenMatches } from './auth.ts';
import { statusResponse } from './body.ts';
import { type ApiDeps, namespacedPath } from './deps.ts';
import { discoveryRoutes } from './discovery.ts';
import { internalRoutes } from './internal.ts';
import { revisionRoutes } from './resources/revisions.ts';
import { rolloutRoutes } from './resources/rollout.ts';
import { serviceRoutes } from './resources/services.ts';
import { viewRoutes } from './resources/views.ts';

export type { ApiDeps } from './deps.ts';

/** The control plane's HTTP API: Knative's resource paths, Kubernetes' conventions. */
export function createApi(deps: ApiDeps): Hono {
  const { store } = deps;
  const app = new Hono();

  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    deps.metrics.request(c.req.method, c.req.routePath, c.res.status, performance.now() - started);
  });

  app.use('*', async (c, next) => {
    if (c.req.path === '/healthz') return next();
    const token = bearer(c.req.header('authorization'));
    const internal = c.req.path.startsWith('/internal/');
    if (!tokenMatches(token, internal ? deps.tokens.router : deps.tokens.user)) {
      return statusResponse(
        c.req.raw,
        failure(
          'Unauthorized',
          token === undefined
            ? 'Unauthorized: send Authorization: Bearer <token>'
            : `Unauthorized: the token is not valid for ${internal ? 'internal endpoints' : 'this API'}`,
        ),
      );
    }
    return next();
  });

  app.get('/healthz', (c) => c.text('ok\n'));
  app.get('/readyz', (c) => (deps.ready() ? c.text('ok\n') : c.text('not ready\n', 503)));
  app.get('/metrics', (c) =>
    c.body(deps.metrics.render(store, deps.extraMetrics?.()), 200, {
      'content-type': 'text/plain; version=0.0.4; charset=utf-8',
    }),
  );

  internalRoutes(app, deps);
  discoveryRoutes(app);
  serviceRoutes(app, deps);
  rolloutRoutes(app, deps);
  viewRoutes(app, deps);
  revisionRoutes(app, deps);

  // Known paths with a method they do not support.
  for (const path of [
    `${namespacedPath}/services`,
    `${namespacedPath}/services/:name`,
    `${namespacedPath}/revisions`,
    `${namespacedPath}/revisions/:name`,
    `${namespacedPath}/configurations/:name`,
    `${namespacedPath}/routes/:name`,
  ]) {
    app.all(path, (c) =>
      statusResponse(
        c.req.raw,
        failure('MethodNotAllowed', `the server does not allow ${c.req.method} on this resource`),
      ),
    );
  }

  app.notFound((c) =>
    statusResponse(c.req.raw, failure('NotFound', 'the server could not find the requested resource')),
  );
  app.onError((err, c) => {
    console.error(`control-plane: ${c.req.method} ${c.req.path}: ${err instanceof Error ? err.stack : String(err)}`);
    return statusResponse(c.req.raw, failure('InternalError', 'an internal error occurred; see the control plane log'));
  });

  return app;
}
