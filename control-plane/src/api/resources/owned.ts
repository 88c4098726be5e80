import { conflict } from '@skiff/shared';
import { respond, statusResponse } from '../body.ts';
import type { KubeObject } from './catalog.ts';

/**
 * A write to the Configuration or Route a Service owns. Knative's API server accepts it and the
 * Service's controller at once reconciles the object back to what the Service says: the Service
 * wins. Here the reconciling back happens within the request, so the answer is the object as the
 * Service has it, with a Warning (kubectl prints it) saying so; nothing is stored. A delete is
 * refused: Knative's controller would make the object again at once, under a new UID, and kubectl
 * would wait for the old one to go.
 */
export function ownedWrite(
  req: Request,
  resource: 'configurations' | 'routes',
  name: string,
  method: 'PUT' | 'PATCH' | 'DELETE',
  view: KubeObject,
): Response {
  const kind = resource === 'configurations' ? 'Configuration' : 'Route';
  if (method === 'DELETE') {
    return statusResponse(
      req,
      conflict(
        kind,
        name,
        `it is owned by Service "${name}" (metadata.ownerReferences), which would make it again at once: delete the Service instead`,
      ),
    );
  }
  const res = respond(req, 200, view);
  res.headers.set(
    'warning',
    `299 - "${kind.toLowerCase()} ${name} is owned by Service ${name}, whose controller reconciled this change back: edit the Service instead"`,
  );
  return res;
}
