import { randomUUID } from 'node:crypto';
import {
  conflict,
  domainMappingApiVersion,
  failure,
  invalidStatus,
  notFound,
  servingGroup,
  validateDomainMapping,
} from '@skiff/shared';
import type { Hono } from 'hono';
import type { DomainMappingRow } from '../../store/schema.ts';
import { StoreConflict } from '../../store/store.ts';
import { patchType, readBody, respond, statusResponse } from '../body.ts';
import { type ApiDeps, isWatch, type Watch } from '../deps.ts';
import { listResponse, objectResponse } from '../list.ts';
import { applyJsonPatch, mergePatch } from '../patch.ts';
import { readDeleteOptions, writeOptions } from '../write-options.ts';
import type { KubeObject, ResourceInfo } from './catalog.ts';

/** Where DomainMappings live: Knative serves them at v1beta1 of the serving group. */
export const betaGroupPath = `/apis/${domainMappingApiVersion}`;
const namespaced = `${betaGroupPath}/namespaces/:ns/domainmappings`;

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
const ready = (o: KubeObject) => o.status?.conditions?.find((c) => c.type === 'Ready');

export const domainMappingInfo: ResourceInfo = {
  name: 'domainmappings',
  singular: 'domainmapping',
  kind: 'DomainMapping',
  shortNames: ['dm'],
  verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
  statusVerbs: ['get'],
  // Knative's printer columns for DomainMapping.
  columns: [
    { name: 'URL', type: 'string', cell: (o) => str(o.status?.url), description: 'Where it answers', priority: 0 },
    { name: 'Ready', type: 'string', cell: (o) => ready(o)?.status, description: 'The Ready condition', priority: 0 },
    { name: 'Reason', type: 'string', cell: (o) => ready(o)?.reason, description: 'Why it is not Ready', priority: 0 },
  ],
};

export function domainMappingObject(row: DomainMappingRow): KubeObject & Record<string, unknown> {
  return {
    apiVersion: domainMappingApiVersion,
    kind: 'DomainMapping',
    metadata: {
      name: row.name,
      namespace: row.namespace,
      uid: row.uid,
      generation: row.generation,
      resourceVersion: String(row.resourceVersion),
      creationTimestamp: row.createdAt.replace(/\.\d+Z$/, 'Z'),
      ...(Object.keys(row.labels).length > 0 ? { labels: row.labels } : {}),
      ...(Object.keys(row.annotations).length > 0 ? { annotations: row.annotations } : {}),
    },
    spec: row.spec,
    status: row.status as KubeObject['status'],
  };
}

const alreadyExists = (name: string) =>
  failure('AlreadyExists', `domainmappings.${servingGroup} ${JSON.stringify(name)} already exists`, {
    name,
    group: servingGroup,
    kind: 'domainmappings',
  });

/**
 * `domainmappings` (serving.knative.dev/v1beta1): list, watch, get, create, replace and delete. A
 * domain taken in another namespace is still stored (as Knative does) and reports `DomainClaimed: False`.
 */
export function domainMappingRoutes(app: Hono, deps: ApiDeps, watch: Watch): void {
  const { store } = deps;
  const changed = () => deps.domainMappingsChanged?.();
  const list = (req: Request, namespace?: string) =>
    isWatch(req)
      ? watch(req, namespace)
      : listResponse(
          req,
          domainMappingInfo,
          store.listDomainMappings(namespace).map(domainMappingObject),
          store.resourceVersion(),
        );

  app.get(`${betaGroupPath}/domainmappings`, (c) => list(c.req.raw));
  app.get(namespaced, (c) => list(c.req.raw, c.req.param('ns')));
  app.get(`${namespaced}/:name`, (c) => {
    const row = store.getDomainMapping(c.req.param('ns'), c.req.param('name'));
    return row
      ? objectResponse(c.req.raw, domainMappingInfo, 200, domainMappingObject(row))
      : statusResponse(c.req.raw, notFound('DomainMapping', c.req.param('name')));
  });
  app.post(namespaced, async (c) => {
    const req = c.req.raw;
    const namespace = c.req.param('ns');
    const opts = writeOptions(new URL(req.url));
    if ('kind' in opts) return statusResponse(req, opts);
    const body = await readBody(req, 'object');
    if (!body.ok) return statusResponse(req, body.status);
    const checked = validateDomainMapping(body.value as Record<string, unknown>, namespace);
    if (!checked.ok) return statusResponse(req, invalidStatus('DomainMapping', checked.name, checked.causes));
    const create = () => store.createDomainMapping(namespace, randomUUID(), checked.value, 'user');
    const row = opts.dryRun ? store.dryRun(create) : create();
    if (!row) return statusResponse(req, alreadyExists(checked.value.name));
    if (!opts.dryRun) changed();
    return respond(req, 201, domainMappingObject(row));
  });
  /** Replaces the mapping `name` with `input` (a PUT's body, or the object a patch made). */
  function replace(req: Request, namespace: string, name: string, input: unknown, dryRun: boolean): Response {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      return statusResponse(req, failure('BadRequest', 'the body must be a DomainMapping object'));
    }
    const checked = validateDomainMapping(input as Record<string, unknown>, namespace);
    if (!checked.ok) return statusResponse(req, invalidStatus('DomainMapping', checked.name ?? name, checked.causes));
    if (checked.value.name !== name) {
      return statusResponse(
        req,
        invalidStatus('DomainMapping', name, [
          {
            field: 'metadata.name',
            reason: 'FieldValueInvalid',
            message: `must be ${JSON.stringify(name)}, the name in the path`,
          },
        ]),
      );
    }
    const meta = (input as { metadata?: { resourceVersion?: unknown } }).metadata;
    const rv = meta?.resourceVersion;
    const expected = rv === undefined || rv === '' ? undefined : Number(rv);
    if (expected !== undefined && !Number.isInteger(expected)) {
      return statusResponse(
        req,
        invalidStatus('DomainMapping', name, [
          { field: 'metadata.resourceVersion', reason: 'FieldValueInvalid', message: 'must be an integer' },
        ]),
      );
    }
    try {
      const update = () => store.updateDomainMapping(namespace, checked.value, expected, 'user');
      const row = dryRun ? store.dryRun(update) : update();
      if (!row) return statusResponse(req, notFound('DomainMapping', name));
      if (!dryRun) changed();
      return respond(req, 200, domainMappingObject(row));
    } catch (e) {
      if (e instanceof StoreConflict) {
        return statusResponse(
          req,
          conflict(
            'DomainMapping',
            name,
            'the object has been modified; please apply your changes to the latest version and try again',
          ),
        );
      }
      throw e;
    }
  }

  app.put(`${namespaced}/:name`, async (c) => {
    const req = c.req.raw;
    const { ns: namespace, name } = c.req.param();
    const opts = writeOptions(new URL(req.url));
    if ('kind' in opts) return statusResponse(req, opts);
    const body = await readBody(req, 'object');
    if (!body.ok) return statusResponse(req, body.status);
    return replace(req, namespace, name, body.value, opts.dryRun);
  });
  // Merge and JSON patch (what `kubectl apply` and `kubectl patch` send for a custom resource).
  app.patch(`${namespaced}/:name`, async (c) => {
    const req = c.req.raw;
    const { ns: namespace, name } = c.req.param();
    const opts = writeOptions(new URL(req.url));
    if ('kind' in opts) return statusResponse(req, opts);
    const type = patchType(req);
    if (typeof type !== 'string') return statusResponse(req, type);
    if (type === 'apply') {
      return statusResponse(
        req,
        failure(
          'UnsupportedMediaType',
          'server-side apply is not supported for domainmappings; use kubectl apply without --server-side (a merge patch), or a JSON patch',
        ),
      );
    }
    const body = await readBody(req, 'patch');
    if (!body.ok) return statusResponse(req, body.status);
    const row = store.getDomainMapping(namespace, name);
    if (!row) return statusResponse(req, notFound('DomainMapping', name));
    // The patch applies to the object as stored; status is the reconciler's.
    const { status: _status, ...current } = domainMappingObject(row);
    if (type === 'json') {
      const patched = applyJsonPatch(current, body.value);
      if ('kind' in patched) return statusResponse(req, patched);
      return replace(req, namespace, name, patched.value, opts.dryRun);
    }
    return replace(req, namespace, name, mergePatch(current, body.value), opts.dryRun);
  });
  app.delete(`${namespaced}/:name`, async (c) => {
    const req = c.req.raw;
    const { ns: namespace, name } = c.req.param();
    const opts = await readDeleteOptions(req);
    if ('kind' in opts) return statusResponse(req, opts);
    const row = store.getDomainMapping(namespace, name);
    if (!row) return statusResponse(req, notFound('DomainMapping', name));
    if (!opts.dryRun) {
      store.deleteDomainMapping(namespace, name, 'user');
      changed();
    }
    return respond(req, 200, {
      apiVersion: 'v1',
      kind: 'Status',
      metadata: {},
      status: 'Success',
      details: { name, group: servingGroup, kind: 'domainmappings', uid: row.uid },
    });
  });
  for (const path of [namespaced, `${namespaced}/:name`]) {
    app.all(path, (c) =>
      statusResponse(
        c.req.raw,
        failure('MethodNotAllowed', `the server does not allow ${c.req.method} on this resource`),
      ),
    );
  }
}
