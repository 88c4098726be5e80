import { conflict, notFound, servingGroup } from '@skiff/shared';
import type { Hono } from 'hono';
import type { ResolvedTarget } from '../../reconciler/service-state.ts';
import type { ServiceRow } from '../../store/schema.ts';
import type { Store } from '../../store/store.ts';
import { respond, statusResponse } from '../body.ts';
import { type ApiDeps, groupPath, isWatch, namespacedPath, type Watch } from '../deps.ts';
import { listResponse, mapSource, objectResponse } from '../list.ts';
import { revisionObject } from '../objects.ts';
import { readDeleteOptions } from '../write-options.ts';
import { resourceInfo } from './catalog.ts';

const info = resourceInfo('revisions');

/** `revisions`: made by the reconciler, read and deleted by users; `scaling` and `log` subresources. */
export function revisionRoutes(app: Hono, deps: ApiDeps, watch: Watch): void {
  const { store } = deps;
  const list = (req: Request, namespace?: string) =>
    isWatch(req)
      ? watch(req, namespace)
      : listResponse(
          req,
          info,
          mapSource(store.revisions(namespace), (r) =>
            revisionObject(r, routingState(store, r.namespace, r.service, r.name)),
          ),
          store.resourceVersion(),
        );

  app.get(`${groupPath}/revisions`, (c) => list(c.req.raw));
  app.get(`${namespacedPath}/revisions`, (c) => list(c.req.raw, c.req.param('ns')));
  for (const path of [`${namespacedPath}/revisions/:name`, `${namespacedPath}/revisions/:name/status`]) {
    app.get(path, (c) => {
      const { ns: namespace, name } = c.req.param() as { ns: string; name: string };
      const row = store.getRevision(namespace, name);
      if (!row) return statusResponse(c.req.raw, notFound('Revision', name));
      return objectResponse(
        c.req.raw,
        info,
        200,
        revisionObject(row, routingState(store, namespace, row.service, name)),
      );
    });
  }
  // How the autoscaler has been deciding this revision's replicas: live evaluations (newest last)
  // and the changes recorded in the audit log.
  app.get(`${namespacedPath}/revisions/:name/scaling`, (c) => {
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
  app.get(`${namespacedPath}/revisions/:name/log`, (c) => {
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
  app.delete(`${namespacedPath}/revisions/:name`, async (c) => {
    const { ns: namespace, name } = c.req.param();
    const opts = await readDeleteOptions(c.req.raw);
    if ('kind' in opts) return statusResponse(c.req.raw, opts);
    const row = store.getRevision(namespace, name);
    if (!row) return statusResponse(c.req.raw, notFound('Revision', name));
    const svc = store.getService(namespace, row.service, 'any');
    const reason = svc ? revisionInUse(store, svc, name) : undefined;
    if (reason) return statusResponse(c.req.raw, conflict('Revision', name, reason));
    if (!opts.dryRun) {
      store.deleteRevision(namespace, name, 'user');
      deps.revisionDeleted(namespace, name);
      deps.changed(namespace, row.service);
    }
    return respond(c.req.raw, 200, {
      apiVersion: 'v1',
      kind: 'Status',
      metadata: {},
      status: 'Success',
      details: { name, group: servingGroup, kind: 'revisions' },
    });
  });
}

/** Knative's `serving.knative.dev/routingState` label: whether any traffic target names it. */
export function routingState(store: Store, namespace: string, service: string, revision: string): 'active' | 'reserve' {
  const svc = store.getService(namespace, service);
  const traffic = ((svc?.status as { traffic?: ResolvedTarget[] } | undefined)?.traffic ?? []) as ResolvedTarget[];
  if (traffic.some((t) => t.revisionName === revision)) return 'active';
  return routeSendingTo(store, namespace, revision) ? 'active' : 'reserve';
}

/** A Route created directly that sends traffic to `revision`, if one does. */
function routeSendingTo(store: Store, namespace: string, revision: string): string | undefined {
  return store
    .listRoutes(namespace)
    .find(
      (r) =>
        (r.spec.traffic ?? []).some((t) => t.revisionName === revision) ||
        ((r.status as { traffic?: ResolvedTarget[] }).traffic ?? []).some((t) => t.revisionName === revision),
    )?.name;
}

/** Why a revision must not be deleted now, if it must not. */
function revisionInUse(store: Store, svc: ServiceRow, revision: string): string | undefined {
  const named = (svc.spec.traffic ?? []).findIndex((t) => t.revisionName === revision);
  if (named >= 0) return `revision "${revision}" receives traffic from service "${svc.name}" (spec.traffic[${named}])`;
  const status = svc.status as { traffic?: ResolvedTarget[]; latestCreatedRevisionName?: string };
  if (status.traffic?.some((t) => t.revisionName === revision)) {
    return `revision "${revision}" receives traffic from service "${svc.name}" as its latest ready revision`;
  }
  const route = routeSendingTo(store, svc.namespace, revision);
  if (route) return `revision "${revision}" receives traffic from route "${route}"`;
  if (store.latestRevision(svc.namespace, svc.name)?.name === revision) {
    return `revision "${revision}" is the latest of service "${svc.name}"; change the service's template first`;
  }
  return undefined;
}
