import {
  isHeadError,
  keepsAlive,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead,
  reasons,
} from '@skiff/queue-proxy/src/proxy/http1.ts';
import {
  forwarded,
  isHopByHop,
  proxyRequestHeader,
  proxyRequestValue,
  revisionHeader,
  xForwardedFor,
} from '../forward/headers.ts';

export type { RequestHead, ResponseHead };
// One strict HTTP/1.1 head parser for Skiff's two proxies: the queue-proxy's (RFC 9112, refusing
// every ambiguity a request smuggler could use).
export { isHeadError, keepsAlive, parseRequestHead, parseResponseHead };

// Only names starting with these letters need a closer look (lower-casing costs on every request):
// c(onnection), k(eep-alive, k-proxy-request), p(roxy-*), t(e, trailer, transfer-encoding),
// u(pgrade), e(xpect), x(-forwarded-*), f(orwarded), h(ost), s(kiff-revision).
const interesting = new Set([99, 67, 107, 75, 112, 80, 116, 84, 117, 85, 101, 69, 120, 88, 102, 70, 104, 72, 115, 83]);

/**
 * The request head sent to the endpoint: the client's headers less hop-by-hop ones, this hop added
 * to `X-Forwarded-For` and `Forwarded`, `X-Forwarded-Proto`/`-Host` filled in when absent, and
 * `K-Proxy-Request: activator` when the request was held. Framing headers (Content-Length,
 * Transfer-Encoding) stay: the body is forwarded as is.
 */
export function upstreamRequestHead(head: RequestHead, client: string, held: boolean): string {
  const h = head.headers;
  let out = `${head.method} ${head.target} HTTP/1.${head.minor}\r\n`;
  let xff: string | undefined;
  let prior: string | undefined;
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
        prior = prior === undefined ? value : `${prior}, ${value}`;
        continue;
      }
      // The marker is the router's to set; a client's own copy is dropped.
      if (lower === proxyRequestHeader) continue;
      if (lower !== 'transfer-encoding' && isHopByHop(lower, head.connection)) continue;
      if (lower === 'x-forwarded-proto') proto = value;
      else if (lower === 'x-forwarded-host') forwardedHost = true;
    }
    out += `${name}: ${value}\r\n`;
  }
  if (head.upgrade !== undefined) out += `connection: upgrade\r\nupgrade: ${head.upgrade}\r\n`;
  else if (head.minor === 0 && head.connection.includes('keep-alive')) out += 'connection: keep-alive\r\n';
  out += `x-forwarded-for: ${xForwardedFor(xff, client)}\r\n`;
  if (proto === undefined) out += 'x-forwarded-proto: http\r\n';
  if (!forwardedHost && head.host !== undefined) out += `x-forwarded-host: ${head.host}\r\n`;
  out += `forwarded: ${forwarded(prior, client, head.host, proto ?? 'http')}\r\n`;
  if (held) out += `${proxyRequestHeader}: ${proxyRequestValue}\r\n`;
  return `${out}\r\n`;
}

/**
 * The response head sent to the client: the endpoint's status and headers less hop-by-hop ones,
 * `Skiff-Revision` when enabled, and `connection: close` when this is the connection's last response.
 */
export function clientResponseHead(
  head: ResponseHead,
  revision: string | undefined,
  close: boolean,
  keepAliveFor10: boolean,
): string {
  const h = head.headers;
  let out = `HTTP/1.1 ${head.status} ${head.reason}\r\n`;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i] as string;
    if (interesting.has(name.charCodeAt(0))) {
      const lower = name.toLowerCase();
      if (lower !== 'transfer-encoding' && isHopByHop(lower, head.connection)) {
        // A protocol switch keeps its Upgrade header.
        if (head.status !== 101 || lower !== 'upgrade') continue;
      }
      if (revision !== undefined && lower === revisionHeader) continue;
    }
    out += `${name}: ${h[i + 1]}\r\n`;
  }
  if (revision !== undefined) out += `${revisionHeader}: ${revision}\r\n`;
  if (head.status === 101) out += 'connection: upgrade\r\n';
  else if (close) out += 'connection: close\r\n';
  else if (keepAliveFor10) out += 'connection: keep-alive\r\n';
  return `${out}\r\n`;
}

const routerReasons: Record<number, string> = {
  ...reasons,
  404: 'Not Found',
  413: 'Content Too Large',
  499: 'Client Closed Request',
};

/** A complete plain-text response the router makes itself (404, 503, 504, 502, limits). */
export function plainResponse(status: number, message: string, close: boolean): string {
  const text = `${message}\n`;
  return (
    `HTTP/1.1 ${status} ${routerReasons[status] ?? 'Unknown'}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
    `content-length: ${Buffer.byteLength(text)}\r\n${close ? 'connection: close\r\n' : ''}\r\n${text}`
  );
}
