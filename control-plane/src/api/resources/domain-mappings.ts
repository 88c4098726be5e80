import {
  type DomainMapping,
  DomainMappingStatusSchema,
  domainMappingApiVersion,
  failure,
  notFound,
} from '@skiff/shared';
import type { Hono } from 'hono';
import type { DomainMappingRow } from '../../store/schema.ts';
import type { DomainMappingWrite } from '../../store/store.ts';
import { admit } from '../admission.ts';
import { statusResponse } from '../body.ts';
import { type ApiDeps, isWatch, type Watch } from '../deps.ts';
import { listResponse, objectResponse } from '../list.ts';
import type { KubeObject, ResourceInfo } from './catalog.ts';
import { statusRoutes } from './status.ts';
import { type Writable, writeRoutes } from './writes.ts';

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
  statusVerbs: ['get', 'patch', 'update'],
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
      ...(row.managedFields.length > 0 ? { managedFields: row.managedFields } : {}),
    },
    spec: row.spec,
    status: row.status as KubeObject['status'],
  };
}

/** What the store keeps of an admitted DomainMapping. */
function mappingWrite(dm: DomainMapping, managedFields: DomainMappingRow['managedFields']): DomainMappingWrite {
  return {
    name: dm.metadata.name as string,
    labels: dm.metadata.labels ?? {},
    annotations: dm.metadata.annotations ?? {},
    spec: dm.spec.tls ? { ref: dm.spec.ref, tls: dm.spec.tls } : { ref: dm.spec.ref },
    managedFields,
  };
}

/**
 * `domainmappings` (serving.knative.dev/v1beta1): list, watch and get, and every write as for the
 * v1 kinds (admitted by `DomainMappingSchema`; create, replace, merge/JSON patch, server-side
 * apply, delete; dryRun, managedFields), and the `status` subresource. A domain taken in another
 * namespace is still stored (as Knative does) and reports `DomainClaimed: False`.
 */
export function domainMappingRoutes(app: Hono, deps: ApiDeps, watch: Watch): void {
  const { store } = deps;
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
  for (const path of [`${namespaced}/:name`, `${namespaced}/:name/status`]) {
    app.get(path, (c) => {
      const row = store.getDomainMapping(c.req.param('ns') as string, c.req.param('name') as string);
      return row
        ? objectResponse(c.req.raw, domainMappingInfo, 200, domainMappingObject(row))
        : statusResponse(c.req.raw, notFound('DomainMapping', c.req.param('name') as string));
    });
  }
  const mappings: Writable<DomainMappingRow, DomainMapping> = {
    kind: 'DomainMapping',
    resource: 'domainmappings',
    apiVersion: domainMappingApiVersion,
    admit: (req, namespace, input, urlName) => admit(deps, req, 'DomainMapping', namespace, input, urlName),
    get: (ns, name) => store.getDomainMapping(ns, name),
    render: domainMappingObject,
    create: (ns, _name, uid, dm, managedFields) =>
      store.createDomainMapping(ns, uid, mappingWrite(dm, managedFields), 'user'),
    update: (ns, _name, _current, dm, managedFields, expected) =>
      store.updateDomainMapping(ns, mappingWrite(dm, managedFields), expected, 'user'),
    remove: (ns, name) => store.deleteDomainMapping(ns, name, 'user'),
    changed: () => deps.domainMappingsChanged?.(),
  };
  writeRoutes(app, namespaced, store, mappings);
  statusRoutes(app, namespaced, {
    kind: 'DomainMapping',
    resource: 'domainmappings',
    apiVersion: domainMappingApiVersion,
    schema: DomainMappingStatusSchema,
    get: (ns, name) => {
      const row = store.getDomainMapping(ns, name);
      return row && domainMappingObject(row);
    },
    write: (ns, name, status, expected, dryRun, managedFields) => {
      const write = () => store.writeDomainMappingStatus(ns, name, status, expected, managedFields);
      const row = dryRun ? store.dryRun(write) : write();
      return row && domainMappingObject(row);
    },
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
