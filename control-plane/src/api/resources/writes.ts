import { randomUUID } from 'node:crypto';
import {
  conflict,
  failure,
  invalidStatus,
  metadataTypeProblem,
  notFound,
  type Status,
  servingGroup,
} from '@skiff/shared';
import type { Hono } from 'hono';
import { StoreConflict } from '../../store/store.ts';
import { staleConflict } from '../admission.ts';
import { patchType, readBody, respond, statusResponse } from '../body.ts';
import {
  afterApply,
  afterUpdate,
  applyConflicts,
  bySubresource,
  type Conflict,
  conflictMessage,
  type ManagedFieldsEntry,
  managerFromUserAgent,
  mergeApply,
  type Obj,
} from '../managed-fields.ts';
import { applyJsonPatch, mergePatch } from '../patch.ts';
import { readDeleteOptions, type WriteOptions, writeOptions } from '../write-options.ts';
import type { KubeObject } from './catalog.ts';

/** A stored object as the generic write path sees it. */
export interface StoredRow {
  uid: string;
  resourceVersion: number;
  managedFields: ManagedFieldsEntry[];
}

/** What an admitted (validated, defaulted) object has that the write path reads. */
export interface AdmittedObject {
  metadata: { name?: string | undefined; resourceVersion?: string | undefined };
}

/**
 * One writable resource (Service, or a Configuration or Route created directly): how its objects
 * are admitted, read, rendered and stored. The write path (create, replace, merge/JSON patch,
 * server-side apply, delete; dryRun, managedFields, preconditions) is the same for each, as in
 * kube-apiserver.
 */
export interface Writable<Row extends StoredRow, A extends AdmittedObject> {
  kind: 'Service' | 'Configuration' | 'Route' | 'DomainMapping';
  /** The plural, as in the path and in Status details. */
  resource: string;
  /** Its group and version, as managedFields entries name them (default `serving.knative.dev/v1`). */
  apiVersion?: string;
  admit(req: Request, namespace: string, input: unknown, urlName?: string): A | Response;
  get(namespace: string, name: string): Row | undefined;
  render(row: Row): KubeObject;
  /** Stores a new object; `undefined` when the name is taken. */
  create(namespace: string, name: string, uid: string, obj: A, managedFields: ManagedFieldsEntry[]): Row | undefined;
  /** Stores a replacement; throws `StoreConflict` unless the row is still at `expected`. */
  update(
    namespace: string,
    name: string,
    current: Row,
    obj: A,
    managedFields: ManagedFieldsEntry[],
    expected: number | undefined,
  ): Row | undefined;
  /** A refusal particular to the kind (a changed template keeping its revision name). */
  check?(req: Request, current: Row, obj: A): Response | undefined;
  remove(namespace: string, name: string): boolean;
  /** After a stored write: reconcile it. */
  changed(namespace: string, name: string): void;
  /** Why the name is taken, when a create finds it taken (default: it already exists). */
  taken?(namespace: string, name: string): string | undefined;
}

const servingVersion = `${servingGroup}/v1`;
export const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/** Who a write is by: `fieldManager`, else the User-Agent's product (as kube-apiserver names it). */
export const managerOf = (req: Request, opts: WriteOptions) =>
  opts.fieldManager ?? managerFromUserAgent(req.headers.get('user-agent'));

/** The request's write options, or the Response refusing them. */
function options(req: Request): WriteOptions | Response {
  const o = writeOptions(new URL(req.url));
  return 'kind' in o ? statusResponse(req, o) : o;
}

/** The write operations of one resource, for its routes and for callers that write on a user's behalf. */
export function writes<Row extends StoredRow, A extends AdmittedObject>(
  w: Writable<Row, A>,
  store: { dryRun<T>(fn: () => T): T },
) {
  const apiVersionOf = w.apiVersion ?? servingVersion;
  /**
   * What a dry run answers: the object as it would be stored, with the resourceVersion it has now
   * (none for a create), since nothing was written.
   */
  const dryRunObject = (row: Row, current: Row | undefined): KubeObject => {
    const obj = w.render({ ...row, resourceVersion: current?.resourceVersion ?? 0 });
    if (!current) delete obj.metadata.resourceVersion;
    return obj;
  };

  function create(
    req: Request,
    namespace: string,
    input: unknown,
    opts: WriteOptions,
    owners?: (obj: A) => ManagedFieldsEntry[],
  ): Response {
    const obj = w.admit(req, namespace, input);
    if (obj instanceof Response) return obj;
    const name = obj.metadata.name as string;
    if (obj.metadata.resourceVersion) {
      return statusResponse(
        req,
        invalidStatus(w.kind, name, [
          { field: 'metadata.resourceVersion', reason: 'FieldValueInvalid', message: 'must not be set on create' },
        ]),
      );
    }
    const managedFields =
      owners?.(obj) ?? afterUpdate([], undefined, obj as unknown as Obj, managerOf(req, opts), apiVersionOf, now());
    const write = () => w.create(namespace, name, randomUUID(), obj, managedFields);
    const row = opts.dryRun ? store.dryRun(write) : write();
    if (!row) {
      const why = w.taken?.(namespace, name);
      return statusResponse(
        req,
        failure(
          'AlreadyExists',
          `${w.resource}.${servingGroup} ${JSON.stringify(name)} already exists${why ? `: ${why}` : ''}`,
          { name, group: servingGroup, kind: w.resource },
        ),
      );
    }
    if (opts.dryRun) return respond(req, 201, dryRunObject(row, undefined));
    w.changed(namespace, name);
    return respond(req, 201, w.render(row));
  }

  /**
   * `owners` decides the managedFields of the write (or refuses it); by default the writer owns
   * what it set or changed.
   */
  function update(
    req: Request,
    namespace: string,
    name: string,
    input: unknown,
    opts: WriteOptions,
    owners?: (current: Row, obj: A) => ManagedFieldsEntry[] | Response,
  ): Response {
    const current = w.get(namespace, name);
    if (!current) return statusResponse(req, notFound(w.kind, name));
    const obj = w.admit(req, namespace, input, name);
    if (obj instanceof Response) return obj;
    const { main, status: statusEntries } = bySubresource(current.managedFields);
    const managedFields =
      owners?.(current, obj) ??
      afterUpdate(
        main,
        w.render(current) as unknown as Obj,
        obj as unknown as Obj,
        managerOf(req, opts),
        apiVersionOf,
        now(),
      );
    if (managedFields instanceof Response) return managedFields;
    managedFields.push(...statusEntries);
    const refused = w.check?.(req, current, obj);
    if (refused) return refused;
    let expected: number | undefined;
    const rv = obj.metadata.resourceVersion;
    if (rv !== undefined && rv !== '') {
      expected = Number(rv);
      if (!Number.isInteger(expected)) return statusResponse(req, staleConflict(name, w.kind));
    }
    try {
      const write = () => w.update(namespace, name, current, obj, managedFields, expected);
      const row = opts.dryRun ? store.dryRun(write) : write();
      if (!row) return statusResponse(req, notFound(w.kind, name));
      if (opts.dryRun) return respond(req, 200, dryRunObject(row, current));
      w.changed(namespace, name);
      return respond(req, 200, w.render(row));
    } catch (e) {
      if (e instanceof StoreConflict) return statusResponse(req, staleConflict(name, w.kind));
      throw e;
    }
  }

  /**
   * Server-side apply (`application/apply-patch+yaml`): creates the object or merges the
   * configuration into it, owning its fields; a change to a field another manager owns is a 409
   * naming them unless `force=true` (`../managed-fields.ts`).
   */
  function apply(req: Request, namespace: string, name: string, config: unknown, opts: WriteOptions): Response {
    const problem = applyConfigProblem(w.kind, name, config, opts);
    if (problem) return statusResponse(req, problem);
    const manager = opts.fieldManager as string;
    const cfg = config as Obj;
    const row = w.get(namespace, name);
    if (!row) {
      return create(req, namespace, withName(cfg, name), opts, (obj) =>
        afterApply([], cfg, {}, obj as unknown as Obj, manager, apiVersionOf, now()),
      );
    }
    const { status: _status, ...live } = w.render(row) as unknown as Obj;
    const merged = mergeApply(live, cfg, bySubresource(row.managedFields).main, manager);
    // Only a resourceVersion the configuration names is a precondition.
    const meta = merged.metadata as Obj;
    const wanted = (cfg.metadata as Obj | undefined)?.resourceVersion;
    if (wanted === undefined) delete meta.resourceVersion;
    else meta.resourceVersion = wanted;
    delete meta.managedFields;
    return update(req, namespace, name, merged, opts, (current, obj) => {
      const before = w.render(current) as unknown as Obj;
      const next = obj as unknown as Obj;
      const { main } = bySubresource(current.managedFields);
      const conflicts = applyConflicts(before, next, cfg, main, manager);
      if (conflicts.length > 0 && !opts.force)
        return statusResponse(req, applyConflictStatus(w.resource, name, conflicts));
      return afterApply(main, cfg, before, next, manager, apiVersionOf, now());
    });
  }

  /** PATCH: merge or JSON patch on the object as stored, or server-side apply. */
  async function patch(req: Request, namespace: string, name: string): Promise<Response> {
    const opts = options(req);
    if (opts instanceof Response) return opts;
    const type = patchType(req);
    if (typeof type !== 'string') return statusResponse(req, type);
    const body = await readBody(req, 'patch');
    if (!body.ok) return statusResponse(req, body.status);
    if (type === 'apply') return apply(req, namespace, name, body.value, opts);
    const row = w.get(namespace, name);
    if (!row) return statusResponse(req, notFound(w.kind, name));
    // The patch applies to the object as stored (its resourceVersion included, so a patch that sets
    // another one is refused as stale); status is not the user's to patch here.
    const { status: _status, ...current } = w.render(row);
    if (type === 'json') {
      const patched = applyJsonPatch(current, body.value);
      if ('kind' in patched) return statusResponse(req, patched);
      return update(req, namespace, name, patched.value, opts);
    }
    return update(req, namespace, name, mergePatch(current, body.value), opts);
  }

  async function remove(req: Request, namespace: string, name: string): Promise<Response> {
    const opts = await readDeleteOptions(req);
    if ('kind' in opts) return statusResponse(req, opts);
    const row = w.get(namespace, name);
    if (!row) return statusResponse(req, notFound(w.kind, name));
    const failed = preconditionFailure(row, opts.preconditions);
    if (failed) return statusResponse(req, conflict(w.kind, name, failed));
    if (!opts.dryRun) {
      if (!w.remove(namespace, name)) return statusResponse(req, notFound(w.kind, name));
      w.changed(namespace, name);
    }
    return respond(req, 200, {
      apiVersion: 'v1',
      kind: 'Status',
      metadata: {},
      status: 'Success',
      details: { name, group: servingGroup, kind: w.resource, uid: row.uid },
    });
  }

  return {
    create,
    update,
    apply,
    patch,
    remove,
  };
}

/**
 * POST on `collection`, and PUT, PATCH (merge, JSON, apply) and DELETE on `collection/:name`.
 * `item` may answer first for an object (one a Service owns); `undefined` lets the write go on.
 */
export function writeRoutes<Row extends StoredRow, A extends AdmittedObject>(
  app: Hono,
  collection: string,
  store: { dryRun<T>(fn: () => T): T },
  w: Writable<Row, A>,
  item?: (req: Request, namespace: string, name: string, method: 'PUT' | 'PATCH' | 'DELETE') => Response | undefined,
) {
  const ops = writes(w, store);
  app.post(collection, async (c) => {
    const opts = options(c.req.raw);
    if (opts instanceof Response) return opts;
    const body = await readBody(c.req.raw, 'object');
    if (!body.ok) return statusResponse(c.req.raw, body.status);
    return ops.create(c.req.raw, c.req.param('ns') as string, body.value, opts);
  });
  app.put(`${collection}/:name`, async (c) => {
    const { ns, name } = c.req.param() as { ns: string; name: string };
    const early = item?.(c.req.raw, ns, name, 'PUT');
    if (early) return early;
    const opts = options(c.req.raw);
    if (opts instanceof Response) return opts;
    const body = await readBody(c.req.raw, 'object');
    if (!body.ok) return statusResponse(c.req.raw, body.status);
    return ops.update(c.req.raw, ns, name, body.value, opts);
  });
  app.patch(`${collection}/:name`, (c) => {
    const { ns, name } = c.req.param() as { ns: string; name: string };
    return item?.(c.req.raw, ns, name, 'PATCH') ?? ops.patch(c.req.raw, ns, name);
  });
  app.delete(`${collection}/:name`, (c) => {
    const { ns, name } = c.req.param() as { ns: string; name: string };
    return item?.(c.req.raw, ns, name, 'DELETE') ?? ops.remove(c.req.raw, ns, name);
  });
  return ops;
}

/** An apply's 409: which managers own which of the fields it would change (kube-apiserver's wording). */
export function applyConflictStatus(resource: string, name: string, conflicts: Conflict[]): Status {
  const status = failure('Conflict', conflictMessage(conflicts));
  status.details = {
    name,
    group: servingGroup,
    kind: resource,
    causes: conflicts.map((c) => ({
      reason: 'FieldManagerConflict',
      message: `conflict with ${JSON.stringify(c.manager)}`,
      field: c.field,
    })),
  };
  return status;
}

/** An apply configuration's own problems, before anything is merged: 400/422, or undefined. */
export function applyConfigProblem(
  kind: string,
  name: string,
  config: unknown,
  opts: WriteOptions,
): Status | undefined {
  if (!opts.fieldManager) {
    return failure(
      'BadRequest',
      'PATCH requests with apply patch type must have a fieldManager (the fieldManager query parameter)',
    );
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    return failure('BadRequest', 'an apply configuration must be an object');
  }
  const cfg = config as Obj;
  const causes = [];
  if (cfg.apiVersion === undefined || cfg.apiVersion === '') {
    causes.push({ field: 'apiVersion', reason: 'FieldValueRequired' as const, message: 'Required value' });
  }
  if (cfg.kind === undefined || cfg.kind === '') {
    causes.push({ field: 'kind', reason: 'FieldValueRequired' as const, message: 'Required value' });
  }
  if (causes.length > 0) return invalidStatus(kind, name, causes);
  // Before merging, which would drop (or spread into keys) a metadata that is not an object.
  return metadataTypeProblem(kind, cfg);
}

function withName(cfg: Obj, name: string): Obj {
  const meta = (cfg.metadata ?? {}) as Obj;
  return { ...cfg, metadata: { ...meta, name } };
}

/** Why a DELETE's preconditions fail, if they do. */
function preconditionFailure(row: StoredRow, pre: { uid?: string; resourceVersion?: string }): string | undefined {
  if (pre.uid !== undefined && pre.uid !== row.uid) {
    return `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${row.uid}`;
  }
  if (pre.resourceVersion !== undefined && pre.resourceVersion !== String(row.resourceVersion)) {
    return `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${row.resourceVersion}`;
  }
  return undefined;
}
