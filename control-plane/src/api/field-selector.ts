/**
 * Field selectors as kube-apiserver supports them for custom resources: `metadata.name` and
 * `metadata.namespace` with `=`, `==` or `!=`, comma-separated (all must hold).
 */
export interface FieldRequirement {
  field: 'metadata.name' | 'metadata.namespace';
  equal: boolean;
  value: string;
}

/** The requirements of a selector, or what is wrong with it. */
export function parseFieldSelector(selector: string): FieldRequirement[] | string {
  const out: FieldRequirement[] = [];
  for (const raw of selector.split(',')) {
    const term = raw.trim();
    if (term === '') continue;
    const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) return `invalid selector: '${selector}'; can't understand '${term}'`;
    const field = (m[1] as string).trim();
    if (field !== 'metadata.name' && field !== 'metadata.namespace') {
      return `"${field}" is not a known field selector: only "metadata.name", "metadata.namespace"`;
    }
    out.push({ field, equal: m[2] !== '!=', value: (m[3] as string).trim() });
  }
  return out;
}

export function fieldsMatch(reqs: FieldRequirement[], meta: { name?: string; namespace?: string }): boolean {
  return reqs.every((r) => ((r.field === 'metadata.name' ? meta.name : meta.namespace) === r.value) === r.equal);
}
