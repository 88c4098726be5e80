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

/** An object's place in a list: its namespace, then its name. */
export interface ItemKey {
  namespace: string;
  name: string;
}

/**
 * Where a list's items come from, in namespace-then-name order: a page at a time, so a list of a
 * table (`Store.servicesAfter`) reads from SQLite only the rows of the page asked for.
 */
export interface ItemSource<T> {
  /** Up to `n` items after `after` (exclusive; from the first when undefined). */
  after(after: ItemKey | undefined, n: number): T[];
  /** How many items come after `after`. */
  countAfter(after: ItemKey | undefined): number;
}

const keyOf = (o: KubeObject): ItemKey => ({ namespace: o.metadata.namespace ?? '', name: o.metadata.name ?? '' });
const compareKeys = (a: ItemKey, b: ItemKey) =>
  a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

/** A source over items already in memory. */
export function arraySource<T extends KubeObject>(items: T[]): ItemSource<T> {
  const sorted = [...items].sort((a, b) => compareKeys(keyOf(a), keyOf(b)));
  const first = (after: ItemKey | undefined) => {
    if (after === undefined) return 0;
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareKeys(keyOf(sorted[mid] as T), after) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return {
    after: (after, n) => {
      const i = first(after);
      return sorted.slice(i, i + n);
    },
    countAfter: (after) => sorted.length - first(after),
  };
}

/** A source whose items are made from another's (rows into API objects), a page at a time. */
export function mapSource<R, T>(
  source: { after(after: ItemKey | undefined, n: number): R[]; countAfter(after: ItemKey | undefined): number },
  make: (row: R) => T,
): ItemSource<T> {
  return { after: (after, n) => source.after(after, n).map(make), countAfter: (after) => source.countAfter(after) };
}

/** Rows read per step while a selector filters them (a page of `limit` may need several). */
const scanChunk = 500;

/**
 * One page of a list (`limit`, `continue`), in namespace then name order, of the items `selector`
 * keeps (`selective`: the request had one, so the count of what remains is not known and, as
 * kube-apiserver does, not given). `undefined` continue: the last page.
 */
export function paginate<T extends KubeObject>(
  source: ItemSource<T>,
  resourceVersion: number,
  limit: number | undefined,
  cont: string | undefined,
  selector: Selector = () => true,
  selective = false,
): { items: T[]; resourceVersion: number; continue?: string; remainingItemCount?: number } | string {
  let rv = resourceVersion;
  let after: ItemKey | undefined;
  if (cont) {
    let token: ContinueToken;
    try {
      token = JSON.parse(Buffer.from(cont, 'base64url').toString('utf8')) as ContinueToken;
    } catch {
      return 'continue: not a continue token from this server';
    }
    if (typeof token?.rv !== 'number' || typeof token.after !== 'string' || !token.after.includes('/')) {
      return 'continue: not a continue token from this server';
    }
    rv = token.rv;
    const slash = token.after.indexOf('/');
    after = { namespace: token.after.slice(0, slash), name: token.after.slice(slash + 1) };
  }
  if (limit === undefined) {
    return { items: source.after(after, Number.POSITIVE_INFINITY).filter(selector), resourceVersion: rv };
  }
  // Read until the page is full and one more item is known to follow it (or the items end).
  const items: T[] = [];
  let more = false;
  let cursor = after;
  scan: for (;;) {
    const want = selective ? Math.max(scanChunk, limit + 1) : limit + 1 - items.length;
    const chunk = source.after(cursor, want);
    for (const o of chunk) {
      cursor = keyOf(o);
      if (!selector(o)) continue;
      if (items.length === limit) {
        more = true;
        break scan;
      }
      items.push(o);
    }
    if (chunk.length < want) break;
  }
  if (!more) return { items, resourceVersion: rv };
  const last = keyOf(items[items.length - 1] as T);
  const next: ContinueToken = { rv, after: `${last.namespace}/${last.name}` };
  return {
    items,
    resourceVersion: rv,
    continue: Buffer.from(JSON.stringify(next)).toString('base64url'),
    ...(selective ? {} : { remainingItemCount: source.countAfter(last) }),
  };
}

/**
 * A Kubernetes list (`kind: ServiceList`…) of the selected items, one page of it with `limit`, or a
 * Table when the client asks for one. `items` in memory, or a source that reads a page at a time.
 */
export function listResponse<T extends KubeObject>(
  req: Request,
  resource: ResourceInfo,
  items: T[] | ItemSource<T>,
  resourceVersion: number,
): Response {
  const url = new URL(req.url);
  const selector = selectorOf(url);
  if (typeof selector !== 'function') return statusResponse(req, selector);
  const selective = Boolean(url.searchParams.get('labelSelector') || url.searchParams.get('fieldSelector'));
  const rawLimit = url.searchParams.get('limit');
  const limit = rawLimit ? Number(rawLimit) : undefined;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
    return statusResponse(req, failure('BadRequest', `limit: must be a whole number, got ${JSON.stringify(rawLimit)}`));
  }
  const page = paginate(
    Array.isArray(items) ? arraySource(items) : items,
    resourceVersion,
    limit || undefined,
    url.searchParams.get('continue') ?? undefined,
    selector,
    selective,
  );
  if (typeof page === 'string') return statusResponse(req, failure('BadRequest', page));
  const metadata = {
    resourceVersion: String(page.resourceVersion),
    ...(page.continue
      ? {
          continue: page.continue,
          ...(page.remainingItemCount !== undefined ? { remainingItemCount: page.remainingItemCount } : {}),
        }
      : {}),
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
