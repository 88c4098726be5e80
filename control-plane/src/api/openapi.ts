import { createHash } from 'node:crypto';
import {
  ConfigurationSchema,
  DomainMappingSchema,
  RevisionSchema,
  RouteSchema,
  ServiceSchema,
  servingGroup,
} from '@skiff/shared';
import type { Hono } from 'hono';
import { z } from 'zod';
import { kubernetesVersion } from './discovery.ts';
import { type ResourceInfo, resources } from './resources/catalog.ts';
import { domainMappingInfo } from './resources/domain-mappings.ts';

/**
 * OpenAPI v2 and v3 for the serving group, generated from the zod schemas in `shared/` (the same
 * ones that validate writes): `kubectl apply` validates against it and `kubectl explain` reads it.
 * Schemas are written the way kube-apiserver publishes a CRD's structural schema.
 */

/** The group's versions: v1, and v1beta1 for DomainMapping (as Knative serves it). */
const versions: { version: string; schemas: Record<string, z.ZodType>; resources: ResourceInfo[] }[] = [
  {
    version: 'v1',
    schemas: {
      Service: ServiceSchema,
      Configuration: ConfigurationSchema,
      Revision: RevisionSchema,
      Route: RouteSchema,
    },
    resources,
  },
  { version: 'v1beta1', schemas: { DomainMapping: DomainMappingSchema }, resources: [domainMappingInfo] },
];

type Json = Record<string, unknown>;

const kindDescriptions: Record<string, string> = {
  Service:
    'Service manages the whole lifecycle of an application: each change to its template makes a new Revision, and traffic is routed to revisions by percent or tag.',
  Configuration: 'Configuration holds the template of the Revisions it makes: each change makes a new Revision.',
  Revision: 'Revision is an immutable snapshot of code and configuration, made by a Configuration.',
  Route: 'Route sends traffic to Revisions, split by percent, with tags naming revisions by their own URL.',
  DomainMapping: 'DomainMapping maps a custom domain (its name) to a Knative Service.',
};

/** Rewrites a JSON schema into kube-apiserver's structural form (no bounds noise, int-or-string). */
function structural(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(structural);
  if (node === null || typeof node !== 'object') return node;
  const n = node as Json;
  const out: Json = {};
  const alternatives = (n.anyOf ?? n.oneOf) as Json[] | undefined;
  if (alternatives) {
    const types = new Set(alternatives.map((a) => a.type));
    if (types.has('string') && (types.has('integer') || types.has('number'))) {
      return { 'x-kubernetes-int-or-string': true, ...(n.description ? { description: n.description } : {}) };
    }
    return { 'x-kubernetes-preserve-unknown-fields': true, ...(n.description ? { description: n.description } : {}) };
  }
  for (const [k, v] of Object.entries(n)) {
    if (k === '$schema') continue;
    // z.int()'s safe-integer bounds say nothing a client needs.
    if ((k === 'minimum' || k === 'maximum') && Math.abs(v as number) === Number.MAX_SAFE_INTEGER) continue;
    if (k === 'additionalProperties' && v !== null && typeof v === 'object' && Object.keys(v).length === 0) {
      out['x-kubernetes-preserve-unknown-fields'] = true;
      continue;
    }
    out[k] =
      k === 'properties'
        ? Object.fromEntries(Object.entries(v as Json).map(([p, s]) => [p, structural(s)]))
        : structural(v);
  }
  return out;
}

/** `dev.knative.serving.v1.Service`: kube-apiserver's definition name for a CRD's kind. */
const definitionName = (version: string, kind: string) =>
  `${servingGroup.split('.').reverse().join('.')}.${version}.${kind}`;

function definitions(version: string, schemas: Record<string, z.ZodType>): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [kind, schema] of Object.entries(schemas)) {
    const json = structural(
      z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'any' }),
    ) as Json;
    out[definitionName(version, kind)] = {
      ...json,
      description: kindDescriptions[kind],
      'x-kubernetes-group-version-kind': [{ group: servingGroup, version, kind }],
    };
  }
  return out;
}

interface Documents {
  v2: Json;
  /** Per version: its OpenAPI v3 document and that document's hash (the client's cache key). */
  v3: Map<string, { doc: Json; hash: string }>;
}

let cached: Documents | undefined;

function documents(): Documents {
  if (cached) return cached;
  const info = { title: 'Kubernetes', version: kubernetesVersion.gitVersion };
  const v3 = new Map<string, { doc: Json; hash: string }>();
  let allDefs: Record<string, Json> = {};
  for (const v of versions) {
    const defs = definitions(v.version, v.schemas);
    allDefs = { ...allDefs, ...defs };
    const paths: Record<string, Json> = {};
    const groupVersion = `${servingGroup}/${v.version}`;
    for (const r of v.resources) {
      const ref = { $ref: `#/components/schemas/${definitionName(v.version, r.kind)}` };
      const gvk = { group: servingGroup, version: v.version, kind: r.kind };
      const op = (action: string) => ({
        operationId: `${action}${r.kind}`,
        'x-kubernetes-action': action,
        'x-kubernetes-group-version-kind': gvk,
        parameters: [
          { name: 'dryRun', in: 'query', schema: { type: 'string' } },
          { name: 'fieldManager', in: 'query', schema: { type: 'string' } },
          { name: 'fieldValidation', in: 'query', schema: { type: 'string' } },
        ],
        responses: { '200': { description: 'OK', content: { 'application/json': { schema: ref } } } },
      });
      paths[`/apis/${groupVersion}/namespaces/{namespace}/${r.name}`] = {
        get: { ...op('list'), parameters: [] },
        ...(r.verbs.includes('create') ? { post: op('post') } : {}),
      };
      paths[`/apis/${groupVersion}/namespaces/{namespace}/${r.name}/{name}`] = {
        get: { ...op('get'), parameters: [] },
        ...(r.verbs.includes('update') ? { put: op('put') } : {}),
        ...(r.verbs.includes('patch') ? { patch: op('patch') } : {}),
        ...(r.verbs.includes('delete') ? { delete: { ...op('delete'), parameters: [] } } : {}),
      };
    }
    const doc = { openapi: '3.0.0', info, paths, components: { schemas: defs } };
    v3.set(v.version, { doc, hash: createHash('sha256').update(JSON.stringify(doc)).digest('hex').slice(0, 32) });
  }
  const v2Defs = JSON.parse(JSON.stringify(allDefs).replaceAll('#/components/schemas/', '#/definitions/')) as Json;
  // Swagger 2 has no `nullable`.
  cached = { v2: { swagger: '2.0', info, paths: {}, definitions: stripNullable(v2Defs) }, v3 };
  return cached;
}

function stripNullable(node: unknown): Json {
  return JSON.parse(JSON.stringify(node, (k, v) => (k === 'nullable' ? undefined : v))) as Json;
}

const json = (value: unknown) =>
  new Response(JSON.stringify(value), { headers: { 'content-type': 'application/json' } });

export function openapiRoutes(app: Hono): void {
  app.get('/openapi/v2', () => json(documents().v2));
  app.get('/openapi/v3', () =>
    json({
      paths: Object.fromEntries(
        [...documents().v3].map(([version, { hash }]) => [
          `apis/${servingGroup}/${version}`,
          { serverRelativeURL: `/openapi/v3/apis/${servingGroup}/${version}?hash=${hash}` },
        ]),
      ),
    }),
  );
  for (const v of versions) {
    app.get(`/openapi/v3/apis/${servingGroup}/${v.version}`, () => json(documents().v3.get(v.version)?.doc));
  }
}
