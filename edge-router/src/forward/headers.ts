/**
 * The headers this hop adds, as pure functions shared by the web-standard app and the Node
 * server: where the request came from (`X-Forwarded-For`, RFC 7239 `Forwarded`), which host and
 * scheme the client used, and the marker the queue-proxy reads to tell held requests apart.
 */

export { isHopByHop } from '@skiff/shared';

/** Tokens of a `Connection` header, lower case. */
export function connectionTokens(value: string | null | undefined): string[] {
  if (!value) return [];
  const tokens: string[] = [];
  for (const t of value.split(',')) {
    const token = t.trim().toLowerCase();
    if (token) tokens.push(token);
  }
  return tokens;
}

/** The client's address as a header value (`::ffff:127.0.0.1` → `127.0.0.1`). */
export function clientAddress(remote: string | undefined): string {
  if (!remote) return 'unknown';
  return remote.startsWith('::ffff:') ? remote.slice(7) : remote;
}

export function xForwardedFor(prior: string | undefined, client: string): string {
  return prior ? `${prior}, ${client}` : client;
}

/** This hop's `Forwarded` element appended to what earlier hops wrote (RFC 7239). */
export function forwarded(prior: string | undefined, client: string, host: string | undefined, proto: string): string {
  const node = client.includes(':') ? `"[${client}]"` : client;
  const element = `for=${node}${host ? `;host=${quoteIfNeeded(host)}` : ''};proto=${proto}`;
  return prior ? `${prior}, ${element}` : element;
}

function quoteIfNeeded(value: string): string {
  return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(value) ? value : `"${value.replace(/(["\\])/g, '\\$1')}"`;
}

/** Set on requests the router held, so the queue-proxy counts them as proxied (Knative's activator marker). */
export const proxyRequestHeader = 'k-proxy-request';
export const proxyRequestValue = 'activator';
/** Response header naming the revision that answered. */
export const revisionHeader = 'skiff-revision';
/** Request header that picks a tag's revision on the main host, when enabled. */
export const tagHeader = 'skiff-tag';
