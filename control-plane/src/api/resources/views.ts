import { notFound } from '@skiff/shared';
import type { Hono } from 'hono';
import type { ServiceRow } from '../../store/schema.ts';
import { statusResponse } from '../body.ts';
import { type ApiDeps, groupPath, isWatch, namespacedPath, type Watch } from '../deps.ts';
import { listResponse, mapSource, objectResponse } from '../list.ts';
import { configurationObject, routeObject } from '../objects.ts';
import { resourceInfo } from './catalog.ts';

/** `configurations` and `routes`: views of each Service (its template; its traffic). */
export function viewRoutes(app: Hono, deps: ApiDeps, watches: Record<'configurations' | 'routes', Watch>): void {
  const { store } = deps;
  const views = [
    { resource: 'configurations', kind: 'Configuration', object: configurationObject },
    { resource: 'routes', kind: 'Route', object: routeObject },
  ] as const;
  for (const { resource, kind, object } of views) {
    const info = resourceInfo(resource);
    const list = (req: Request, namespace?: string) =>
      isWatch(req)
        ? watches[resource](req, namespace)
        : listResponse(
            req,
            info,
            mapSource(store.services(namespace), (row: ServiceRow) => object(row)),
            store.resourceVersion(),
          );
    app.get(`${groupPath}/${resource}`, (c) => list(c.req.raw));
    app.get(`${namespacedPath}/${resource}`, (c) => list(c.req.raw, c.req.param('ns')));
    for (const path of [`${namespacedPath}/${resource}/:name`, `${namespacedPath}/${resource}/:name/status`]) {
      app.get(path, (c) => {
        const { ns, name } = c.req.param() as { ns: string; name: string };
        const row = store.getService(ns, name);
        return row
          ? objectResponse(c.req.raw, info, 200, object(row))
          : statusResponse(c.req.raw, notFound(kind, name));
      });
    }
  }
}
