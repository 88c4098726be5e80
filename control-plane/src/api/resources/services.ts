import { randomUUID } from 'node:crypto';
import { canonicalJson, failure, invalidStatus, notFound, servingGroup, verifyNameChange } from '@skiff/shared';
import type { Hono } from 'hono';
import { StoreConflict } from '../../store/store.ts';
import { admitService, serviceWrite, staleConflict } from '../admission.ts';
import { readBody, respond, statusResponse } from '../body.ts';
import { type ApiDeps, groupPath, namespacedPath } from '../deps.ts';
import { listResponse } from '../list.ts';
import { mergePatch } from '../merge-patch.ts';
import { serviceObject } from '../objects.ts';
import { rollback } from './rollback.ts';

/** `services`: the resource users write; configurations, routes and revisions follow from it. */
export function serviceRoutes(app: Hono, deps: ApiDeps): void {
  const { store } = deps;
  const list = (req: Request, namespace?: string) =>
    listResponse(req, 'ServiceList', store.listServices(namespace).map(serviceObject), store.resourceVersion());

  app.get(`${groupPath}/services`, (c) => list(c.req.raw));
  app.get(`${namespacedPath}/services`, (c) => list(c.req.raw, c.req.param('ns')));
  app.post(`${namespacedPath}/services`, async (c) => {
    const body = await readBody(c.req.raw, 'object');
    if (!body.ok) return statusResponse(c.req.raw, body.status);
    return createService(c.req.raw, c.req.param('ns'), body.value);
  });
  app.get(`${namespacedPath}/services/:name`, (c) => {
    const row = store.getService(c.req.param('ns'), c.req.param('name'));
    return row
      ? respond(c.req.raw, 200, serviceObject(row))
      : statusResponse(c.req.raw, notFound('Service', c.req.param('name')));
  });
  app.put(`${namespacedPath}/services/:name`, async (c) => {
    const body = await readBody(c.req.raw, 'object');
    if (!body.ok) return statusResponse(c.req.raw, body.status);
    return updateService(c.req.raw, c.req.param('ns'), c.req.param('name'), body.value);
  });
  app.patch(`${namespacedPath}/services/:name`, async (c) => {
    const { ns: namespace, name } = c.req.param();
    const body = await readBody(c.req.raw, 'merge-patch');
    if (!body.ok) return statusResponse(c.req.raw, body.status);
    const row = store.getService(namespace, name);
    if (!row) return statusResponse(c.req.raw, notFound('Service', name));
    const { status: _status, ...current } = serviceObject(row);
    delete (current.metadata as { resourceVersion?: string }).resourceVersion;
    const patched = mergePatch(current, body.value);
    return updateService(c.req.raw, namespace, name, patched);
  });
  app.delete(`${namespacedPath}/services/:name`, (c) => {
    const { ns: namespace, name } = c.req.param();
    if (!store.deleteService(namespace, name, 'user')) return statusResponse(c.req.raw, notFound('Service', name));
    deps.changed(namespace, name);
    return respond(c.req.raw, 200, {
      apiVersion: 'v1',
      kind: 'Status',
      metadata: {},
      status: 'Success',
      details: { name, group: servingGroup, kind: 'services', uid: '' },
    });
  });
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

  function createService(req: Request, namespace: string, input: unknown): Response {
    const svc = admitService(deps, req, namespace, input);
    if (svc instanceof Response) return svc;
    const name = svc.metadata.name as string;
    if (svc.metadata.resourceVersion) {
      return statusResponse(
        req,
        invalidStatus('Service', name, [
          { field: 'metadata.resourceVersion', reason: 'FieldValueInvalid', message: 'must not be set on create' },
        ]),
      );
    }
    const row = store.createService(namespace, name, randomUUID(), serviceWrite(svc), 'user');
    if (!row) {
      return statusResponse(
        req,
        failure('AlreadyExists', `services.${servingGroup} ${JSON.stringify(name)} already exists`, {
          name,
          group: servingGroup,
          kind: 'services',
        }),
      );
    }
    deps.changed(namespace, name);
    return respond(req, 201, serviceObject(row));
  }

  function updateService(req: Request, namespace: string, name: string, input: unknown): Response {
    const current = store.getService(namespace, name);
    if (!current) return statusResponse(req, notFound('Service', name));
    const svc = admitService(deps, req, namespace, input, name);
    if (svc instanceof Response) return svc;
    const byo = verifyNameChange(current.spec.template, svc.spec.template);
    if (byo) return statusResponse(req, invalidStatus('Service', name, [byo]));
    let expected: number | undefined;
    const rv = svc.metadata.resourceVersion;
    if (rv !== undefined && rv !== '') {
      expected = Number(rv);
      if (!Number.isInteger(expected)) return statusResponse(req, staleConflict(name));
    }
    const trafficOnly =
      canonicalJson(current.spec.template) === canonicalJson(svc.spec.template) &&
      canonicalJson(current.spec.traffic) !== canonicalJson(svc.spec.traffic);
    try {
      const row = store.updateService(
        namespace,
        name,
        serviceWrite(svc),
        expected,
        'user',
        trafficOnly ? 'traffic' : 'update',
      );
      if (!row) return statusResponse(req, notFound('Service', name));
      deps.changed(namespace, name);
      return respond(req, 200, serviceObject(row));
    } catch (e) {
      if (e instanceof StoreConflict) return statusResponse(req, staleConflict(name));
      throw e;
    }
  }
}
