import { failure } from '@skiff/shared';
import type { Context } from 'hono';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { bearer, tokenMatches } from '../api/auth.ts';
import { statusResponse } from '../api/body.ts';
import { type Asset, buildConsoleAssets } from './assets.ts';
import type { LiveSeries } from './live.ts';
import { appPage, contentSecurityPolicy, loginPage } from './pages.ts';
import {
  csrfHeader,
  readCookie,
  sessionClearCookie,
  sessionCookie,
  sessionSetCookie,
  sessionVerdict,
} from './session.ts';

export interface ConsoleDeps {
  /** The API app: every request that is not the console's goes there. */
  api: { fetch(req: Request): Response | Promise<Response> };
  userToken: string;
  live: LiveSeries;
  /** Extra JSON views for the console (e.g. cold starts), by path under `/console/api/`. */
  views?: Record<string, (query: URLSearchParams) => unknown>;
}

/** Events streams send a comment this often so proxies and browsers keep them open. */
const keepAliveMs = 15_000;

/**
 * The web console at `/` of the API port, in front of the API: the login page, the session
 * cookie, the bundled assets and the live event stream. API calls from the console carry the
 * cookie; they reach the API with the token as `Authorization`, so the API's own check decides.
 */
export function createConsole(deps: ConsoleDeps): Hono {
  const app = new Hono();
  let assets: Promise<Map<string, Asset>> | undefined;

  const secure = (c: Context) => new URL(c.req.url).protocol === 'https:';
  const html = (c: Context, body: string, status: 200 | 401 = 200) =>
    c.html(body, status, { 'content-security-policy': contentSecurityPolicy, 'cache-control': 'no-store' });
  const loggedIn = (c: Context) => tokenMatches(readCookie(c.req.header('cookie'), sessionCookie), deps.userToken);
  /** Console data calls: the cookie or a bearer token, else 401. */
  const authorized = (c: Context) => {
    const token = bearer(c.req.header('authorization')) ?? readCookie(c.req.header('cookie'), sessionCookie);
    return tokenMatches(token, deps.userToken);
  };
  const unauthorized = (c: Context) =>
    statusResponse(
      c.req.raw,
      failure('Unauthorized', 'Unauthorized: log in at / or send Authorization: Bearer <token>'),
    );

  app.get('/', (c) => html(c, loggedIn(c) ? appPage() : loginPage()));
  // Browsers ask for it on every page; the console has none (and the API would answer 401).
  app.get('/favicon.ico', (c) => c.body(null, 204));
  app.get('/login', (c) => html(c, loginPage()));
  app.post('/login', async (c) => {
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const token = typeof form.token === 'string' ? form.token.trim() : '';
    if (!tokenMatches(token, deps.userToken)) return html(c, loginPage('That token is not valid for this API.'), 401);
    return c.body(null, 303, { location: '/', 'set-cookie': sessionSetCookie(token, secure(c)) });
  });
  app.post('/logout', (c) => c.body(null, 303, { location: '/', 'set-cookie': sessionClearCookie(secure(c)) }));

  app.get('/console/assets/:file', async (c) => {
    assets ??= buildConsoleAssets();
    const a = (await assets).get(c.req.param('file'));
    if (!a) return c.text('not found\n', 404);
    const headers: Record<string, string> = { 'content-type': a.type, etag: a.etag, 'cache-control': 'no-cache' };
    if (c.req.header('if-none-match') === a.etag) return c.body(null, 304, headers);
    if (/\bgzip\b/.test(c.req.header('accept-encoding') ?? '')) {
      return c.body(new Uint8Array(a.gzip), 200, { ...headers, 'content-encoding': 'gzip', vary: 'accept-encoding' });
    }
    return c.body(new Uint8Array(a.body), 200, { ...headers, vary: 'accept-encoding' });
  });

  // Live figures: `history` (the revision's last hour) once, then a `sample` of every revision each second.
  app.get('/console/api/events', (c) => {
    if (!authorized(c)) return unauthorized(c);
    const ns = c.req.query('namespace');
    const revision = c.req.query('revision');
    return streamSSE(c, async (stream) => {
      if (ns && revision) {
        await stream.writeSSE({
          event: 'history',
          data: JSON.stringify({ key: `${ns}/${revision}`, samples: deps.live.history(ns, revision) }),
        });
      }
      let closed = false;
      const unsubscribe = deps.live.subscribe((second, samples) => {
        void stream
          .writeSSE({ event: 'sample', data: JSON.stringify({ t: second, s: Object.fromEntries(samples) }) })
          .catch(() => {
            closed = true;
          });
      });
      await new Promise<void>((resolve) => {
        const keepAlive = setInterval(() => {
          if (closed) return done();
          void stream.write(': keep-alive\n\n').catch(done);
        }, keepAliveMs);
        function done() {
          clearInterval(keepAlive);
          unsubscribe();
          resolve();
        }
        stream.onAbort(done);
        c.req.raw.signal.addEventListener('abort', done, { once: true });
      });
    });
  });
  app.get('/console/api/:view', (c) => {
    if (!authorized(c)) return unauthorized(c);
    const view = deps.views?.[c.req.param('view')];
    if (!view) return statusResponse(c.req.raw, failure('NotFound', `no console view ${c.req.param('view')}`));
    return c.json(view(new URL(c.req.url).searchParams));
  });

  // Everything else is the API; a session cookie stands in for the Authorization header.
  app.all('*', (c) => {
    const raw = c.req.raw;
    const verdict = sessionVerdict({
      method: raw.method,
      url: raw.url,
      authorization: c.req.header('authorization'),
      cookie: c.req.header('cookie'),
      origin: c.req.header('origin'),
      host: c.req.header('host'),
      consoleHeader: c.req.header(csrfHeader),
    });
    if (verdict.refused) return statusResponse(raw, failure('Forbidden', `Forbidden: ${verdict.refused}`));
    if (verdict.token === undefined) return deps.api.fetch(raw);
    const headers = new Headers(raw.headers);
    headers.set('authorization', `Bearer ${verdict.token}`);
    return deps.api.fetch(new Request(raw, { headers }));
  });
  return app;
}
