import {
  apiVersion,
  type Configuration,
  ConfigurationStatusSchema,
  invalidStatus,
  notFound,
  type Route,
  RouteStatusSchema,
  verifyNameChange,
} from '@skiff/shared';
import type { Hono } from 'hono';
import type { RouteRow, ServiceRow } from '../../store/schema.ts';
import { admit } from '../admission.ts';
import { statusResponse } from '../body.ts';
import { type ApiDeps, groupPath, isWatch, namespacedPath, type Watch } from '../deps.ts';
import { listResponse, objectResponse } from '../list.ts';
import { configurationObject, routeObject, standaloneRouteObject } from '../objects.ts';
import { type KubeObject, resourceInfo } from './catalog.ts';
import { ownedWrite } from './owned.ts';
import { statusRoutes } from './status.ts';
import { type Writable, writeRoutes } from './writes.ts';

/**
 * `configurations` and `routes`: each Service's own (views of it, owned by it) and those a user
 * creates directly (Knative lets them: a Configuration stamps revisions as a Service's does; a
 * Route splits traffic among named revisions and configurations' latest ones, with tags).
 */
export function configurationAndRouteRoutes(
  app: Hono,
  deps: ApiDeps,
  watches: Record<'configurations' | 'routes', Watch>,
): void {
  const { store } = deps;
  const byName = (a: KubeObject, b: KubeObject) =>
    (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') ||
    (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');

  // Configurations: rows of `services`, a Service's as a view.
  const cfgInfo = resourceInfo('configurations');
  const configuration = (ns: string, name: string) => {
    const row = store.getService(ns, name, 'any');
    return row && configurationObject(row);
  };
  const listConfigurations = (req: Request, namespace?: string) =>
    isWatch(req)
      ? watches.configurations(req, namespace)
      : listResponse(
          req,
          cfgInfo,
          store.listServices(namespace, 'any').map(configurationObject),
          store.resourceVersion(),
        );
  app.get(`${groupPath}/configurations`, (c) => listConfigurations(c.req.raw));
  app.get(`${namespacedPath}/configurations`, (c) => listConfigurations(c.req.raw, c.req.param('ns')));
  for (const path of [`${namespacedPath}/configurations/:name`, `${namespacedPath}/configurations/:name/status`]) {
    app.get(path, (c) => {
      const { ns, name } = c.req.param() as { ns: string; name: string };
      const obj = configuration(ns, name);
      return obj
        ? objectResponse(c.req.raw, cfgInfo, 200, obj)
        : statusResponse(c.req.raw, notFound('Configuration', name));
    });
  }
  const configurations: Writable<ServiceRow, Configuration> = {
    kind: 'Configuration',
    resource: 'configurations',
    admit: (req, namespace, input, urlName) => admit(deps, req, 'Configuration', namespace, input, urlName),
    get: (ns, name) => store.getService(ns, name, 'Configuration'),
    render: configurationObject,
    create: (ns, name, uid, cfg, managedFields) =>
      store.createService(ns, name, uid, cfgWrite(cfg, managedFields), 'user', 'Configuration'),
    update: (ns, name, _current, cfg, managedFields, expected) =>
      store.updateService(ns, name, cfgWrite(cfg, managedFields), expected, 'user', 'update'),
    check: (req, current, cfg) => {
      const byo = verifyNameChange(current.spec.template, cfg.spec.template);
      return byo ? statusResponse(req, invalidStatus('Configuration', cfg.metadata.name, [byo])) : undefined;
    },
    remove: (ns, name) => store.deleteService(ns, name, 'user'),
    changed: deps.changed,
    taken: (ns, name) =>
      store.getService(ns, name) ? `Service "${name}" owns the Configuration of its name` : undefined,
  };
  const ownedConfiguration = (req: Request, ns: string, name: string, method: 'PUT' | 'PATCH' | 'DELETE') => {
    const svc = store.getService(ns, name);
    return svc ? ownedWrite(req, 'configurations', name, method, configurationObject(svc)) : undefined;
  };
  writeRoutes(app, `${namespacedPath}/configurations`, store, configurations, ownedConfiguration);
  statusRoutes(app, `${namespacedPath}/configurations`, {
    kind: 'Configuration',
    resource: 'configurations',
    apiVersion,
    schema: ConfigurationStatusSchema,
    get: configuration,
    write: (ns, name, status, expected, dryRun, managedFields) => {
      const svc = store.getService(ns, name);
      if (svc) return configurationObject(svc);
      if (!store.getService(ns, name, 'Configuration')) return undefined;
      const write = () => store.writeServiceStatus(ns, name, status, expected, 'user', managedFields);
      const row = dryRun ? store.dryRun(write) : write();
      return row && configurationObject(row);
    },
  });

  // Routes: a Service's as a view, and rows of `routes`.
  const rtInfo = resourceInfo('routes');
  const route = (ns: string, name: string): KubeObject | undefined => {
    const svc = store.getService(ns, name);
    if (svc) return routeObject(svc);
    const row = store.getRoute(ns, name);
    return row && standaloneRouteObject(row);
  };
  const listRoutes = (req: Request, namespace?: string) =>
    isWatch(req)
      ? watches.routes(req, namespace)
      : listResponse(
          req,
          rtInfo,
          [
            ...store.listServices(namespace).map(routeObject),
            ...store.listRoutes(namespace).map(standaloneRouteObject),
          ].sort(byName),
          store.resourceVersion(),
        );
  app.get(`${groupPath}/routes`, (c) => listRoutes(c.req.raw));
  app.get(`${namespacedPath}/routes`, (c) => listRoutes(c.req.raw, c.req.param('ns')));
  for (const path of [`${namespacedPath}/routes/:name`, `${namespacedPath}/routes/:name/status`]) {
    app.get(path, (c) => {
      const { ns, name } = c.req.param() as { ns: string; name: string };
      const obj = route(ns, name);
      return obj ? objectResponse(c.req.raw, rtInfo, 200, obj) : statusResponse(c.req.raw, notFound('Route', name));
    });
  }
  const routes: Writable<RouteRow, Route> = {
    kind: 'Route',
    resource: 'routes',
    admit: (req, namespace, input, urlName) => admit(deps, req, 'Route', namespace, input, urlName),
    get: (ns, name) => store.getRoute(ns, name),
    render: standaloneRouteObject,
    create: (ns, name, uid, rt, managedFields) =>
      store.createRoute(ns, name, uid, routeWrite(rt, managedFields), 'user'),
    update: (ns, name, _current, rt, managedFields, expected) =>
      store.updateRoute(ns, name, routeWrite(rt, managedFields), expected, 'user'),
    remove: (ns, name) => store.deleteRoute(ns, name, 'user'),
    changed: (ns, name) => deps.routeChanged?.(ns, name),
    taken: (ns, name) => (store.getService(ns, name) ? `Service "${name}" owns the Route of its name` : undefined),
  };
  const ownedRoute = (req: Request, ns: string, name: string, method: 'PUT' | 'PATCH' | 'DELETE') => {
    const svc = store.getService(ns, name);
    return svc ? ownedWrite(req, 'routes', name, method, routeObject(svc)) : undefined;
  };
  writeRoutes(app, `${namespacedPath}/routes`, store, routes, ownedRoute);
  statusRoutes(app, `${namespacedPath}/routes`, {
    kind: 'Route',
    resource: 'routes',
    apiVersion,
    schema: RouteStatusSchema,
    get: route,
    write: (ns, name, status, expected, dryRun, managedFields) => {
      const svc = store.getService(ns, name);
      if (svc) return routeObject(svc);
      const write = () => store.writeRouteStatus(ns, name, status, expected, managedFields);
      const row = dryRun ? store.dryRun(write) : write();
      return row && standaloneRouteObject(row);
    },
  });
}

function cfgWrite(cfg: Configuration, managedFields: ServiceRow['managedFields']) {
  return {
    labels: cfg.metadata.labels ?? {},
    annotations: cfg.metadata.annotations ?? {},
    spec: { template: cfg.spec.template },
    managedFields,
  };
}

function routeWrite(rt: Route, managedFields: RouteRow['managedFields']) {
  return {
    labels: rt.metadata.labels ?? {},
    annotations: rt.metadata.annotations ?? {},
    spec: { traffic: rt.spec.traffic ?? [] },
    managedFields,
  };
}
