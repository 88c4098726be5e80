import { stringify } from 'yaml';

export type Format = 'table' | 'json' | 'yaml';

/** Prints rows as aligned columns, like kubectl and kn. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export function render(value: unknown, format: Format): string {
  return format === 'yaml' ? stringify(value).trimEnd() : JSON.stringify(value, null, 2);
}

/** "3m", "2h", "5d": how long ago a timestamp was. */
export function age(timestamp: string | undefined, now = Date.now()): string {
  if (!timestamp) return '';
  const s = Math.max(0, Math.floor((now - Date.parse(timestamp)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

interface Conditioned {
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

export function readyCondition(obj: Conditioned) {
  return obj.status?.conditions?.find((c) => c.type === 'Ready');
}

/** kn's CONDITIONS column: "3 OK / 3". */
export function conditionsSummary(obj: Conditioned): string {
  const all = obj.status?.conditions ?? [];
  return `${all.filter((c) => c.status === 'True').length} OK / ${all.length}`;
}
