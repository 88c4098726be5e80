import { conflict, failure, invalidStatus, notFound, type Status, zodCauses } from '@skiff/shared';
import type { Hono } from 'hono';
import type { z } from 'zod';
import { StoreConflict } from '../../store/store.ts';
import { patchType, readBody, respond, statusResponse } from '../body.ts';
import {
  afterApply,
  afterUpdate,
  applyConflicts,
  bySubresource,
  type ManagedFieldsEntry,
  mergeApply,
  type Obj,
  statusParts,
} from '../managed-fields.ts';
import { applyJsonPatch, mergePatch } from '../patch.ts';
import { type WriteOptions, writeOptions } from '../write-options.ts';
import type { KubeObject } from './catalog.ts';
import { applyConfigProblem, applyConflictStatus, managerOf, now } from './writes.ts';

/** One resource's `status` subresource: how to read the object and store a new status. */
export interface StatusTarget {
  kind: string;
  /** The plural, as in the path and in Status details. */
  resource: string;
  /** Its group and version, as managedFields entries name them. */
  apiVersion: string;
  /** The status schema from `shared/` (the same one OpenAPI publishes). */
  schema: z.ZodType;
  get(namespace: string, name: string): KubeObject | undefined;
  /**
   * Stores `status` as the object's, and `managedFields` (nothing else changes); throws
   * `StoreConflict` when `expected` is not the current resourceVersion. `dryRun`: checks and
   * answers, stores nothing.
   */
  write(
    namespace: string,
    name: string,
    status: Record<string, unknown>,
    expected: number | undefined,
    dryRun: boolean,
    managedFields: ManagedFieldsEntry[],
  ): KubeObject | undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * PUT and PATCH (merge, JSON) on `<path>/:name/status`, as kube-apiserver serves a CRD's status
 * subresource: only `status` is taken from the body (a changed spec or label is ignored), the
 * generation stays, `metadata.resourceVersion` when sent is a precondition (409 when stale).
 * The reconciler owns status and writes it again on its next pass, as Knative's controllers do.
 */
export function statusRoutes(app: Hono, path: string, target: StatusTarget): void {
  const stale = (name: string) =>
    conflict(
      target.kind,
      name,
      'the object has been modified; please apply your changes to the latest version and try again',
    );

  /**
   * Stores the status of `body` for a write by `opts`' manager. `owners` decides the managedFields
   * entries of the status subresource (or refuses the write); by default the writer owns what it
   * set or changed (operation `Update`), as kube-apiserver records a status write.
   */
  function store(
    req: Request,
    namespace: string,
    name: string,
    body: unknown,
    opts: WriteOptions,
    owners?: (current: KubeObject, status: Record<string, unknown>) => ManagedFieldsEntry[] | Response,
  ): Response {
    if (!isObject(body)) return statusResponse(req, failure('BadRequest', `the body must be a ${target.kind} object`));
    const meta = isObject(body.metadata) ? body.metadata : {};
    if (meta.name !== undefined && meta.name !== name) {
      return statusResponse(
        req,
        failure(
          'BadRequest',
          `the name of the object (${String(meta.name)}) does not match the name on the URL (${name})`,
        ),
      );
    }
    const status = body.status ?? {};
    const checked = target.schema.safeParse(status, { reportInput: true });
    if (!checked.success) {
      const causes = zodCauses(checked.error).map((c) => ({ ...c, field: c.field ? `status.${c.field}` : 'status' }));
      return statusResponse(req, invalidStatus(target.kind, name, causes));
    }
    let expected: number | undefined;
    const rv = meta.resourceVersion;
    if (rv !== undefined && rv !== '') {
      expected = Number(rv);
      if (!Number.isInteger(expected)) return statusResponse(req, stale(name));
    }
    const current = target.get(namespace, name);
    if (!current) return statusResponse(req, notFound(target.kind, name));
    const next = checked.data as Record<string, unknown>;
    const { main, status: entries } = bySubresource((current.metadata.managedFields ?? []) as ManagedFieldsEntry[]);
    const owned =
      owners?.(current, next) ??
      afterUpdate(
        entries,
        { status: current.status ?? {} },
        { status: next },
        managerOf(req, opts),
        target.apiVersion,
        now(),
        statusParts,
      );
    if (owned instanceof Response) return owned;
    const managedFields = [...main, ...owned.map((e) => ({ ...e, subresource: 'status' }))];
    try {
      const written = target.write(namespace, name, next, expected, opts.dryRun, managedFields);
      return written ? respond(req, 200, written) : statusResponse(req, notFound(target.kind, name));
    } catch (e) {
      if (e instanceof StoreConflict) return statusResponse(req, stale(name));
      throw e;
    }
  }

  const options = (req: Request) => writeOptions(new URL(req.url));

  app.put(`${path}/:name/status`, async (c) => {
    const req = c.req.raw;
    const opts = options(req);
    if ('kind' in opts) return statusResponse(req, opts);
    const body = await readBody(req, 'object');
    if (!body.ok) return statusResponse(req, body.status);
    return store(req, c.req.param('ns') as string, c.req.param('name') as string, body.value, opts);
  });

  /**
   * Server-side apply to the status: the configuration's `status` fields merged into the status
   * as stored and owned by its manager (an entry with `subresource: status`); a change to a field
   * another manager of the status owns is a 409 naming them unless `force=true`.
   */
  function apply(req: Request, namespace: string, name: string, config: unknown, opts: WriteOptions): Response {
    const problem = applyConfigProblem(target.kind, name, config, opts);
    if (problem) return statusResponse(req, problem);
    const manager = opts.fieldManager as string;
    const cfg = config as Obj;
    const current = target.get(namespace, name);
    if (!current) return statusResponse(req, notFound(target.kind, name));
    const applied: Obj = cfg.status === undefined ? {} : { status: cfg.status };
    const entries = bySubresource((current.metadata.managedFields ?? []) as ManagedFieldsEntry[]).status;
    const live: Obj = { status: current.status ?? {} };
    const merged = mergeApply(live, applied, entries, manager, statusParts);
    const meta = isObject(cfg.metadata) ? cfg.metadata : {};
    const body = {
      metadata: { name, ...(meta.resourceVersion === undefined ? {} : { resourceVersion: meta.resourceVersion }) },
      status: merged.status ?? {},
    };
    return store(req, namespace, name, body, opts, (_current, status) => {
      const next: Obj = { status };
      const conflicts = applyConflicts(live, next, applied, entries, manager, statusParts);
      if (conflicts.length > 0 && !opts.force) {
        return statusResponse(req, applyConflictStatus(target.resource, name, conflicts));
      }
      return afterApply(entries, applied, live, next, manager, target.apiVersion, now(), statusParts);
    });
  }

  app.patch(`${path}/:name/status`, async (c) => {
    const req = c.req.raw;
    const namespace = c.req.param('ns') as string;
    const name = c.req.param('name') as string;
    const opts = options(req);
    if ('kind' in opts) return statusResponse(req, opts);
    const type = patchType(req);
    if (typeof type !== 'string') return statusResponse(req, type);
    const body = await readBody(req, 'patch');
    if (!body.ok) return statusResponse(req, body.status);
    if (type === 'apply') return apply(req, namespace, name, body.value, opts);
    const current = target.get(namespace, name);
    if (!current) return statusResponse(req, notFound(target.kind, name));
    // The patch applies to the whole object as stored; a resourceVersion it sets is a precondition.
    const { resourceVersion: _stored, ...meta } = current.metadata;
    const base = { ...current, metadata: meta };
    let patched: unknown;
    if (type === 'json') {
      const out = applyJsonPatch(base, body.value);
      if ('kind' in out) return statusResponse(req, out as Status);
      patched = out.value;
    } else patched = mergePatch(base, body.value);
    return store(req, namespace, name, patched, opts);
  });
}
