import { connect } from 'cloudflare:sockets';

/**
 * Whether the endpoint at `url` accepts a TCP connection. workerd's `fetch` rejects with the same
 * `Error: Network connection lost.` (`retryable: true`, no `cause`) whether the endpoint refused the
 * connection or dropped it after reading the request, so the Worker cannot tell from a failed fetch
 * that nothing reached the app. A socket of its own, opened before the request is sent, can:
 * `opened` rejects ("proxy request failed, cannot connect to the specified address") when the
 * endpoint refuses. The socket is closed again at once; it carries nothing.
 */
export async function acceptsConnections(url: string, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) throw signal.reason;
  const { protocol, hostname, port } = new URL(url);
  let socket: Socket;
  try {
    socket = connect({
      hostname: hostname.replace(/^\[(.*)\]$/, '$1'),
      port: Number(port || (protocol === 'https:' ? 443 : 80)),
    });
  } catch {
    return false;
  }
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([socket.opened, aborted]);
    return true;
  } catch {
    if (signal.aborted) throw signal.reason;
    // Any failure to open: nothing was sent, so the request may go elsewhere.
    return false;
  } finally {
    signal.removeEventListener('abort', onAbort);
    socket.close().catch(() => undefined);
  }
}
