import { conflict, invalidStatus, notFound, notSupported } from '@skiff/shared';
import type { Hono } from 'hono';
import type { RolloutCommand } from '../../rollout/decider.ts';
import type { ServiceRolloutView } from '../../rollout/view.ts';
import { readBody, respond, statusResponse } from '../body.ts';
import { type ApiDeps, namespacedPath } from '../deps.ts';

const actions: readonly RolloutCommand[] = ['pause', 'resume', 'promote', 'abort'];

/** What the API needs of the rollouts (`../../rollout/rollouts.ts`). */
export interface RolloutApi {
  /** The Service's rollout as `GET .../rollout` shows it. */
  view(namespace: string, name: string): ServiceRolloutView;
  /** Queues a command; a reason it cannot apply, else undefined. */
  command(namespace: string, name: string, command: RolloutCommand): string | undefined;
}

/**
 * The `rollout` subresource of a Service, beside `rollback`: `GET` shows the rollout (shares,
 * step, figures, last verdict, recent events); `POST {"action": "pause"|"resume"|"promote"|"abort"}`
 * steers it (202; 409 when there is nothing to steer).
 */
export function rolloutRoutes(app: Hono, deps: ApiDeps): void {
  const rollouts = deps.rollouts;
  if (!rollouts) return;
  const { store } = deps;
  app.get(`${namespacedPath}/services/:name/rollout`, (c) => {
    const namespace = c.req.param('ns') as string;
    const name = c.req.param('name');
    if (!store.getService(namespace, name)) return statusResponse(c.req.raw, notFound('Service', name));
    return respond(c.req.raw, 200, rollouts.view(namespace, name));
  });
  app.post(`${namespacedPath}/services/:name/rollout`, async (c) => {
    const namespace = c.req.param('ns') as string;
    const name = c.req.param('name');
    const body = await readBody(c.req.raw, 'object');
    if (!body.ok) return statusResponse(c.req.raw, body.status);
    const action = (body.value as { action?: unknown } | null)?.action;
    if (typeof action !== 'string' || !actions.includes(action as RolloutCommand)) {
      return statusResponse(
        c.req.raw,
        invalidStatus('Service', name, [notSupported('action', action ?? null, actions)]),
      );
    }
    if (!store.getService(namespace, name)) return statusResponse(c.req.raw, notFound('Service', name));
    const refused = rollouts.command(namespace, name, action as RolloutCommand);
    if (refused !== undefined) return statusResponse(c.req.raw, conflict('Service', name, refused));
    return respond(c.req.raw, 202, rollouts.view(namespace, name));
  });
}
