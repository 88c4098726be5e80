import 'uplot/dist/uPlot.min.css';
import './style.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.ts';
import { RevisionPage } from './revision.ts';
import { ServicePage } from './service.ts';
import { ServicesPage } from './services.ts';

/** `#/services/ns/name`, `#/revisions/ns/name`, else the services list. */
function route(hash: string) {
  const [kind, ns, name] = hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  if (kind === 'services' && ns && name) return html`<${ServicePage} key=${hash} namespace=${ns} name=${name} />`;
  if (kind === 'revisions' && ns && name) return html`<${RevisionPage} key=${hash} namespace=${ns} name=${name} />`;
  return html`<${ServicesPage} />`;
}

function App() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return html`<header><a class="brand" href="#/">Skiff</a>
      <form method="post" action="/logout"><button type="submit">Log out</button></form></header>
    ${route(hash)}`;
}

render(html`<${App} />`, document.getElementById('app') as HTMLElement);
