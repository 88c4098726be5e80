import { useEffect, useState } from 'preact/hooks';
import { getJson } from './api.ts';
import { fmt, html } from './html.ts';

export interface ColdStart {
  /** When the router began holding the request, Unix ms. */
  at: number;
  /** Milliseconds per phase; `held` is the whole wait (the other phases but first-byte add up to it). */
  phases: Record<string, number>;
}

/** The stacked phases, in order (shared/src/wire/cold-start.ts). */
export const phaseColours: Record<string, string> = {
  decision: '#d69e2e',
  spawn: '#2b6cb0',
  listening: '#38a169',
  ready: '#805ad5',
  routed: '#718096',
  'first-byte': '#c53030',
};
const stacked = (phases: Record<string, number>) => Object.keys(phaseColours).map((p) => [p, phases[p] ?? 0] as const);

/** The last 50 cold starts of a revision as stacked bars, one segment per phase. */
export function ColdStarts(props: { namespace: string; revision: string }) {
  const [starts, setStarts] = useState<ColdStart[]>([]);
  useEffect(() => {
    const load = () =>
      getJson<{ coldStarts: ColdStart[] }>(
        `/console/api/cold-starts?namespace=${encodeURIComponent(props.namespace)}&revision=${encodeURIComponent(props.revision)}`,
      ).then(
        (r) => setStarts(r.coldStarts),
        () => undefined,
      );
    void load();
    const t = setInterval(load, 2000);
    return () => clearInterval(t);
  }, [props.namespace, props.revision]);
  if (starts.length === 0) return html`<p class="cold-starts-empty">No cold starts recorded.</p>`;
  const longest = Math.max(...starts.map((s) => stacked(s.phases).reduce((a, [, ms]) => a + ms, 0)), 1);
  return html`<div class="cold-starts">
    <p class="legend">${Object.entries(phaseColours).map(([p, c]) => html`<span><i style=${`background:${c}`}></i>${p}</span> `)}</p>
    ${starts.map((s) => {
      const total = stacked(s.phases).reduce((a, [, ms]) => a + ms, 0);
      return html`<div class="cold-start" data-total=${Math.round(total)}>
        <span class="at">${new Date(s.at).toISOString().slice(11, 19)}</span>
        <span class="bar" style=${`width:${(total / longest) * 70}%`}>
          ${stacked(s.phases).map(
            ([p, ms]) => html`<span class="phase" data-phase=${p} title=${`${p}: ${fmt(ms)} ms`}
              style=${`flex-grow:${Math.max(ms, 0.001)};background:${phaseColours[p] ?? '#999'}`}></span>`,
          )}
        </span>
        <span class="total">${fmt(total, 0)} ms</span>
      </div>`;
    })}
  </div>`;
}
