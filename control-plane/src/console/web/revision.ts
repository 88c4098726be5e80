import { useEffect, useRef, useState } from 'preact/hooks';
import { base, call, getJson, type Revision } from './api.ts';
import { Chart } from './chart.ts';
import { ColdStarts } from './cold-starts.ts';
import { fmt, html } from './html.ts';
import { useLive } from './live.ts';

interface ScaleChange {
  at: string;
  from: number;
  to: number;
  reason: string;
  stable?: number;
  panic?: number;
  target?: number;
  readyPods?: number;
  inPanic?: boolean;
}

const maxLogLines = 500;

/** Follows the revision's log (the API's `log?follow=true` stream), keeping the last lines. */
function useLogTail(namespace: string, name: string): string[] {
  const [lines, setLines] = useState<string[]>([]);
  useEffect(() => {
    const abort = new AbortController();
    let buffer = '';
    (async () => {
      const res = await call(
        `${base}/namespaces/${encodeURIComponent(namespace)}/revisions/${encodeURIComponent(name)}/log?follow=true`,
        { signal: abort.signal },
      );
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        const cut = buffer.lastIndexOf('\n');
        if (cut < 0) continue;
        const fresh = buffer.slice(0, cut).split('\n');
        buffer = buffer.slice(cut + 1);
        setLines((l) => [...l, ...fresh].slice(-maxLogLines));
      }
    })().catch((e: Error) => {
      if (e.name !== 'AbortError') setLines((l) => [...l, `(log stream ended: ${e.message})`]);
    });
    return () => abort.abort();
  }, [namespace, name]);
  return lines;
}

/** One revision: live charts, the autoscaler's decisions, cold starts and a following log. */
export function RevisionPage(props: { namespace: string; name: string }) {
  const { namespace, name } = props;
  const path = `${base}/namespaces/${encodeURIComponent(namespace)}/revisions/${encodeURIComponent(name)}`;
  const live = useLive(namespace, name);
  const [revision, setRevision] = useState<Revision | undefined>();
  const [changes, setChanges] = useState<ScaleChange[]>([]);
  const logs = useLogTail(namespace, name);
  const logEl = useRef<HTMLPreElement>(null);
  useEffect(() => {
    const load = () => {
      getJson<Revision>(path).then(setRevision, () => undefined);
      getJson<{ changes: ScaleChange[] }>(`${path}/scaling`).then(
        (s) => setChanges(s.changes.slice().reverse()),
        () => undefined,
      );
    };
    load();
    const t = setInterval(load, 5000);
    return () => clearInterval(t);
  }, [namespace, name]);
  useEffect(() => {
    if (logEl.current) logEl.current.scrollTop = logEl.current.scrollHeight;
  }, [logs]);
  const service = revision?.metadata.labels?.['serving.knative.dev/service'];
  const s = live.series;
  const now = s[s.length - 1];
  return html`<main>
    <p class="crumbs"><a href="#/">Services</a> / ${service ? html`<a href=${`#/services/${namespace}/${service}`}>${service}</a> / ` : null}${name}</p>
    <h1>${name}</h1>
    <p class="now-figures">now: ${fmt(now?.[1] as number | null)} req/s · replicas ${fmt(now?.[7] as number | null)}/${fmt(now?.[8] as number | null)} · held ${fmt(now?.[9] as number | null)}</p>
    <div class="charts">
      <${Chart} id="rps" title="Request rate" unit="req/s" samples=${s} lines=${[{ field: 'rps', label: 'requests/s', color: '#2b6cb0' }]} />
      <${Chart} id="latency" title="Latency (router)" unit="ms" samples=${s} lines=${[
        { field: 'p50', label: 'p50', color: '#38a169' },
        { field: 'p95', label: 'p95', color: '#d69e2e' },
        { field: 'p99', label: 'p99', color: '#c53030' },
      ]} />
      <${Chart} id="concurrency" title="In-flight concurrency vs target" unit="requests" samples=${s} lines=${[
        { field: 'concurrency', label: 'in flight', color: '#805ad5' },
        { field: 'target', label: 'target', color: '#718096', dash: [6, 4] },
      ]} />
      <${Chart} id="replicas" title="Replicas" unit="replicas" samples=${s} lines=${[
        { field: 'desired', label: 'desired', color: '#dd6b20', dash: [6, 4] },
        { field: 'actual', label: 'actual', color: '#319795' },
      ]} />
      <${Chart} id="held" title="Held requests and 5xx" unit="count" samples=${s} lines=${[
        { field: 'held', label: 'held', color: '#b83280' },
        { field: 'errors5xx', label: '5xx/s', color: '#c53030' },
      ]} />
    </div>
    <h2>Cold starts</h2>
    <${ColdStarts} namespace=${namespace} revision=${name} />
    <h2>Scaling decisions</h2>
    <table class="scaling">
      <thead><tr><th>At</th><th>Replicas</th><th>Observed (stable/panic)</th><th>Target</th><th>Reason</th></tr></thead>
      <tbody>${changes.map(
        (c) =>
          html`<tr><td>${c.at}</td><td>${c.from} → ${c.to}</td><td>${fmt(c.stable, 2)} / ${fmt(c.panic, 2)}${c.inPanic ? ' (panic)' : ''}</td><td>${fmt(c.target)}</td><td>${c.reason}</td></tr>`,
      )}</tbody>
    </table>
    ${changes.length === 0 ? html`<p>No scale changes recorded yet.</p>` : null}
    <h2>Log</h2>
    <pre class="log" ref=${logEl}>${logs.join('\n')}</pre>
  </main>`;
}
