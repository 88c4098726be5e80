import { apiVersion, failure, type Status } from '@skiff/shared';
import { respond, statusResponse } from './body.ts';
import { fieldsMatch, parseFieldSelector } from './field-selector.ts';
import { matches, parseSelector } from './label-selector.ts';
import type { KubeObject, ResourceInfo } from './resources/catalog.ts';
import { includeObject, toTable, wantsTable } from './table.ts';

/** What a list or watch request selects: `labelSelector` and `fieldSelector`. */
export type Selector = (o: KubeObject) => boolean;

/** The selector of a request's query, or the Status refusing it. */
export function selectorOf(url: URL): Selector | Status {
  const labels = url.searchParams.get('labelSelector');
  const fields = url.searchParams.get('fieldSelector');
  const labelReqs = labels ? parseSelector(labels) : [];
  if (typeof labelReqs === 'string') return failure('BadRequest', `labelSelector: ${labelReqs}`);
  const fieldReqs = fields ? parseFieldSelector(fields) : [];
  if (typeof fieldReqs === 'string') return failure('BadRequest', `fieldSelector: ${fieldReqs}`);
  return (o) => matches(labelReqs, o.metadata.labels ?? {}) && fieldsMatch(fieldReqs, o.metadata);
}

interface ContinueToken {
  /** The resourceVersion of the first page (a watch from it misses nothing). */
  rv: number;
  /** `namespace/name` of the last item sent. */
  after: string;
}

const key = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;

/**
 * One page of a list (`limit`, `continue`), as a pure function of the items, sorted by namespace
 * and name. `undefined` continue: the last page.
 */
export function paginate<T extends KubeObject>(
  items: T[],
  resourceVersion: number,
  limit: number | undefined,
  cont: string | undefined,
): { items: T[]; resourceVersion: number; continue?: string; remainingItemCount?: number } | string {
  let rv = resourceVersion;
  let rest = [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  if (cont) {
    let token: ContinueToken;
    try {
      token = JSON.parse(Buffer.from(cont, 'base64url').toString('utf8')) as ContinueToken;
    } catch {
      return 'continue: not a continue token from this server';
    }
    if (typeof token?.rv !== 'number' || typeof token.after !== 'string') {
      return 'continue: not a continue token from this server';
    }
    rv = token.rv;
    rest = rest.filter((o) => key(o) > token.after);
  }
  if (limit === undefined || rest.length <= limit) return { items: rest, resourceVersion: rv };
  const page = rest.slice(0, limit);
  const next: ContinueToken = { rv, after: key(page[page.length - 1] as T) };
  return {
    items: page,
    resourceVersion: rv,
    continue: Buffer.from(JSON.stringify(next)).toString('base64url'),
    remainingItemCount: rest.length - limit,
  };
}

/**
 * A Kubernetes list (`kind: ServiceList`…) of the selected items, one page of it with `limit`, or a
 * Table when the client asks for one.
 */
export function listResponse<T extends KubeObject>(
  req: Request,
  resource: ResourceInfo,
  items: T[],
  resourceVersion: number,
): Response {
  const url = new URL(req.url);
  const selector = selectorOf(url);
  if (typeof selector !== 'function') return statusResponse(req, selector);
  const rawLimit = url.searchParams.get('limit');
  const limit = rawLimit ? Number(rawLimit) : undefined;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
    return statusResponse(req, failure('BadRequest', `limit: must be a whole number, got ${JSON.stringify(rawLimit)}`));
  }
  const page = paginate(
    items.filter(selector),
    resourceVersion,
    limit || undefined,
    url.searchParams.get('continue') ?? undefined,
  );
  if (typeof page === 'string') return statusResponse(req, failure('BadRequest', page));
  const metadata = {
    resourceVersion: String(page.resourceVersion),
    ...(page.continue ? { continue: page.continue, remainingItemCount: page.remainingItemCount } : {}),
  };
  if (wantsTable(req)) {
    const include = includeObject(url);
    if (include !== 'None' && include !== 'Object' && include !== 'PartialObjectMetadata') {
      return statusResponse(req, failure('BadRequest', include));
    }
    return respond(req, 200, toTable(resource, page.items, metadata, include));
  }
  return respond(req, 200, { apiVersion, kind: `${resource.kind}List`, metadata, items: page.items });
}

/** One object, or its Table row when the client asks for a Table (`kubectl get ksvc NAME`). */
export function objectResponse(req: Request, resource: ResourceInfo, status: number, obj: KubeObject): Response {
  if (wantsTable(req) && status === 200) {
    const include = includeObject(new URL(req.url));
    if (include !== 'None' && include !== 'Object' && include !== 'PartialObjectMetadata') {
      return statusResponse(req, failure('BadRequest', include));
    }
    return respond(req, 200, toTable(resource, [obj], { resourceVersion: obj.metadata.resourceVersion }, include));
  }
  return respond(req, status, obj);
}
