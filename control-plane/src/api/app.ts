import { failure } from '@skiff/shared';
import { Hono } from 'hono';
import { bearer, tokenMatches } from './auth.ts';
import { statusResponse } from './body.ts';
import { type ApiDeps, groupPath, namespacedPath, type Watch } from './deps.ts';
import { discoveryRoutes } from './discovery.ts';
import { internalRoutes } from './internal.ts';
import { openapiRoutes } from './openapi.ts';
import { configurationAndRouteRoutes } from './resources/configurations.ts';
import { domainMappingRoutes } from './resources/domain-mappings.ts';
import { revisionRoutes } from './resources/revisions.ts';
import { rolloutRoutes } from './resources/rollout.ts';
import { serviceRoutes } from './resources/services.ts';
import { watchSources } from './resources/sources.ts';
import { WatchHub, type WatchSource, watchResponse } from './watch.ts';

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
    await next();
    // Group commit: an answer leaves only once what it wrote (or read) is on disk.
    try {
      await store.durable();
    } catch (e) {
      console.error(`control-plane: commit failed: ${e instanceof Error ? e.message : String(e)}`);
      c.res = statusResponse(c.req.raw, failure('InternalError', 'the write could not be stored; it was not made'));
    }
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
  openapiRoutes(app);
  const hub = new WatchHub(store);
  const sources = watchSources(store);
  const watchOf =
    (source: WatchSource): Watch =>
    (req, namespace) =>
      watchResponse(req, hub, source, namespace, { bookmarkIntervalMs: deps.watchBookmarkMs ?? 60_000 });
  serviceRoutes(app, deps, watchOf(sources.services));
  rolloutRoutes(app, deps);
  configurationAndRouteRoutes(app, deps, {
    configurations: watchOf(sources.configurations),
    routes: watchOf(sources.routes),
  });
  revisionRoutes(app, deps, watchOf(sources.revisions));
  domainMappingRoutes(app, deps, watchOf(sources.domainmappings));
  // The older `/watch/` paths: the same watches (one object: a name field selector).
  const watchPath = (req: Request, resource: string, namespace: string | undefined, name?: string) => {
    // DomainMappings are served at v1beta1 only.
    const source = resource === 'domainmappings' ? undefined : sources[resource as keyof typeof sources];
    if (!source) return statusResponse(req, failure('NotFound', 'the server could not find the requested resource'));
    if (name === undefined) return watchOf(source)(req, namespace);
    const url = new URL(req.url);
    const fields = url.searchParams.get('fieldSelector');
    url.searchParams.set('fieldSelector', `metadata.name=${name}${fields ? `,${fields}` : ''}`);
    return watchOf(source)(new Request(url, { headers: req.headers, signal: req.signal }), namespace);
  };
  app.get(`${groupPath}/watch/:resource`, (c) => watchPath(c.req.raw, c.req.param('resource'), undefined));
  app.get(`${groupPath}/watch/namespaces/:ns/:resource`, (c) =>
    watchPath(c.req.raw, c.req.param('resource'), c.req.param('ns')),
  );
  app.get(`${groupPath}/watch/namespaces/:ns/:resource/:name`, (c) =>
    watchPath(c.req.raw, c.req.param('resource'), c.req.param('ns'), c.req.param('name')),
  );

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
