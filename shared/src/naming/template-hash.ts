import type { RevisionTemplateSpec } from '../schemas/revision.ts';
import { md5Hex } from './md5.ts';

/**
 * JSON with object keys sorted and `undefined` members dropped, so equal values give equal text
 * whatever order their keys were written in.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/**
 * Whether two values have the same `canonicalJson`, without making it: a structural comparison
 * that stops at the first difference. Stored objects are compared with what was just computed on
 * every write and reconcile, and building both texts was 9% of the control plane's CPU under
 * creates at 10,000 services.
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const objectA = a !== null && typeof a === 'object';
  const objectB = b !== null && typeof b === 'object';
  // Only objects and arrays make text starting with `{` or `[`.
  if (objectA !== objectB) return false;
  if (!objectA) {
    if (typeof a === 'string' && typeof b === 'string') return false;
    // NaN, infinities, undefined, functions and symbols are all `null`.
    return (JSON.stringify(a) ?? 'null') === (JSON.stringify(b) ?? 'null');
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    if (a.length !== other.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], other[i])) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let defined = 0;
  for (const k of Object.keys(x)) {
    const v = x[k];
    if (v === undefined) continue;
    defined++;
    const w = y[k];
    if (w === undefined || !Object.prototype.propertyIsEnumerable.call(y, k) || !jsonEqual(v, w)) return false;
  }
  for (const k of Object.keys(y)) if (y[k] !== undefined) defined--;
  return defined === 0;
}

/**
 * The identity of a revision template: its name, labels, annotations and spec, after defaulting.
 * A new revision is made exactly when this changes. Empty maps and lists count as absent, so
 * `labels: {}` and no labels are the same template.
 */
export function templateHash(template: RevisionTemplateSpec): string {
  const meta = template.metadata ?? {};
  return md5Hex(
    canonicalJson(
      dropEmpty({
        name: meta.name,
        labels: meta.labels,
        annotations: meta.annotations,
        spec: template.spec,
      }),
    ),
  );
}

function dropEmpty(value: unknown): unknown {
  if (Array.isArray(value)) return value.length === 0 ? undefined : value.map(dropEmpty);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const d = dropEmpty(v);
    if (d !== undefined && !(typeof d === 'object' && d !== null && !Array.isArray(d) && Object.keys(d).length === 0)) {
      out[k] = d;
    }
  }
  return out;
}
