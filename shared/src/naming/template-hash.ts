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
