import { conflict, failure, invalidStatus, notFound, type Status, zodCauses } from '@skiff/shared';
import type { Hono } from 'hono';
import type { z } from 'zod';
import { StoreConflict } from '../../store/store.ts';
import { patchType, readBody, respond, statusResponse } from '../body.ts';
import { applyJsonPatch, mergePatch } from '../patch.ts';
import { writeOptions } from '../write-options.ts';
import type { KubeObject } from './catalog.ts';

/** One resource's `status` subresource: how to read the object and store a new status. */
export interface StatusTarget {
  kind: string;
  /** The status schema from `shared/` (the same one OpenAPI publishes). */
  schema: z.ZodType;
  get(namespace: string, name: string): KubeObject | undefined;
  /**
   * Stores `status` as the object's (nothing else changes); throws `StoreConflict` when
   * `expected` is not the current resourceVersion. `dryRun`: checks and answers, stores nothing.
   */
  write(
    namespace: string,
    name: string,
    status: Record<string, unknown>,
    expected: number | undefined,
    dryRun: boolean,
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

  function store(req: Request, namespace: string, name: string, body: unknown, dryRun: boolean): Response {
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
    try {
      const written = target.write(namespace, name, checked.data as Record<string, unknown>, expected, dryRun);
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
    return store(req, c.req.param('ns') as string, c.req.param('name') as string, body.value, opts.dryRun);
  });

  app.patch(`${path}/:name/status`, async (c) => {
    const req = c.req.raw;
    const namespace = c.req.param('ns') as string;
    const name = c.req.param('name') as string;
    const opts = options(req);
    if ('kind' in opts) return statusResponse(req, opts);
    const type = patchType(req);
    if (typeof type !== 'string') return statusResponse(req, type);
    if (type === 'apply') {
      return statusResponse(
        req,
        failure(
          'UnsupportedMediaType',
          'server-side apply to the status subresource is not supported here; use a merge patch (application/merge-patch+json) or a JSON patch (application/json-patch+json)',
        ),
      );
    }
    const body = await readBody(req, 'patch');
    if (!body.ok) return statusResponse(req, body.status);
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
    return store(req, namespace, name, patched, opts.dryRun);
  });
}
