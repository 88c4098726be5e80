import type { ManagedFieldsEntry } from '@skiff/shared';

/**
 * Server-side apply and field ownership (`metadata.managedFields`), decided purely.
 *
 * kube-apiserver does this with structured-merge-diff driven by the schema. Skiff's resources are
 * Knative's CRDs, whose schemas mark no list as a map or set, so — as kube-apiserver does for such
 * CRDs — every list is atomic: a field is a path of object keys down to a scalar, a list or an
 * empty object. That makes the rules small enough to write here (no TypeScript port of
 * structured-merge-diff exists; the reason for hand-written code):
 *
 * - an apply owns exactly the fields of its configuration; fields it owned before and no longer
 *   names are removed unless another manager owns them;
 * - an apply that would change a field another manager owns is a conflict (409 naming the manager
 *   and the field) unless forced; forced, it takes the field from that manager;
 * - any other write (create, update, patch) makes its manager (operation `Update`) the owner of
 *   the fields it set or changed, taking them from others.
 */

export type Obj = Record<string, unknown>;
export type { ManagedFieldsEntry };

/** A field: the keys from the object's root down to a leaf. */
export type FieldPath = string[];

const isObject = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The parts of an object whose fields are owned: labels, annotations and the spec. */
export function ownedParts(obj: Obj): Obj {
  const meta = isObject(obj.metadata) ? obj.metadata : {};
  const out: Obj = {};
  const metaOut: Obj = {};
  for (const k of ['labels', 'annotations']) if (isObject(meta[k])) metaOut[k] = meta[k];
  if (Object.keys(metaOut).length > 0) out.metadata = metaOut;
  if (obj.spec !== undefined) out.spec = obj.spec;
  return out;
}

/** Which parts of an object a write's fields are in: the object's own, or its `status` subresource's. */
export type OwnedParts = (obj: Obj) => Obj;

/** The parts of an object whose fields the `status` subresource's writes own: its status. */
export function statusParts(obj: Obj): Obj {
  return obj.status === undefined ? {} : { status: obj.status };
}

/**
 * Entries of the object's own writes and of its `status` subresource's, apart: as in
 * kube-apiserver, a write to one owns fields of that one only and leaves the other's entries be.
 */
export function bySubresource(entries: ManagedFieldsEntry[]): {
  main: ManagedFieldsEntry[];
  status: ManagedFieldsEntry[];
} {
  const main: ManagedFieldsEntry[] = [];
  const status: ManagedFieldsEntry[] = [];
  for (const e of entries) (e.subresource === 'status' ? status : main).push(e);
  return { main, status };
}

/** Every leaf field of `obj` (scalars, lists and empty objects are leaves). */
export function leafPaths(obj: unknown, prefix: FieldPath = [], out: FieldPath[] = []): FieldPath[] {
  if (!isObject(obj)) {
    out.push(prefix);
    return out;
  }
  const keys = Object.keys(obj);
  if (keys.length === 0 && prefix.length > 0) out.push(prefix);
  for (const k of keys) if (obj[k] !== undefined) leafPaths(obj[k], [...prefix, k], out);
  return out;
}

export function valueAt(obj: unknown, path: FieldPath): unknown {
  let cur = obj;
  for (const k of path) {
    if (!isObject(cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (!isObject(v)) return v;
  return Object.fromEntries(
    Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort()
      .map((k) => [k, canonical(v[k])]),
  );
}

const key = (p: FieldPath) => JSON.stringify(p);

/** `fieldsV1` (`{"f:spec":{"f:template":{}}}`) from a set of fields, and back. */
export function toFieldsV1(paths: FieldPath[]): Obj {
  const root: Obj = {};
  for (const p of paths) {
    let cur = root;
    for (const k of p) {
      const f = `f:${k}`;
      cur[f] ??= {};
      cur = cur[f] as Obj;
    }
  }
  return root;
}

export function fromFieldsV1(fields: unknown, prefix: FieldPath = [], out: FieldPath[] = []): FieldPath[] {
  if (!isObject(fields)) return out;
  let children = 0;
  for (const k in fields) {
    if (!k.startsWith('f:')) continue;
    children++;
    fromFieldsV1(fields[k], [...prefix, k.slice(2)], out);
  }
  if (children === 0 && prefix.length > 0) out.push(prefix);
  return out;
}

/**
 * A test of whether a field overlaps any of `paths` (is one of them, lies inside one, or holds
 * one), in time linear in the field's depth: objects may hold thousands of labels.
 */
function overlapsAnyOf(paths: FieldPath[]): (f: FieldPath) => boolean {
  const exact = new Set<string>();
  const prefixes = new Set<string>();
  for (const p of paths) {
    exact.add(key(p));
    for (let i = 1; i <= p.length; i++) prefixes.add(key(p.slice(0, i)));
  }
  return (f) => {
    if (prefixes.has(key(f))) return true;
    for (let i = 1; i < f.length; i++) if (exact.has(key(f.slice(0, i)))) return true;
    return false;
  };
}

/** Removes from `obj` (in place) the field at `path`, and objects it leaves empty. */
function removeAt(obj: Obj, path: FieldPath): void {
  const [head, ...rest] = path;
  if (head === undefined || !(head in obj)) return;
  if (rest.length === 0) {
    delete obj[head];
    return;
  }
  const child = obj[head];
  if (!isObject(child)) return;
  removeAt(child, rest);
  if (Object.keys(child).length === 0) delete obj[head];
}

/** Sets in `target` (in place) every leaf of `source`; lists replace (they are atomic). */
function mergeInto(target: Obj, source: Obj): void {
  for (const [k, v] of Object.entries(source)) {
    if (v === undefined) continue;
    if (isObject(v) && Object.keys(v).length > 0) {
      if (!isObject(target[k])) target[k] = {};
      mergeInto(target[k] as Obj, v);
    } else {
      target[k] = structuredClone(v);
    }
  }
}

export interface Conflict {
  manager: string;
  /** `.spec.traffic`, as kube-apiserver prints a field. */
  field: string;
}

export const fieldString = (p: FieldPath) => p.map((k) => `.${k}`).join('');

/**
 * The object an apply asks for: `live` with the fields this manager applied before and no longer
 * names removed (unless another manager owns them), and every field of `config` set.
 */
export function mergeApply(
  live: Obj,
  config: Obj,
  managed: ManagedFieldsEntry[],
  manager: string,
  parts: OwnedParts = ownedParts,
): Obj {
  const out = structuredClone(live);
  const applied = leafPaths(parts(config));
  const before = managed
    .filter((m) => m.manager === manager && m.operation === 'Apply')
    .flatMap((m) => fromFieldsV1(m.fieldsV1));
  const othersOwn = managed
    .filter((m) => !(m.manager === manager && m.operation === 'Apply'))
    .flatMap((m) => fromFieldsV1(m.fieldsV1));
  const stillApplied = overlapsAnyOf(applied);
  const ownedByOthers = overlapsAnyOf(othersOwn);
  for (const p of before) {
    if (stillApplied(p) || ownedByOthers(p)) continue;
    removeAt(out, p);
  }
  mergeInto(out, parts(config));
  return out;
}

/**
 * Fields of the apply's configuration whose stored value would change and that another manager
 * owns. `live` is the object now; `next` the object as it would be stored (defaulted).
 */
export function applyConflicts(
  live: Obj,
  next: Obj,
  config: Obj,
  managed: ManagedFieldsEntry[],
  manager: string,
  parts: OwnedParts = ownedParts,
): Conflict[] {
  const changed = leafPaths(parts(config)).filter((p) => !sameValue(valueAt(live, p), valueAt(next, p)));
  const out: Conflict[] = [];
  for (const m of managed) {
    if (m.manager === manager) continue;
    const owns = overlapsAnyOf(fromFieldsV1(m.fieldsV1));
    for (const p of changed) if (owns(p)) out.push({ manager: m.manager, field: fieldString(p) });
  }
  return out;
}

/** `Apply failed with 1 conflict: conflict with "alice": .spec.traffic` */
export function conflictMessage(conflicts: Conflict[]): string {
  const n = conflicts.length;
  const list = conflicts.map((c) => `conflict with ${JSON.stringify(c.manager)}: ${c.field}`).join('\n- ');
  return n === 1 ? `Apply failed with 1 conflict: ${list}` : `Apply failed with ${n} conflicts: \n- ${list}`;
}

/** Drops `paths` (and fields inside or around them) from every entry; empty entries go. */
function without(entries: ManagedFieldsEntry[], paths: FieldPath[]): ManagedFieldsEntry[] {
  const taken = overlapsAnyOf(paths);
  const out: ManagedFieldsEntry[] = [];
  for (const e of entries) {
    const owned = fromFieldsV1(e.fieldsV1);
    const left = owned.filter((f) => !taken(f));
    if (left.length === 0) continue;
    out.push(left.length === owned.length ? e : { ...e, fieldsV1: toFieldsV1(left) });
  }
  return out;
}

/** Fields of `next` that no longer exist in it are owned by no one. */
function prune(entries: ManagedFieldsEntry[], next: Obj, parts: OwnedParts): ManagedFieldsEntry[] {
  const owned = parts(next);
  const out: ManagedFieldsEntry[] = [];
  for (const e of entries) {
    const paths = fromFieldsV1(e.fieldsV1);
    const kept = paths.filter((p) => valueAt(owned, p) !== undefined);
    if (kept.length === 0) continue;
    out.push(kept.length === paths.length ? e : { ...e, fieldsV1: toFieldsV1(kept) });
  }
  return out;
}

/**
 * managedFields after an apply: the manager owns its configuration's fields; a field whose value
 * it changed is taken from the others (with `force`, or because no one else owned it), one it left
 * as it was is shared.
 */
export function afterApply(
  managed: ManagedFieldsEntry[],
  config: Obj,
  live: Obj,
  next: Obj,
  manager: string,
  apiVersion: string,
  time: string,
  parts: OwnedParts = ownedParts,
): ManagedFieldsEntry[] {
  const applied = leafPaths(parts(config));
  const changed = applied.filter((p) => !sameValue(valueAt(live, p), valueAt(next, p)));
  const others = without(
    managed.filter((m) => !(m.manager === manager && m.operation === 'Apply')),
    changed,
  );
  const entry: ManagedFieldsEntry = {
    manager,
    operation: 'Apply',
    apiVersion,
    time,
    fieldsType: 'FieldsV1',
    fieldsV1: toFieldsV1(applied),
  };
  return prune([...others, ...(applied.length > 0 ? [entry] : [])], next, parts);
}

/**
 * managedFields after a create, update or patch by `manager`: it owns the fields it set or
 * changed (taken from others); removed fields are owned by no one.
 */
export function afterUpdate(
  managed: ManagedFieldsEntry[],
  before: Obj | undefined,
  next: Obj,
  manager: string,
  apiVersion: string,
  time: string,
  parts: OwnedParts = ownedParts,
): ManagedFieldsEntry[] {
  const nextOwned = parts(next);
  const beforeOwned = before ? parts(before) : {};
  const changed = leafPaths(nextOwned).filter((p) => !sameValue(valueAt(beforeOwned, p), valueAt(nextOwned, p)));
  if (changed.length === 0) return prune(managed, next, parts);
  const isMine = (e: ManagedFieldsEntry) => e.manager === manager && e.operation === 'Update';
  const mine = managed.find(isMine);
  const others = without(
    managed.filter((e) => !isMine(e)),
    changed,
  );
  const unique = mine
    ? [...new Map([...fromFieldsV1(mine.fieldsV1), ...changed].map((p) => [key(p), p])).values()]
    : changed;
  const entry: ManagedFieldsEntry = {
    manager,
    operation: 'Update',
    apiVersion,
    time,
    fieldsType: 'FieldsV1',
    fieldsV1: toFieldsV1(unique),
  };
  return prune([...others, entry], next, parts);
}

/**
 * The manager of a write that names none: kube-apiserver takes the User-Agent up to its first
 * `/` (`kubectl/v1.36.3 (linux/amd64)` → `kubectl`).
 */
export function managerFromUserAgent(userAgent: string | null): string {
  const prefix = (userAgent ?? '').split('/')[0]?.trim() ?? '';
  const clean = prefix.replace(/[^\x20-\x7e]/g, '').slice(0, 128);
  return clean || 'unknown';
}
