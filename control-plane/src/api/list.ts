import { apiVersion, failure } from '@skiff/shared';
import { respond, statusResponse } from './body.ts';
import { matches, parseSelector } from './label-selector.ts';

/** A Kubernetes list (`kind: ServiceList`…) of the items the `labelSelector` selects. */
export function listResponse<T extends { metadata: { labels?: Record<string, string> } }>(
  req: Request,
  kind: string,
  items: T[],
  resourceVersion: number,
): Response {
  const selector = new URL(req.url).searchParams.get('labelSelector');
  let selected = items;
  if (selector) {
    const reqs = parseSelector(selector);
    if (typeof reqs === 'string') return statusResponse(req, failure('BadRequest', `labelSelector: ${reqs}`));
    selected = items.filter((i) => matches(reqs, i.metadata.labels ?? {}));
  }
  return respond(req, 200, {
    apiVersion,
    kind,
    metadata: { resourceVersion: String(resourceVersion) },
    items: selected,
  });
}
