import { randomUUID } from 'node:crypto';
import {
  canonicalJson,
  conflict,
  failure,
  invalidStatus,
  metadataTypeProblem,
  notFound,
  type Service,
  ServiceStatusSchema,
  servingGroup,
  verifyNameChange,
} from '@skiff/shared';
import type { Hono } from 'hono';
import type { ServiceRow } from '../../store/schema.ts';
import { StoreConflict } from '../../store/store.ts';
import { admitService, serviceWrite, staleConflict } from '../admission.ts';
import { patchType, readBody, respond, statusResponse } from '../body.ts';
import { type ApiDeps, groupPath, isWatch, namespacedPath, type Watch } from '../deps.ts';
import { listResponse, mapSource, objectResponse } from '../list.ts';
import {
  afterApply,
  afterUpdate,
  applyConflicts,
  conflictMessage,
  type ManagedFieldsEntry,
  managerFromUserAgent,
  mergeApply,
  type Obj,
} from '../managed-fields.ts';
import { serviceObject } from '../objects.ts';
import { applyJsonPatch, mergePatch } from '../patch.ts';
import { readDeleteOptions, type WriteOptions, writeOptions } from '../write-options.ts';
import { resourceInfo } from './catalog.ts';
import { rollback } from './rollback.ts';
import { statusRoutes } from './status.ts';

const info = resourceInfo('services');

/** `services`: the resource users write; configurations, routes and revisions follow from it. */
export function serviceRoutes(app: Hono, deps: ApiDeps, watch: Watch): void {
  const { store } = deps;
  const list = (req: Request, namespace?: string) =>
    isWatch(req)
      ? watch(req, namespace)
      : listResponse(req, info, mapSource(store.services(namespace), serviceObject), store.resourceVersion());
  /** The request's write options, or the Response refusing them. */
  const options = (req: Request): WriteOptions | Response => {
    const o = writeOptions(new URL(req.url));
    return 'kind' in o ? statusResponse(req, o) : o;
  };

  app.get(`${groupPath}/services`, (c) => list(c.req.raw));
  app.get(`${namespacedPath}/services`, (c) => list(c.req.raw, c.req.param('ns')));
  app.post(`${namespacedPath}/services`, async (c) => {
    const opts = options(c.req.raw);
    if (opts instanceof Response) return opts;
    const body = await readBody(c.req.raw, 'object');
    if (!body.ok) return statusResponse(c.req.raw, body.status);
    return createService(c.req.raw, c.req.param('ns'), body.value, opts);
  });
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
    schema: ServiceStatusSchema,
    get: (ns, name) => {
      const row = store.getService(ns, name);
      return row && serviceObject(row);
    },
    write: (ns, name, status, expected, dryRun) => {
      const write = () => store.writeServiceStatus(ns, name, status, expected, 'user');
      const row = dryRun ? store.dryRun(write) : write();
      return row && serviceObject(row);
    },
  });
  app.put(`${namespacedPath}/services/:name`, async (c) => {
    const opts = options(c.req.raw);
    if (opts instanceof Response) return opts;
    const body = await readBody(c.req.raw, 'object');
    if (!body.ok) return statusResponse(c.req.raw, body.status);
    return updateService(c.req.raw, c.req.param('ns'), c.req.param('name'), body.value, opts);
  });
  app.patch(`${namespacedPath}/services/:name`, async (c) => {
    const { ns: namespace, name } = c.req.param();
    const opts = options(c.req.raw);
    if (opts instanceof Response) return opts;
    const type = patchType(c.req.raw);
    if (typeof type !== 'string') return statusResponse(c.req.raw, type);
    const body = await readBody(c.req.raw, 'patch');
    if (!body.ok) return statusResponse(c.req.raw, body.status);
    if (type === 'apply') return apply(c.req.raw, namespace, name, body.value, opts);
    const row = store.getService(namespace, name);
    if (!row) return statusResponse(c.req.raw, notFound('Service', name));
    // The patch applies to the object as stored (its resourceVersion included, so a patch that sets
    // another one is refused as stale); status is not the user's to patch here.
    const { status: _status, ...current } = serviceObject(row);
    if (type === 'json') {
      const patched = applyJsonPatch(current, body.value);
      if ('kind' in patched) return statusResponse(c.req.raw, patched);
      return updateService(c.req.raw, namespace, name, patched.value, opts);
    }
    return updateService(c.req.raw, namespace, name, mergePatch(current, body.value), opts);
  });
  app.delete(`${namespacedPath}/services/:name`, async (c) => {
    const { ns: namespace, name } = c.req.param();
    const opts = await readDeleteOptions(c.req.raw);
    if ('kind' in opts) return statusResponse(c.req.raw, opts);
    const row = store.getService(namespace, name);
    if (!row) return statusResponse(c.req.raw, notFound('Service', name));
    const failed = preconditionFailure(row, opts.preconditions);
    if (failed) return statusResponse(c.req.raw, conflict('Service', name, failed));
    if (!opts.dryRun) {
      if (!store.deleteService(namespace, name, 'user')) return statusResponse(c.req.raw, notFound('Service', name));
      deps.changed(namespace, name);
    }
    return respond(c.req.raw, 200, {
      apiVersion: 'v1',
      kind: 'Status',
      metadata: {},
      status: 'Success',
      details: { name, group: servingGroup, kind: 'services', uid: row.uid },
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

  /** Who a write is by: `fieldManager`, else the User-Agent's product (as kube-apiserver names it). */
  const managerOf = (req: Request, opts: WriteOptions) =>
    opts.fieldManager ?? managerFromUserAgent(req.headers.get('user-agent'));
  const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

  function createService(
    req: Request,
    namespace: string,
    input: unknown,
    opts: WriteOptions,
    owners?: (svc: Service) => ManagedFieldsEntry[],
  ): Response {
    const svc = admitService(deps, req, namespace, input);
    if (svc instanceof Response) return svc;
    const managedFields =
      owners?.(svc) ?? afterUpdate([], undefined, svc as unknown as Obj, managerOf(req, opts), apiVersionOf, now());
    const name = svc.metadata.name as string;
    if (svc.metadata.resourceVersion) {
      return statusResponse(
        req,
        invalidStatus('Service', name, [
          { field: 'metadata.resourceVersion', reason: 'FieldValueInvalid', message: 'must not be set on create' },
        ]),
      );
    }
    const create = () =>
      store.createService(namespace, name, randomUUID(), { ...serviceWrite(svc), managedFields }, 'user');
    const row = opts.dryRun ? store.dryRun(create) : create();
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
    if (opts.dryRun) return respond(req, 201, dryRunObject(row, undefined));
    deps.changed(namespace, name);
    return respond(req, 201, serviceObject(row));
  }

  /**
   * `owners` decides the managedFields of the write (or refuses it); by default the writer owns
   * what it set or changed.
   */
  function updateService(
    req: Request,
    namespace: string,
    name: string,
    input: unknown,
    opts: WriteOptions,
    owners?: (current: ServiceRow, svc: Service) => ManagedFieldsEntry[] | Response,
  ): Response {
    const current = store.getService(namespace, name);
    if (!current) return statusResponse(req, notFound('Service', name));
    const svc = admitService(deps, req, namespace, input, name);
    if (svc instanceof Response) return svc;
    const managedFields =
      owners?.(current, svc) ??
      afterUpdate(
        current.managedFields,
        serviceObject(current) as unknown as Obj,
        svc as unknown as Obj,
        managerOf(req, opts),
        apiVersionOf,
        now(),
      );
    if (managedFields instanceof Response) return managedFields;
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
      const update = () =>
        store.updateService(
          namespace,
          name,
          { ...serviceWrite(svc), managedFields },
          expected,
          'user',
          trafficOnly ? 'traffic' : 'update',
        );
      const row = opts.dryRun ? store.dryRun(update) : update();
      if (!row) return statusResponse(req, notFound('Service', name));
      if (opts.dryRun) return respond(req, 200, dryRunObject(row, current));
      deps.changed(namespace, name);
      return respond(req, 200, serviceObject(row));
    } catch (e) {
      if (e instanceof StoreConflict) return statusResponse(req, staleConflict(name));
      throw e;
    }
  }

  /**
   * Server-side apply (`application/apply-patch+yaml`): creates the Service or merges the
   * configuration into it, owning its fields; a change to a field another manager owns is a 409
   * naming them unless `force=true` (`./managed-fields.ts`).
   */
  function apply(req: Request, namespace: string, name: string, config: unknown, opts: WriteOptions): Response {
    if (!opts.fieldManager) {
      return statusResponse(
        req,
        failure(
          'BadRequest',
          'PATCH requests with apply patch type must have a fieldManager (the fieldManager query parameter)',
        ),
      );
    }
    const manager = opts.fieldManager;
    if (config === null || typeof config !== 'object' || Array.isArray(config)) {
      return statusResponse(req, failure('BadRequest', 'an apply configuration must be an object'));
    }
    const cfg = config as Obj;
    const causes = [];
    if (cfg.apiVersion === undefined || cfg.apiVersion === '') {
      causes.push({ field: 'apiVersion', reason: 'FieldValueRequired' as const, message: 'Required value' });
    }
    if (cfg.kind === undefined || cfg.kind === '') {
      causes.push({ field: 'kind', reason: 'FieldValueRequired' as const, message: 'Required value' });
    }
    if (causes.length > 0) return statusResponse(req, invalidStatus('Service', name, causes));
    // Before merging, which would drop (or spread into keys) a metadata that is not an object.
    const metaProblem = metadataTypeProblem('Service', cfg);
    if (metaProblem) return statusResponse(req, metaProblem);
    const row = store.getService(namespace, name);
    if (!row) {
      return createService(req, namespace, withName(cfg, name), opts, (svc) =>
        afterApply([], cfg, {}, svc as unknown as Obj, manager, apiVersionOf, now()),
      );
    }
    const { status: _status, ...live } = serviceObject(row) as unknown as Obj;
    const merged = mergeApply(live, cfg, row.managedFields, manager);
    // Only a resourceVersion the configuration names is a precondition.
    const meta = merged.metadata as Obj;
    const wanted = (cfg.metadata as Obj | undefined)?.resourceVersion;
    if (wanted === undefined) delete meta.resourceVersion;
    else meta.resourceVersion = wanted;
    delete meta.managedFields;
    return updateService(req, namespace, name, merged, opts, (current, svc) => {
      const before = serviceObject(current) as unknown as Obj;
      const next = svc as unknown as Obj;
      const conflicts = applyConflicts(before, next, cfg, current.managedFields, manager);
      if (conflicts.length > 0 && !opts.force) {
        const status = failure('Conflict', conflictMessage(conflicts));
        status.details = {
          name,
          group: servingGroup,
          kind: 'services',
          causes: conflicts.map((c) => ({
            reason: 'FieldManagerConflict',
            message: `conflict with ${JSON.stringify(c.manager)}`,
            field: c.field,
          })),
        };
        return statusResponse(req, status);
      }
      return afterApply(current.managedFields, cfg, before, next, manager, apiVersionOf, now());
    });
  }
}

const apiVersionOf = `${servingGroup}/v1`;

function withName(cfg: Obj, name: string): Obj {
  const meta = (cfg.metadata ?? {}) as Obj;
  return { ...cfg, metadata: { ...meta, name } };
}

/**
 * What a dry run answers: the object as it would be stored, with the resourceVersion it has now
 * (none for a create), since nothing was written.
 */
function dryRunObject(row: ServiceRow, current: ServiceRow | undefined): Service {
  const obj = serviceObject({ ...row, resourceVersion: current?.resourceVersion ?? 0 });
  if (!current) delete obj.metadata.resourceVersion;
  return obj;
}

/** Why a DELETE's preconditions fail, if they do. */
function preconditionFailure(row: ServiceRow, pre: { uid?: string; resourceVersion?: string }): string | undefined {
  if (pre.uid !== undefined && pre.uid !== row.uid) {
    return `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${row.uid}`;
  }
  if (pre.resourceVersion !== undefined && pre.resourceVersion !== String(row.resourceVersion)) {
    return `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${row.resourceVersion}`;
  }
  return undefined;
}
