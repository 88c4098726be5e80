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
