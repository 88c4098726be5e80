/** Escapes text for HTML. */
function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const head = (title: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${esc(title)}</title><link rel="stylesheet" href="/console/assets/app.css">`;

/** The login page: one field for the API token, posted to `/login` (never in a URL). */
export function loginPage(error?: string): string {
  return `${head('Skiff — log in')}</head><body class="login"><main><h1>Skiff</h1>
<form method="post" action="/login">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<p class="hint">It is in <code>.skiff/token</code> (or <code>SKIFF_API_TOKEN</code>).</p>
${error ? `<p class="error" role="alert">${esc(error)}</p>` : ''}<button type="submit">Log in</button>
</form></main></body></html>`;
}

/** The console's shell: the bundled app renders into it. */
export function appPage(): string {
  return `${head('Skiff console')}<script type="module" src="/console/assets/app.js"></script></head><body><div id="app"></div></body></html>`;
}

/** Content-Security-Policy of every console page: nothing but this server. */
export const contentSecurityPolicy =
  "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";
