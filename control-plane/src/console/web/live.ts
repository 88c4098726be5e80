import { useEffect, useState } from 'preact/hooks';
import type { Sample } from '../series.ts';

export interface LiveState {
  /** Newest sample per `namespace/revision`. */
  latest: Record<string, Sample>;
  /** The watched revision's samples, oldest first (an hour at most). */
  series: Sample[];
}

/**
 * Follows the console's event stream (server-sent events: one `sample` event a second, no
 * polling). With a revision, its last hour arrives first as `history`.
 */
export function useLive(namespace?: string, revision?: string): LiveState {
  const [state, setState] = useState<LiveState>({ latest: {}, series: [] });
  useEffect(() => {
    const q =
      namespace && revision
        ? `?namespace=${encodeURIComponent(namespace)}&revision=${encodeURIComponent(revision)}`
        : '';
    const source = new EventSource(`/console/api/events${q}`);
    const key = `${namespace}/${revision}`;
    source.addEventListener('history', (e) => {
      const h = JSON.parse((e as MessageEvent).data) as { samples: Sample[] };
      setState((s) => ({ ...s, series: h.samples }));
    });
    source.addEventListener('sample', (e) => {
      const m = JSON.parse((e as MessageEvent).data) as { t: number; s: Record<string, Sample> };
      setState((s) => {
        const mine = revision ? m.s[key] : undefined;
        let series = s.series;
        if (mine && (series.length === 0 || (series[series.length - 1] as Sample)[0] < mine[0])) {
          series = [...series, mine];
          if (series.length > 3600) series = series.slice(series.length - 3600);
        }
        return { latest: m.s, series };
      });
    });
    return () => source.close();
  }, [namespace, revision]);
  return state;
}
