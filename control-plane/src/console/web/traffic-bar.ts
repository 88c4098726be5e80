import type { Target } from './api.ts';
import { colour, html } from './html.ts';

/** A service's traffic as one bar: a segment per target, its width the percent. */
export function TrafficBar(props: { traffic: Target[] | undefined }) {
  const targets = (props.traffic ?? []).filter((t) => (t.percent ?? 0) > 0 || t.tag);
  return html`<div class="traffic-bar">
    ${targets.map((t) => {
      const name = t.revisionName ?? 'latest';
      const pct = t.percent ?? 0;
      return html`<span class="segment" data-revision=${name} data-percent=${pct}
        title=${`${name}${t.tag ? ` (tag ${t.tag})` : ''}: ${pct}%`}
        style=${`flex-grow:${Math.max(pct, 0.0001)};background:${pct > 0 ? colour(name) : '#ccc'}`}>
        ${name} ${pct}%${t.tag ? ` · ${t.tag}` : ''}</span>`;
    })}
  </div>`;
}
