import { h } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { type Sample, type SeriesField, seriesFields } from '../series.ts';

export interface Line {
  field: SeriesField;
  label: string;
  color: string;
  dash?: number[];
}

const column = (field: SeriesField) => seriesFields.indexOf(field) + 1;

/** uPlot's columns (time first) from rows of samples. */
function columns(samples: Sample[], lines: Line[]): uPlot.AlignedData {
  const t = samples.map((s) => s[0]);
  return [t, ...lines.map((l) => samples.map((s) => (s[column(l.field)] as number | null) ?? null))];
}

/** One live time-series chart (uPlot), redrawn as samples arrive. */
export function Chart(props: { title: string; unit: string; lines: Line[]; samples: Sample[]; id: string }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    if (!el.current) return;
    const width = Math.max(300, el.current.clientWidth || 420);
    plot.current = new uPlot(
      {
        width,
        height: 180,
        legend: { live: false },
        scales: { y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [{}, { label: props.unit, size: 50 }],
        series: [
          {},
          ...props.lines.map((l) => ({
            label: l.label,
            stroke: l.color,
            width: 2,
            ...(l.dash ? { dash: l.dash } : {}),
            spanGaps: false,
            points: { show: false },
          })),
        ],
      },
      columns(props.samples, props.lines),
      el.current,
    );
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);
  useEffect(() => {
    plot.current?.setData(columns(props.samples, props.lines));
  }, [props.samples]);
  // The first line's newest and largest value over the window, for tests and tooltips.
  const first = props.lines[0] ? column(props.lines[0].field) : 1;
  const values = props.samples.map((s) => s[first]).filter((v): v is number => typeof v === 'number');
  return h(
    'section',
    {
      class: 'chart',
      'data-chart': props.id,
      'data-last': values.at(-1) ?? '',
      'data-max': values.length ? Math.max(...values) : '',
    },
    [h('h3', null, props.title), h('div', { ref: el })],
  );
}
