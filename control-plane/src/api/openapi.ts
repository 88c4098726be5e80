import {
  apiVersion,
  ConfigurationSchema,
  RevisionSchema,
  RouteSchema,
  ServiceSchema,
  servingGroup,
} from '@skiff/shared';
import type { Hono } from 'hono';
import { z } from 'zod';
import { kubernetesVersion } from './discovery.ts';
import { resources } from './resources/catalog.ts';

/**
 * OpenAPI v2 and v3 for the serving group, generated from the zod schemas in `shared/` (the same
 * ones that validate writes): `kubectl apply` validates against it and `kubectl explain` reads it.
 * Schemas are written the way kube-apiserver publishes a CRD's structural schema.
 */

const schemas = {
  Service: ServiceSchema,
  Configuration: ConfigurationSchema,
  Revision: RevisionSchema,
  Route: RouteSchema,
};

type Json = Record<string, unknown>;

const kindDescriptions: Record<string, string> = {
  Service:
    'Service manages the whole lifecycle of an application: each change to its template makes a new Revision, and traffic is routed to revisions by percent or tag.',
  Configuration: 'Configuration holds the template of the Revisions it makes: each change makes a new Revision.',
  Revision: 'Revision is an immutable snapshot of code and configuration, made by a Configuration.',
  Route: 'Route sends traffic to Revisions, split by percent, with tags naming revisions by their own URL.',
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
const definitionName = (kind: string) => `${servingGroup.split('.').reverse().join('.')}.v1.${kind}`;

function definitions(): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [kind, schema] of Object.entries(schemas)) {
    const json = structural(
      z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'any' }),
    ) as Json;
    out[definitionName(kind)] = {
      ...json,
      description: kindDescriptions[kind],
      'x-kubernetes-group-version-kind': [{ group: servingGroup, version: 'v1', kind }],
    };
  }
  return out;
}

let cached: { v2: Json; v3: Json; hash: string } | undefined;

function documents() {
  if (cached) return cached;
  const defs = definitions();
  const paths: Record<string, Json> = {};
  for (const r of resources) {
    const ref = { $ref: `#/components/schemas/${definitionName(r.kind)}` };
    const gvk = { group: servingGroup, version: 'v1', kind: r.kind };
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
    paths[`/apis/${apiVersion}/namespaces/{namespace}/${r.name}`] = {
      get: { ...op('list'), parameters: [] },
      ...(r.verbs.includes('create') ? { post: op('post') } : {}),
    };
    paths[`/apis/${apiVersion}/namespaces/{namespace}/${r.name}/{name}`] = {
      get: { ...op('get'), parameters: [] },
      ...(r.verbs.includes('update') ? { put: op('put'), patch: op('patch') } : {}),
      ...(r.verbs.includes('delete') ? { delete: { ...op('delete'), parameters: [] } } : {}),
    };
  }
  const info = { title: 'Kubernetes', version: kubernetesVersion.gitVersion };
  const v3 = { openapi: '3.0.0', info, paths, components: { schemas: defs } };
  const v2Defs = JSON.parse(JSON.stringify(defs).replaceAll('#/components/schemas/', '#/definitions/')) as Json;
  // Swagger 2 has no `nullable`.
  const v2 = { swagger: '2.0', info, paths: {}, definitions: stripNullable(v2Defs) };
  const hash = String(JSON.stringify(v3).length.toString(16));
  cached = { v2, v3, hash };
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
      paths: {
        [`apis/${apiVersion}`]: { serverRelativeURL: `/openapi/v3/apis/${apiVersion}?hash=${documents().hash}` },
      },
    }),
  );
  app.get(`/openapi/v3/apis/${servingGroup}/v1`, () => json(documents().v3));
}
