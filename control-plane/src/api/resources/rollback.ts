import { conflict, invalidStatus, notFound, servingGroup, type TrafficTarget } from '@skiff/shared';
import type { ResolvedTarget } from '../../reconciler/service-state.ts';
import { respond, statusResponse } from '../body.ts';
import type { ApiDeps } from '../deps.ts';
import { afterUpdate, managerFromUserAgent, type Obj } from '../managed-fields.ts';
import { serviceObject } from '../objects.ts';

/**
 * `POST …/services/{name}/rollback`: all traffic to `wanted`, or to the newest ready revision older
 * than the newest one serving.
 */
export function rollback(
  deps: ApiDeps,
  req: Request,
  namespace: string,
  name: string,
  wanted: string | undefined,
): Response {
  const { store } = deps;
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
      return statusResponse(req, conflict('Service', name, 'no revision receives traffic; nothing to roll back from'));
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
  const spec = { ...svc.spec, traffic };
  // A rollback is an update of spec.traffic: its writer (`fieldManager`, else the User-Agent's
  // product: `skiff` for the CLI) owns that field from now on, as after any other update.
  const before = serviceObject(svc) as unknown as Obj;
  const after = { ...before, spec } as Obj;
  const manager =
    new URL(req.url).searchParams.get('fieldManager') ?? managerFromUserAgent(req.headers.get('user-agent'));
  const time = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const managedFields = afterUpdate(svc.managedFields, before, after, manager, `${servingGroup}/v1`, time);
  const row = store.updateService(
    namespace,
    name,
    { labels: svc.labels, annotations: svc.annotations, spec, managedFields },
    undefined,
    'user',
    'rollback',
  );
  if (!row) return statusResponse(req, notFound('Service', name));
  deps.changed(namespace, name);
  return respond(req, 200, serviceObject(row));
}
