/** Header names that belong to one connection and are never forwarded as they are (RFC 9110 §7.6.1). */
export const hopByHopHeaders: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
]);

/**
 * Whether a header stays on its hop: a hop-by-hop name, or one the `Connection` header lists.
 * A proxy that forwards bodies byte for byte keeps `Transfer-Encoding` itself (the framing goes on).
 */
export function isHopByHop(lowerName: string, connection: readonly string[]): boolean {
  return hopByHopHeaders.has(lowerName) || (connection.length > 0 && connection.includes(lowerName));
}

/**
 * Methods whose repetition has the same effect as one request (RFC 9110 §9.2.2): the only ones a
 * proxy may send again by itself after a connection dropped them without an answer.
 */
export function isIdempotent(method: string): boolean {
  return (
    method === 'GET' ||
    method === 'HEAD' ||
    method === 'OPTIONS' ||
    method === 'TRACE' ||
    method === 'PUT' ||
    method === 'DELETE'
  );
}

/** The client's address as a header value (`::ffff:127.0.0.1` → `127.0.0.1`). */
export function clientAddress(remote: string | undefined): string {
  if (!remote) return 'unknown';
  return remote.startsWith('::ffff:') ? remote.slice(7) : remote;
}

/** This hop appended to what earlier hops wrote in `X-Forwarded-For`. */
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
  if (/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(value)) return value;
  // A host with a port (`127.0.0.1:8080`) is quoted on every request: escape only when there is something to escape.
  return value.includes('"') || value.includes('\\') ? `"${value.replace(/(["\\])/g, '\\$1')}"` : `"${value}"`;
}
