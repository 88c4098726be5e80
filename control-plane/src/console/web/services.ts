import { useEffect, useState } from 'preact/hooks';
import { parse } from 'yaml';
import { base, getJson, ready, type Service, sendJson } from './api.ts';
import { fmt, html } from './html.ts';
import { useLive } from './live.ts';
import { TrafficBar } from './traffic-bar.ts';
import { YamlEditor } from './yaml-editor.ts';

const example = `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: my-service
  namespace: default
spec:
  template:
    spec:
      containers:
        - command: ["node", "examples/hello/app.mjs"]
          env:
            - name: TARGET
              value: Skiff
`;

/** The namespace a YAML document names (the API reports any other problem with it). */
function namespaceOf(text: string): string {
  try {
    const ns = (parse(text) as { metadata?: { namespace?: unknown } } | null)?.metadata?.namespace;
    return typeof ns === 'string' && ns ? ns : 'default';
  } catch {
    return 'default';
  }
}

/** Every service: URL, readiness, latest revision, traffic, live request rate. */
export function ServicesPage() {
  const [services, setServices] = useState<Service[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [creating, setCreating] = useState(false);
  const live = useLive();
  const load = () =>
    getJson<{ items: Service[] }>(`${base}/services`)
      .then((l) => setServices(l.items))
      .catch((e: Error) => setError(e.message));
  useEffect(() => {
    void load();
    // Readiness and traffic change with deploys: refresh the list every 5 s (live figures come by events).
    const t = setInterval(load, 5000);
    return () => clearInterval(t);
  }, []);
  const rps = (s: Service) => {
    let sum: number | undefined;
    for (const t of s.status?.traffic ?? []) {
      const v = t.revisionName ? live.latest[`${s.metadata.namespace}/${t.revisionName}`]?.[1] : undefined;
      if (typeof v === 'number') sum = (sum ?? 0) + v;
    }
    return sum;
  };
  return html`<main>
    <h1>Services</h1>
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    <table class="services">
      <thead><tr><th>Name</th><th>URL</th><th>Ready</th><th>Latest revision</th><th>Traffic</th><th>Requests/s</th></tr></thead>
      <tbody>
        ${(services ?? []).map((s) => {
          const r = ready(s.status?.conditions);
          return html`<tr data-service=${s.metadata.name}>
            <td><a href=${`#/services/${s.metadata.namespace}/${s.metadata.name}`}>${s.metadata.namespace}/${s.metadata.name}</a></td>
            <td>${s.status?.url ? html`<a href=${s.status.url} target="_blank" rel="noreferrer">${s.status.url}</a>` : '–'}</td>
            <td class=${`ready-${r?.status ?? 'Unknown'}`} title=${r?.message ?? ''}>${r?.status ?? 'Unknown'}${r?.reason ? ` (${r.reason})` : ''}</td>
            <td>${s.status?.latestReadyRevisionName ?? '–'}</td>
            <td><${TrafficBar} traffic=${s.status?.traffic} /></td>
            <td class="rps">${fmt(rps(s))}</td>
          </tr>`;
        })}
      </tbody>
    </table>
    ${services && services.length === 0 ? html`<p>No services yet.</p>` : null}
    <p><button onClick=${() => setCreating(!creating)}>${creating ? 'Cancel' : 'Create a service'}</button></p>
    ${
      creating
        ? html`<${YamlEditor} initial=${example} label="Create"
            submit=${async (text: string) => {
              const ns = namespaceOf(text);
              const created = await sendJson<Service>(
                `${base}/namespaces/${encodeURIComponent(ns)}/services`,
                'POST',
                text,
                'application/yaml',
              );
              location.hash = `#/services/${created.metadata.namespace}/${created.metadata.name}`;
            }} />`
        : null
    }
  </main>`;
}
