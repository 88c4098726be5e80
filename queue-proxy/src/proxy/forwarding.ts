import { isHopByHop } from '@skiff/shared';
import type { RequestHead, ResponseHead } from './http1.ts';

/** The client's address as a header value (`::ffff:127.0.0.1` → `127.0.0.1`). */
export function clientAddress(remote: string | undefined): string {
  if (!remote) return 'unknown';
  return remote.startsWith('::ffff:') ? remote.slice(7) : remote;
}

function forwardedNode(address: string): string {
  return address.includes(':') ? `"[${address}]"` : address;
}

// Only names starting with these letters need a closer look (lower-casing costs on every request).
const interesting = new Set([99, 67, 107, 75, 112, 80, 116, 84, 117, 85, 101, 69, 120, 88, 102, 70, 104, 72]);

/**
 * The request head sent to the app: the client's headers less hop-by-hop ones, this hop added to
 * `X-Forwarded-For` and `Forwarded`, `X-Forwarded-Proto`/`-Host` filled in when the router did not
 * set them. Framing headers (Content-Length, Transfer-Encoding) stay: the body is forwarded as is.
 */
export function forwardRequestHead(head: RequestHead, client: string): string {
  const h = head.headers;
  let out = `${head.method} ${head.target} HTTP/1.${head.minor}\r\n`;
  let xff: string | undefined;
  let forwarded: string | undefined;
  let proto: string | undefined;
  let forwardedHost = false;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i] as string;
    const value = h[i + 1] as string;
    if (interesting.has(name.charCodeAt(0))) {
      const lower = name.toLowerCase();
      if (lower === 'x-forwarded-for') {
        xff = xff === undefined ? value : `${xff}, ${value}`;
        continue;
      }
      if (lower === 'forwarded') {
        forwarded = forwarded === undefined ? value : `${forwarded}, ${value}`;
        continue;
      }
      // Bodies go through as bytes, so their framing header goes too.
      if (lower !== 'transfer-encoding' && isHopByHop(lower, head.connection)) continue;
      if (lower === 'x-forwarded-proto') proto = value;
      else if (lower === 'x-forwarded-host') forwardedHost = true;
    }
    out += `${name}: ${value}\r\n`;
  }
  if (head.upgrade !== undefined) out += `connection: upgrade\r\nupgrade: ${head.upgrade}\r\n`;
  else if (head.minor === 0 && head.connection.includes('keep-alive')) out += 'connection: keep-alive\r\n';
  out += `x-forwarded-for: ${xff === undefined ? client : `${xff}, ${client}`}\r\n`;
  if (proto === undefined) out += 'x-forwarded-proto: http\r\n';
  if (!forwardedHost && head.host !== undefined) out += `x-forwarded-host: ${head.host}\r\n`;
  if (forwarded !== undefined) {
    out += `forwarded: ${forwarded}, for=${forwardedNode(client)}\r\n`;
  } else {
    const first = xff === undefined ? client : (xff.split(',')[0] as string).trim();
    out += `forwarded: for=${forwardedNode(first)}${head.host !== undefined ? `;host=${head.host}` : ''};proto=${proto ?? 'http'}\r\n`;
  }
  return `${out}\r\n`;
}

/**
 * The response head sent to the client: the app's status and headers less hop-by-hop ones, with
 * `connection: close` when this is the connection's last response.
 */
export function forwardResponseHead(head: ResponseHead, close: boolean, keepAliveFor10: boolean): string {
  const h = head.headers;
  let out = `HTTP/1.1 ${head.status} ${head.reason}\r\n`;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i] as string;
    if (interesting.has(name.charCodeAt(0))) {
      const lower = name.toLowerCase();
      // Bodies go through as bytes (their framing header too); a protocol switch keeps Upgrade.
      const forwarded = lower === 'transfer-encoding' || (head.status === 101 && lower === 'upgrade');
      if (!forwarded && isHopByHop(lower, head.connection)) continue;
    }
    out += `${name}: ${h[i + 1]}\r\n`;
  }
  if (head.status === 101) out += 'connection: upgrade\r\n';
  else if (close) out += 'connection: close\r\n';
  else if (keepAliveFor10) out += 'connection: keep-alive\r\n';
  return `${out}\r\n`;
}
