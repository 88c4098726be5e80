import { request } from 'node:http';
import { type Backoff, backoffDelay } from '@skiff/shared';

/** Asking the router again: 20 ms, doubling to 500 ms (it learns of a challenge within milliseconds). */
const routerCheckBackoff: Backoff = { initialMs: 20, maxMs: 500, jitter: 0 };

/** One GET of the challenge path through the router with `Host: domain`: the body, or why not. */
function fetchAnswer(routerUrl: URL, domain: string, token: string): Promise<string> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: routerUrl.hostname,
        port: routerUrl.port || 80,
        path: `/.well-known/acme-challenge/${token}`,
        headers: { host: domain },
        timeout: 2_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve(res.statusCode === 200 ? body : `HTTP ${res.statusCode}`));
        res.on('error', (e) => resolve(e.message));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => resolve(e.message));
    req.end();
  });
}

/**
 * Resolves once the router at `routerUrl` answers the HTTP-01 challenge (it learns of it from its
 * next routing snapshot, milliseconds later), so the ACME server is never told to look too early.
 */
export async function waitUntilRouterServes(
  routerUrl: string,
  domain: string,
  token: string,
  keyAuthorization: string,
  timeoutMs = 10_000,
): Promise<void> {
  const url = new URL(routerUrl);
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (let attempt = 0; ; attempt++) {
    const delay = backoffDelay(attempt, routerCheckBackoff);
    last = await fetchAnswer(url, domain, token);
    // The router ends the answer with a newline; ACME servers trim trailing whitespace (RFC 8555 §8.3).
    if (last.trimEnd() === keyAuthorization) return;
    if (Date.now() + delay > deadline) break;
    await new Promise((r) => setTimeout(r, delay));
  }
  throw new Error(
    `the router at ${routerUrl} did not answer the HTTP-01 challenge within ${timeoutMs} ms (last: ${last.slice(0, 200)})`,
  );
}
