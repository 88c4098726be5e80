import { useEffect, useState } from 'preact/hooks';
import type { ServiceRolloutView } from '../../rollout/view.ts';
import {
  type ApiError,
  base,
  call,
  getJson,
  type Revision,
  ready,
  type Service,
  sendJson,
  type Target,
} from './api.ts';
import { colour, fmt, html } from './html.ts';
import { useLive } from './live.ts';
import { RolloutPanel } from './rollout.ts';
import { TrafficBar } from './traffic-bar.ts';
import { YamlEditor } from './yaml-editor.ts';

interface Row {
  revision: string;
  percent: number;
  tag: string;
}

/** The split a traffic edit would give, as the confirmation shows it. */
export function describeSplit(rows: Row[]): string {
  return rows
    .filter((r) => r.percent > 0 || r.tag)
    .map((r) => `${r.revision} ${r.percent}%${r.tag ? ` (tag ${r.tag})` : ''}`)
    .join(' · ');
}

function rowsOf(service: Service, revisions: Revision[]): Row[] {
  const traffic = service.status?.traffic ?? [];
  return revisions.map((r) => {
    const targets = traffic.filter((t) => t.revisionName === r.metadata.name);
    return {
      revision: r.metadata.name,
      percent: targets.reduce((a, t) => a + (t.percent ?? 0), 0),
      tag: targets.find((t) => t.tag)?.tag ?? '',
    };
  });
}

/** One service: its revisions and their traffic, replicas, conditions, rollout; traffic edits, rollback, YAML. */
export function ServicePage(props: { namespace: string; name: string }) {
  const { namespace, name } = props;
  const path = `${base}/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(name)}`;
  const [service, setService] = useState<Service | undefined>();
  const [revisions, setRevisions] = useState<Revision[]>([]);
  const [rollout, setRollout] = useState<ServiceRolloutView | undefined>();
  const [rows, setRows] = useState<Row[] | undefined>();
  const [confirm, setConfirm] = useState<{ text: string; apply(): Promise<unknown> } | undefined>();
  const [error, setError] = useState<ApiError | undefined>();
  const [notice, setNotice] = useState<string | undefined>();
  const [yaml, setYaml] = useState<string | undefined>();
  const live = useLive();

  const load = async () => {
    try {
      const [s, list, r] = await Promise.all([
        getJson<Service>(path),
        getJson<{ items: Revision[] }>(
          `${base}/namespaces/${encodeURIComponent(namespace)}/revisions?labelSelector=${encodeURIComponent(`serving.knative.dev/service=${name}`)}`,
        ),
        getJson<ServiceRolloutView>(`${path}/rollout`),
      ]);
      const sorted = list.items.sort((a, b) => b.metadata.name.localeCompare(a.metadata.name));
      setService(s);
      setRevisions(sorted);
      setRollout(r);
      setRows((r) => r ?? rowsOf(s, sorted));
    } catch (e) {
      setError(e as ApiError);
    }
  };
  useEffect(() => {
    void load();
    const t = setInterval(load, 5000);
    return () => clearInterval(t);
  }, [namespace, name]);

  if (!service)
    return html`<main><p>Loading ${namespace}/${name}…</p>${error ? html`<p class="error">${error.message}</p>` : null}</main>`;
  const editRows = rows ?? [];
  const total = editRows.reduce((a, r) => a + (Number.isFinite(r.percent) ? r.percent : 0), 0);
  const setRow = (i: number, patch: Partial<Row>) =>
    setRows(editRows.map((r, j) => (j === i ? { ...r, ...patch } : r)));

  const ask = (text: string, apply: () => Promise<unknown>) => {
    setError(undefined);
    setNotice(undefined);
    setConfirm({ text, apply });
  };
  const run = async () => {
    if (!confirm) return;
    try {
      await confirm.apply();
      setNotice('Applied.');
      setRows(undefined);
      await load();
    } catch (e) {
      setError(e as ApiError);
    } finally {
      setConfirm(undefined);
    }
  };
  const applyTraffic = () => {
    const traffic: Target[] = editRows
      .filter((r) => r.percent > 0 || r.tag)
      .map((r) => ({ revisionName: r.revision, percent: r.percent, ...(r.tag ? { tag: r.tag } : {}) }));
    ask(`Traffic will be: ${describeSplit(editRows)}`, () =>
      sendJson(path, 'PATCH', { spec: { traffic } }, 'application/merge-patch+json'),
    );
  };
  const rollback = (revision: string) =>
    ask(`Roll back: all traffic to ${revision} (${revision} 100%)`, () =>
      sendJson(`${path}/rollback`, 'POST', { revisionName: revision }),
    );
  const steerRollout = (action: string, text: string) =>
    ask(text, () => sendJson(`${path}/rollout`, 'POST', { action }));
  const openYaml = async () => {
    const res = await call(path, { headers: { accept: 'application/yaml' } });
    const text = await res.text();
    setYaml(text.replace(/\nstatus:[\s\S]*$/, '\n'));
  };

  return html`<main>
    <p class="crumbs"><a href="#/">Services</a> / ${namespace}/${name}</p>
    <h1>${name}</h1>
    <p>${service.status?.url ? html`<a href=${service.status.url}>${service.status.url}</a>` : null}</p>
    <${TrafficBar} traffic=${service.status?.traffic} />
    <h2>Conditions</h2>
    <table class="conditions">
      <thead><tr><th>Type</th><th>Status</th><th>Reason</th><th>Message</th></tr></thead>
      <tbody>${(service.status?.conditions ?? []).map(
        (c) =>
          html`<tr data-condition=${c.type}><td>${c.type}</td><td class=${`ready-${c.status}`}>${c.status}</td><td>${c.reason ?? ''}</td><td>${c.message ?? ''}</td></tr>`,
      )}</tbody>
    </table>
    <${RolloutPanel} view=${rollout} act=${steerRollout} />
    <h2>Revisions</h2>
    <table class="revisions">
      <thead><tr><th>Revision</th><th>Ready</th><th>Traffic %</th><th>Tag</th><th>Replicas (desired/actual)</th><th></th></tr></thead>
      <tbody>
        ${revisions.map((r, i) => {
          const sample = live.latest[`${namespace}/${r.metadata.name}`];
          const row = editRows[i];
          const rd = ready(r.status?.conditions);
          const current = rowsOf(service, [r])[0];
          return html`<tr data-revision=${r.metadata.name}>
            <td><span class="swatch" style=${`background:${colour(r.metadata.name)}`}></span>
              <a href=${`#/revisions/${namespace}/${r.metadata.name}`}>${r.metadata.name}</a></td>
            <td class=${`ready-${rd?.status ?? 'Unknown'}`} title=${rd?.message ?? ''}>${rd?.status ?? 'Unknown'}${rd?.reason ? ` (${rd.reason})` : ''}</td>
            <td><input class="percent" type="number" min="0" max="100" aria-label=${`percent for ${r.metadata.name}`}
              value=${row?.percent ?? 0} onInput=${(e: Event) => setRow(i, { percent: Number((e.target as HTMLInputElement).value) })} />
              <span class="now">now ${current?.percent ?? 0}%</span></td>
            <td><input class="tag" aria-label=${`tag for ${r.metadata.name}`} value=${row?.tag ?? ''}
              onInput=${(e: Event) => setRow(i, { tag: (e.target as HTMLInputElement).value.trim() })} /></td>
            <td class="replicas">${fmt(sample?.[7] as number | null)}/${fmt(sample?.[8] as number | null)}</td>
            <td><button class="rollback" onClick=${() => rollback(r.metadata.name)}>Roll back to this</button></td>
          </tr>`;
        })}
      </tbody>
    </table>
    <p>Total: <b class=${total === 100 ? '' : 'warn'}>${total}%</b>
      <button class="apply-traffic" onClick=${applyTraffic}>Apply traffic…</button>
      <button onClick=${() => setRows(rowsOf(service, revisions))}>Reset</button></p>
    ${
      confirm
        ? html`<div class="confirm" role="dialog"><p>${confirm.text}</p>
            <button class="confirm-yes" onClick=${run}>Confirm</button> <button onClick=${() => setConfirm(undefined)}>Cancel</button></div>`
        : null
    }
    ${notice ? html`<p class="notice">${notice}</p>` : null}
    ${
      error
        ? html`<div class="error" role="alert"><p>${error.message}</p>${error.causes.map(
            (c) => html`<p class="field-error" data-field=${c.field}><b>${c.field}</b>: ${c.message}</p>`,
          )}</div>`
        : null
    }
    <h2>YAML</h2>
    ${
      yaml === undefined
        ? html`<button class="edit-yaml" onClick=${openYaml}>Edit as YAML</button>`
        : html`<${YamlEditor} initial=${yaml} label="Update"
            submit=${async (text: string) => {
              await sendJson(path, 'PUT', text, 'application/yaml');
              setYaml(undefined);
              setNotice('Updated.');
              await load();
            }} />`
    }
  </main>`;
}
