import htm from 'htm';
import { h } from 'preact';

/** Views are written as tagged templates (htm): no JSX build step, same Preact vnodes. */
export const html = htm.bind(h);

const palette = ['#2b6cb0', '#d69e2e', '#38a169', '#c53030', '#805ad5', '#dd6b20', '#319795', '#b83280'];
/** A stable colour per revision name, the same on every page. */
export function colour(name: string): string {
  let n = 0;
  for (const ch of name) n = (n * 31 + ch.charCodeAt(0)) >>> 0;
  return palette[n % palette.length] as string;
}

export const fmt = (v: number | null | undefined, digits = 1) =>
  v === null || v === undefined ? '–' : Number.isInteger(v) ? String(v) : v.toFixed(digits);
