/**
 * Kubernetes label selectors (`?labelSelector=`): `a=b`, `a==b`, `a!=b`, `a`, `!a`,
 * `a in (x,y)`, `a notin (x,y)`, joined by commas.
 */
export type Requirement =
  | { key: string; op: 'eq' | 'ne'; value: string }
  | { key: string; op: 'exists' | 'absent' }
  | { key: string; op: 'in' | 'notin'; values: string[] };

export type Selector = (labels: Record<string, string>) => boolean;

const keyPattern = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const valuePattern = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** Parses a selector; a string is the reason it is invalid. */
export function parseSelector(text: string): Requirement[] | string {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  if (current.trim() !== '' || parts.length > 0) parts.push(current);
  const reqs: Requirement[] = [];
  for (const raw of parts) {
    const part = raw.trim();
    const set = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(part);
    const equality = set ? null : /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
    const absent = set || equality ? null : /^!\s*(\S+)$/.exec(part);
    if (set) {
      const values = (set[3] ?? '').split(',').map((v) => v.trim());
      reqs.push({ key: set[1] as string, op: set[2] as 'in' | 'notin', values });
    } else if (equality) {
      reqs.push({ key: equality[1] as string, op: equality[2] === '!=' ? 'ne' : 'eq', value: equality[3] as string });
    } else if (absent) {
      reqs.push({ key: absent[1] as string, op: 'absent' });
    } else if (/^\S+$/.test(part)) {
      reqs.push({ key: part, op: 'exists' });
    } else {
      return `invalid requirement ${JSON.stringify(part)}`;
    }
  }
  for (const r of reqs) {
    if (!keyPattern.test(r.key)) return `invalid label key ${JSON.stringify(r.key)}`;
    const values = 'value' in r ? [r.value] : 'values' in r ? r.values : [];
    for (const v of values) if (!valuePattern.test(v)) return `invalid label value ${JSON.stringify(v)}`;
  }
  return reqs;
}

export function matches(reqs: Requirement[], labels: Record<string, string>): boolean {
  return reqs.every((r) => {
    const v = labels[r.key];
    switch (r.op) {
      case 'eq':
        return v === r.value;
      case 'ne':
        return v !== r.value;
      case 'exists':
        return v !== undefined;
      case 'absent':
        return v === undefined;
      case 'in':
        return v !== undefined && r.values.includes(v);
      case 'notin':
        return v === undefined || !r.values.includes(v);
    }
    return false;
  });
}
