import { randomUUID } from 'node:crypto';
import {
  type ActivateRequest,
  ActivateRequestSchema,
  type AutoscalerConfig,
  apiVersion,
  canonicalJson,
  conflict,
  decodeResource,
  failure,
  invalidStatus,
  notFound,
  type RouterStats,
  RouterStatsSchema,
  type Service,
  type Status,
  servingGroup,
  type TrafficTarget,
  verifyNameChange,
  writableKind,
} from '@skiff/shared';
import { Hono } from 'hono';
import type { WorkloadBackend } from '../backends/backend.ts';
import type { ResolvedTarget } from '../reconciler/service-state.ts';
import type { RoutingPublisher } from '../routing/publisher.ts';
import type { ServiceRow } from '../store/schema.ts';
import { type ServiceWrite, type Store, StoreConflict } from '../store/store.ts';
import { bearer, tokenMatches } from './auth.ts';
import { readBody, respond, statusResponse } from './body.ts';
import { matches, parseSelector } from './label-selector.ts';
import { mergePatch } from './merge-patch.ts';
import type { ApiMetrics } from './metrics.ts';
import { configurationObject, revisionObject, routeObject, serviceObject } from './objects.ts';

export interface ApiDeps {
  store: Store;
  publisher: RoutingPublisher;
  tokens: { user: string; router: string };
  metrics: ApiMetrics;
  /** Something changed for a service: reconcile it. */
  changed(namespace: string, name: string): void;
  /** A revision was deleted: stop what runs for it. */
  revisionDeleted(namespace: string, name: string): void;
  /** A router holds requests for a revision. */
  activate(request: ActivateRequest): void;
  routerStats(stats: RouterStats): void;
  /** Whether the control plane is ready to serve (store open, reconciler started). */
  ready(): boolean;
  /** Autoscaler settings the annotations are validated against. */
  autoscaler?: AutoscalerConfig;
  /** The autoscaler's recent decisions for a revision, newest last. */
  scaling?(namespace: string, revision: string): unknown[];
  /** More metric lines for `/metrics` (the autoscaler's gauges). */
  extraMetrics?(): string[];
  /** Recent output of a revision's replicas (see `WorkloadBackend.logs`). */
  logs?: WorkloadBackend['logs'];
  /** The workload backend's own checks of a template (see `WorkloadBackend.validate`). */
  validateTemplate?: WorkloadBackend['validate'];
}

const base = `/apis/${apiVersion}`;
const maxWaitSeconds = 60;

/** The control plane's HTTP API: Knative's resource paths, Kubernetes' conventions. */
export function createApi(deps: ApiDeps): Hono {
  const { store } = deps;
  const app = new Hono();

  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    deps.metrics.request(c.req.method, c.req.routePath, c.res.status, performance.now() - started);
  });

  app.use('*', async (c, next) => {
    if (c.req.path === '/healthz') return next();
    const token = bearer(c.req.header('authorization'));
    const internal = c.req.path.startsWith('/internal/');
    if (!tokenMatches(token, internal ? deps.tokens.router : deps.tokens.user)) {
      return statusResponse(
        c.req.raw,
        failure(
          'Unauthorized',
          token === undefined
            ? 'Unauthorized: send Authorization: Bearer <token>'
            : `Unauthorized: the token is not valid for ${internal ? 'internal endpoints' : 'this API'}`,
        ),
      );
    }
    return next();
  });

  app.get('/healthz', (c) => c.text('ok\n'));
  app.get('/readyz', (c) => (deps.ready() ? c.text('ok\n') : c.text('not ready\n', 503)));
  app.get('/metrics', (c) =>
    c.body(deps.metrics.render(store, deps.extraMetrics?.()), 200, {
      'content-type': 'text/plain; version=0.0.4; charset=utf-8',
    }),
  );

  // Internal endpoints for routers.
  app.get('/internal/v1/routing', async (c) => {
    const since = Number(c.req.query('since') ?? -1);
    const wait = Math.min(maxWaitSeconds, Math.max(0, Number(c.req.query('waitSeconds') ?? 0)));
    if (!Number.isFinite(since) || !Number.isFinite(wait)) {
      return statusResponse(c.req.raw, failure('BadRequest', 'since and waitSeconds must be numbers'));
    }
    const snapshot = await deps.publisher.next(since, wait * 1000, c.req.raw.signal);
    if (!snapshot) return c.body(null, 304);
    return c.json(snapshot);
  });
  app.post('/internal/v1/activate', async (c) => {
    const body = await readBody(c.req.raw, 'object');
    if (!body.ok) return statusResponse(c.req.raw, body.status);
    const parsed = ActivateRequestSchema.safeParse(body.value);
    if (!parsed.success)
      return statusResponse(c.req.raw, failure('BadRequest', 'expected {namespace, revision, held?}'));
    deps.activate(parsed.data);
    return c.body(null, 202);
  });
  app.post('/internal/v1/router-stats', async (c) => {
    const body = await readBody(c.req.raw, 'object');
    if (!body.ok) return statusResponse(c.req.raw, body.status);
    const parsed = RouterStatsSchema.safeParse(body.value);
    if (!parsed.success) return statusResponse(c.req.raw, failure('BadRequest', 'expected router stats'));
    deps.routerStats(parsed.data);
    return c.body(null, 202);
  });

  // Lists across namespaces (`kubectl get ksvc -A`).
  app.get(`${base}/services`, (c) => listServices(c.req.raw, undefined, c.req.query('labelSelector')));
  app.get(`${base}/configurations`, (c) =>
    list(c.req.raw, 'ConfigurationList', store.listServices().map(configurationObject), c.req.query('labelSelector')),
  );
  app.get(`${base}/routes`, (c) =>
    list(c.req.raw, 'RouteList', store.listServices().map(routeObject), c.req.query('labelSelector')),
  );
  app.get(`${base}/revisions`, (c) =>
    list(c.req.raw, 'RevisionList', revisionObjects(undefined), c.req.query('labelSelector')),
  );

  const ns = `${base}/namespaces/:ns`;

  app.get(`${ns}/services`, (c) => listServices(c.req.raw, c.req.param('ns'), c.req.query('labelSelector')));
  app.post(`${ns}/services`, async (c) => {
    const body = await readBody(c.req.raw, 'object');
    if (!body.ok) return statusResponse(c.req.raw, body.status);
    return createService(c.req.raw, c.req.param('ns'), body.value);
  });
  app.get(`${ns}/services/:name`, (c) => {
    const row = store.getService(c.req.param('ns'), c.req.param('name'));
    return row
      ? respond(c.req.raw, 200, serviceObject(row))
      : statusResponse(c.req.raw, notFound('Service', c.req.param('name')));
  });
  app.put(`${ns}/services/:name`, async (c) => {
    const body = await readBody(c.req.raw, 'object');
    if (!body.ok) return statusResponse(c.req.raw, body.status);
    return updateService(c.req.raw, c.req.param('ns'), c.req.param('name'), body.value, 'update');
  });
  app.patch(`${ns}/services/:name`, async (c) => {
    const { ns: namespace, name } = c.req.param();
    const body = await readBody(c.req.raw, 'merge-patch');
    if (!body.ok) return statusResponse(c.req.raw, body.status);
    const row = store.getService(namespace, name);
    if (!row) return statusResponse(c.req.raw, notFound('Service', name));
    const { status: _status, ...current } = serviceObject(row);
    delete (current.metadata as { resourceVersion?: string }).resourceVersion;
    const patched = mergePatch(current, body.value);
    return updateService(c.req.raw, namespace, name, patched, 'update');
  });
  app.delete(`${ns}/services/:name`, (c) => {
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
  app.post(`${ns}/services/:name/rollback`, async (c) => {
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
    return rollback(c.req.raw, namespace, name, wanted);
  });

  app.get(`${ns}/configurations`, (c) =>
    list(
      c.req.raw,
      'ConfigurationList',
      store.listServices(c.req.param('ns')).map(configurationObject),
      c.req.query('labelSelector'),
    ),
  );
  app.get(`${ns}/configurations/:name`, (c) => {
    const row = store.getService(c.req.param('ns'), c.req.param('name'));
    return row
      ? respond(c.req.raw, 200, configurationObject(row))
      : statusResponse(c.req.raw, notFound('Configuration', c.req.param('name')));
  });
  app.get(`${ns}/routes`, (c) =>
    list(c.req.raw, 'RouteList', store.listServices(c.req.param('ns')).map(routeObject), c.req.query('labelSelector')),
  );
  app.get(`${ns}/routes/:name`, (c) => {
    const row = store.getService(c.req.param('ns'), c.req.param('name'));
    return row
      ? respond(c.req.raw, 200, routeObject(row))
      : statusResponse(c.req.raw, notFound('Route', c.req.param('name')));
  });
  app.get(`${ns}/revisions`, (c) =>
    list(c.req.raw, 'RevisionList', revisionObjects(c.req.param('ns')), c.req.query('labelSelector')),
  );
  app.get(`${ns}/revisions/:name`, (c) => {
    const { ns: namespace, name } = c.req.param();
    const row = store.getRevision(namespace, name);
    if (!row) return statusResponse(c.req.raw, notFound('Revision', name));
    return respond(c.req.raw, 200, revisionObject(row, routingState(namespace, row.service, name)));
  });
  // How the autoscaler has been deciding this revision's replicas: live evaluations (newest last)
  // and the changes recorded in the audit log.
  app.get(`${ns}/revisions/:name/scaling`, (c) => {
    const { ns: namespace, name } = c.req.param();
    const row = store.getRevision(namespace, name);
    if (!row) return statusResponse(c.req.raw, notFound('Revision', name));
    const changes = store
      .auditLog(namespace, row.service, 200)
      .filter((a) => a.action === 'scale' && a.actor === 'autoscaler' && a.detail.revision === name)
      .slice(0, 20)
      .reverse()
      .map((a) => a.detail);
    return c.json({ kind: 'RevisionScaling', revision: name, recent: deps.scaling?.(namespace, name) ?? [], changes });
  });
  // Like a pod's `log` subresource: the revision's recent output, `?follow=true` to keep streaming.
  app.get(`${ns}/revisions/:name/log`, (c) => {
    const { ns: namespace, name } = c.req.param();
    if (!store.getRevision(namespace, name)) return statusResponse(c.req.raw, notFound('Revision', name));
    const logs = deps.logs?.(namespace, name);
    const format = (l: { at: string; replica: string; stream: string; text: string }) =>
      `${l.at} ${l.replica}${l.stream === 'stdout' ? '' : ` (${l.stream})`}: ${l.text}\n`;
    const past = (logs?.lines() ?? []).map(format).join('');
    if (c.req.query('follow') !== 'true') return c.text(past);
    const encoder = new TextEncoder();
    let stop: (() => void) | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode(past));
        stop = logs?.follow((line) => controller.enqueue(encoder.encode(format(line))));
        c.req.raw.signal.addEventListener('abort', () => {
          stop?.();
          controller.close();
        });
      },
      cancel() {
        stop?.();
      },
    });
    return new Response(body, { headers: { 'content-type': 'text/plain; charset=utf-8' } });
  });
  app.delete(`${ns}/revisions/:name`, (c) => {
    const { ns: namespace, name } = c.req.param();
    const row = store.getRevision(namespace, name);
    if (!row) return statusResponse(c.req.raw, notFound('Revision', name));
    const svc = store.getService(namespace, row.service);
    const reason = svc ? revisionInUse(svc, name) : undefined;
    if (reason) return statusResponse(c.req.raw, conflict('Revision', name, reason));
    store.deleteRevision(namespace, name, 'user');
    deps.revisionDeleted(namespace, name);
    deps.changed(namespace, row.service);
    return respond(c.req.raw, 200, {
      apiVersion: 'v1',
      kind: 'Status',
      metadata: {},
      status: 'Success',
      details: { name, group: servingGroup, kind: 'revisions' },
    });
  });

  // Known paths with a method they do not support.
  for (const path of [
    `${ns}/services`,
    `${ns}/services/:name`,
    `${ns}/revisions`,
    `${ns}/revisions/:name`,
    `${ns}/configurations/:name`,
    `${ns}/routes/:name`,
  ]) {
    app.all(path, (c) =>
      statusResponse(
        c.req.raw,
        failure('MethodNotAllowed', `the server does not allow ${c.req.method} on this resource`),
      ),
    );
  }

  app.notFound((c) =>
    statusResponse(c.req.raw, failure('NotFound', 'the server could not find the requested resource')),
  );
  app.onError((err, c) => {
    console.error(`control-plane: ${c.req.method} ${c.req.path}: ${err instanceof Error ? err.stack : String(err)}`);
    return statusResponse(c.req.raw, failure('InternalError', 'an internal error occurred; see the control plane log'));
  });

  // Handlers.

  function listServices(req: Request, namespace: string | undefined, selector: string | undefined): Response {
    return list(req, 'ServiceList', store.listServices(namespace).map(serviceObject), selector);
  }

  function list<T extends { metadata: { labels?: Record<string, string> } }>(
    req: Request,
    kind: string,
    items: T[],
    selector: string | undefined,
  ): Response {
    let selected = items;
    if (selector) {
      const reqs = parseSelector(selector);
      if (typeof reqs === 'string') return statusResponse(req, failure('BadRequest', `labelSelector: ${reqs}`));
      selected = items.filter((i) => matches(reqs, i.metadata.labels ?? {}));
    }
    return respond(req, 200, {
      apiVersion,
      kind,
      metadata: { resourceVersion: String(store.resourceVersion()) },
      items: selected,
    });
  }

  function revisionObjects(namespace: string | undefined) {
    return store.listRevisions(namespace).map((r) => revisionObject(r, routingState(r.namespace, r.service, r.name)));
  }

  function routingState(namespace: string, service: string, revision: string): 'active' | 'reserve' {
    const svc = store.getService(namespace, service);
    const traffic = ((svc?.status as { traffic?: ResolvedTarget[] } | undefined)?.traffic ?? []) as ResolvedTarget[];
    return traffic.some((t) => t.revisionName === revision) ? 'active' : 'reserve';
  }

  /** Why a revision must not be deleted now, if it must not. */
  function revisionInUse(svc: ServiceRow, revision: string): string | undefined {
    const named = (svc.spec.traffic ?? []).findIndex((t) => t.revisionName === revision);
    if (named >= 0)
      return `revision "${revision}" receives traffic from service "${svc.name}" (spec.traffic[${named}])`;
    const status = svc.status as { traffic?: ResolvedTarget[]; latestCreatedRevisionName?: string };
    if (status.traffic?.some((t) => t.revisionName === revision)) {
      return `revision "${revision}" receives traffic from service "${svc.name}" as its latest ready revision`;
    }
    if (store.latestRevision(svc.namespace, svc.name)?.name === revision) {
      return `revision "${revision}" is the latest of service "${svc.name}"; change the service's template first`;
    }
    return undefined;
  }

  /** Checks a body's kind, name and namespace against the URL, then decodes it as a Service. */
  function decodeService(req: Request, namespace: string, input: unknown, urlName?: string): Service | Response {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      return statusResponse(req, failure('BadRequest', 'the body must be a Service object'));
    }
    const obj = structuredClone(input) as { kind?: unknown; metadata?: Record<string, unknown> };
    const kind = writableKind(obj);
    if (kind && kind !== 'Service') {
      return statusResponse(
        req,
        failure('MethodNotAllowed', `${kind}s are managed through their Service; write the Service instead`),
      );
    }
    obj.metadata ??= {};
    const bodyNs = obj.metadata.namespace;
    if (bodyNs !== undefined && bodyNs !== namespace) {
      return statusResponse(
        req,
        failure(
          'BadRequest',
          `the namespace of the object (${String(bodyNs)}) does not match the namespace on the request (${namespace})`,
        ),
      );
    }
    obj.metadata.namespace = namespace;
    if (urlName !== undefined && obj.metadata.name !== undefined && obj.metadata.name !== urlName) {
      return statusResponse(
        req,
        failure(
          'BadRequest',
          `the name of the object (${String(obj.metadata.name)}) does not match the name on the URL (${urlName})`,
        ),
      );
    }
    if (urlName !== undefined) obj.metadata.name = urlName;
    if (!obj.metadata.name && typeof obj.metadata.generateName === 'string') {
      obj.metadata.name = `${obj.metadata.generateName}${randomSuffix()}`;
    }
    // Fields the server owns are not the client's to set.
    for (const f of ['uid', 'generation', 'creationTimestamp', 'managedFields']) delete obj.metadata[f];
    delete (obj as { status?: unknown }).status;
    const decoded = decodeResource('Service', obj, deps.autoscaler ? { autoscaler: deps.autoscaler } : {});
    if (!decoded.ok) return statusResponse(req, decoded.status);
    const causes = deps.validateTemplate?.(decoded.value.spec.template.spec, 'spec.template.spec') ?? [];
    if (causes.length > 0) return statusResponse(req, invalidStatus('Service', decoded.value.metadata.name, causes));
    return decoded.value;
  }

  function createService(req: Request, namespace: string, input: unknown): Response {
    const svc = decodeService(req, namespace, input);
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
    const row = store.createService(namespace, name, randomUUID(), write(svc), 'user');
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

  function updateService(req: Request, namespace: string, name: string, input: unknown, action: string): Response {
    const current = store.getService(namespace, name);
    if (!current) return statusResponse(req, notFound('Service', name));
    const svc = decodeService(req, namespace, input, name);
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
      const row = store.updateService(namespace, name, write(svc), expected, 'user', trafficOnly ? 'traffic' : action);
      if (!row) return statusResponse(req, notFound('Service', name));
      deps.changed(namespace, name);
      return respond(req, 200, serviceObject(row));
    } catch (e) {
      if (e instanceof StoreConflict) return statusResponse(req, staleConflict(name));
      throw e;
    }
  }

  function rollback(req: Request, namespace: string, name: string, wanted: string | undefined): Response {
    const svc = store.getService(namespace, name);
    if (!svc) return statusResponse(req, notFound('Service', name));
    const revisions = store.listRevisions(namespace, name);
    const ready = (n: string) =>
      (
        (revisions.find((r) => r.name === n)?.status as { conditions?: { type: string; status: string }[] })
          ?.conditions ?? []
      ).some((c) => c.type === 'Ready' && c.status === 'True');
    let target = wanted;
    if (target !== undefined) {
      if (!revisions.some((r) => r.name === target)) {
        return statusResponse(
          req,
          invalidStatus('Service', name, [
            {
              field: 'revisionName',
              reason: 'FieldValueNotFound',
              message: `service "${name}" has no revision "${target}"`,
            },
          ]),
        );
      }
      if (!ready(target)) {
        return statusResponse(
          req,
          conflict('Service', name, `revision "${target}" is not ready; it cannot take traffic`),
        );
      }
    } else {
      const traffic = ((svc.status as { traffic?: ResolvedTarget[] }).traffic ?? []) as ResolvedTarget[];
      const serving = traffic
        .filter((t) => t.percent > 0)
        .map((t) => revisions.findIndex((r) => r.name === t.revisionName));
      const newestServing = Math.max(-1, ...serving);
      if (newestServing < 0)
        return statusResponse(
          req,
          conflict('Service', name, 'no revision receives traffic; nothing to roll back from'),
        );
      target = revisions
        .slice(0, newestServing)
        .reverse()
        .find((r) => ready(r.name))?.name;
      if (!target) {
        return statusResponse(req, conflict('Service', name, 'there is no ready revision older than the one serving'));
      }
    }
    // All traffic to the chosen revision; tagged targets stay reachable by their tag URLs.
    const tagged: TrafficTarget[] = (svc.spec.traffic ?? [])
      .filter((t) => t.tag !== undefined)
      .map((t) => ({ ...t, percent: 0 }));
    const traffic: TrafficTarget[] = [{ revisionName: target, latestRevision: false, percent: 100 }, ...tagged];
    const row = store.updateService(
      namespace,
      name,
      { labels: svc.labels, annotations: svc.annotations, spec: { ...svc.spec, traffic } },
      undefined,
      'user',
      'rollback',
    );
    if (!row) return statusResponse(req, notFound('Service', name));
    deps.changed(namespace, name);
    return respond(req, 200, serviceObject(row));
  }

  return app;
}

function write(svc: Service): ServiceWrite {
  return { labels: svc.metadata.labels ?? {}, annotations: svc.metadata.annotations ?? {}, spec: svc.spec };
}

function staleConflict(name: string): Status {
  return conflict(
    'Service',
    name,
    'the object has been modified; please apply your changes to the latest version and try again',
  );
}

function randomSuffix(): string {
  const chars = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < 5; i++) s += chars[Math.floor(Math.random() * chars.length)];
  return s;
}
