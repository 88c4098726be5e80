import {
  apiVersion,
  invalidStatus,
  jsonEqual,
  notFound,
  type Service,
  ServiceStatusSchema,
  verifyNameChange,
} from '@skiff/shared';
import type { Hono } from 'hono';
import type { ServiceRow } from '../../store/schema.ts';
import { admitService, serviceWrite } from '../admission.ts';
import { readBody, statusResponse } from '../body.ts';
import { type ApiDeps, groupPath, isWatch, namespacedPath, type Watch } from '../deps.ts';
import { listResponse, mapSource, objectResponse } from '../list.ts';
import { serviceObject } from '../objects.ts';
import { resourceInfo } from './catalog.ts';
import { rollback } from './rollback.ts';
import { statusRoutes } from './status.ts';
import { type Writable, writeRoutes } from './writes.ts';

const info = resourceInfo('services');

/** `services`: the resource users write most; each owns the Configuration and Route of its name. */
export function serviceRoutes(app: Hono, deps: ApiDeps, watch: Watch): void {
  const { store } = deps;
  const list = (req: Request, namespace?: string) =>
    isWatch(req)
      ? watch(req, namespace)
      : listResponse(req, info, mapSource(store.services(namespace), serviceObject), store.resourceVersion());

  app.get(`${groupPath}/services`, (c) => list(c.req.raw));
  app.get(`${namespacedPath}/services`, (c) => list(c.req.raw, c.req.param('ns')));
  // The object and its `status` subresource read the same (kube-apiserver answers the whole object).
  for (const path of [`${namespacedPath}/services/:name`, `${namespacedPath}/services/:name/status`]) {
    app.get(path, (c) => {
      const { ns, name } = c.req.param() as { ns: string; name: string };
      const row = store.getService(ns, name);
      return row
        ? objectResponse(c.req.raw, info, 200, serviceObject(row))
        : statusResponse(c.req.raw, notFound('Service', name));
    });
  }
  statusRoutes(app, `${namespacedPath}/services`, {
    kind: 'Service',
    resource: 'services',
    apiVersion,
    schema: ServiceStatusSchema,
    get: (ns, name) => {
      const row = store.getService(ns, name);
      return row && serviceObject(row);
    },
    write: (ns, name, status, expected, dryRun, managedFields) => {
      const write = () => store.writeServiceStatus(ns, name, status, expected, 'user', managedFields);
      const row = dryRun ? store.dryRun(write) : write();
      return row && serviceObject(row);
    },
  });
  const services: Writable<ServiceRow, Service> = {
    kind: 'Service',
    resource: 'services',
    admit: (req, namespace, input, urlName) => admitService(deps, req, namespace, input, urlName),
    get: (ns, name) => store.getService(ns, name),
    render: serviceObject,
    create: (ns, name, uid, svc, managedFields) =>
      store.createService(ns, name, uid, { ...serviceWrite(svc), managedFields }, 'user'),
    update: (ns, name, current, svc, managedFields, expected) => {
      const trafficOnly =
        jsonEqual(current.spec.template, svc.spec.template) && !jsonEqual(current.spec.traffic, svc.spec.traffic);
      return store.updateService(
        ns,
        name,
        { ...serviceWrite(svc), managedFields },
        expected,
        'user',
        trafficOnly ? 'traffic' : 'update',
      );
    },
    check: (req, current, svc) => {
      const byo = verifyNameChange(current.spec.template, svc.spec.template);
      return byo ? statusResponse(req, invalidStatus('Service', svc.metadata.name, [byo])) : undefined;
    },
    remove: (ns, name) => store.deleteService(ns, name, 'user'),
    changed: deps.changed,
    taken: (ns, name) => {
      if (store.getService(ns, name, 'Configuration')) {
        return `a Configuration created directly has the name (a Service owns the Configuration of its name)`;
      }
      if (store.getRoute(ns, name))
        return `a Route created directly has the name (a Service owns the Route of its name)`;
      return undefined;
    },
  };
  writeRoutes(app, `${namespacedPath}/services`, store, services);
  app.post(`${namespacedPath}/services/:name/rollback`, async (c) => {
    const { ns: namespace, name } = c.req.param();
    let wanted: string | undefined;
    if ((c.req.header('content-length') ?? '0') !== '0' || c.req.header('transfer-encoding')) {
      const body = await readBody(c.req.raw, 'object');
      if (!body.ok) return statusResponse(c.req.raw, body.status);
      const v = (body.value as { revisionName?: unknown } | null)?.revisionName;
      if (v !== undefined && typeof v !== 'string') {
        return statusResponse(
          c.req.raw,
          invalidStatus('Service', name, [
            { field: 'revisionName', reason: 'FieldValueTypeInvalid', message: 'must be a string' },
          ]),
        );
      }
      wanted = v;
    }
    return rollback(deps, c.req.raw, namespace, name, wanted);
  });
}
