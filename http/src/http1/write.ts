import { forwarded, isHopByHop, xForwardedFor } from '@skiff/shared';
import type { RequestHead, ResponseHead } from './parse.ts';

// Only names starting with these letters need a closer look (lower-casing costs on every request):
// c(onnection), k(eep-alive, k-proxy-request), p(roxy-*), t(e, trailer, transfer-encoding),
// u(pgrade), e(xpect), x(-forwarded-*), f(orwarded), h(ost), s(kiff-revision).
// A table by first character code, cheaper than a Set lookup per header.
const interesting = new Uint8Array(128);
for (const c of 'cCkKpPtTuUeExXfFhHsS') interesting[c.charCodeAt(0)] = 1;

/** A header a hop sets itself: any copy the previous hop sent is dropped. Name in lower case. */
export interface OwnHeader {
  readonly name: string;
  readonly value: string | undefined;
}

/**
 * The request head sent upstream: the client's headers less hop-by-hop ones, this hop added to
 * `X-Forwarded-For` and `Forwarded`, `X-Forwarded-Proto`/`-Host` filled in when absent, and the
 * hop's own header (`own`, e.g. the router's `K-Proxy-Request`) set or dropped. Framing headers
 * (Content-Length, Transfer-Encoding) stay: the body is forwarded as is. Behind a trusted hop that
 * wrote `X-Forwarded-For` but no `Forwarded` (`trustXff`), `Forwarded` names its first client.
 */
export function forwardRequestHead(
  head: RequestHead,
  client: string,
  own?: OwnHeader,
  trustXff = false,
  scheme?: string,
): string {
  const h = head.headers;
  let out = `${head.method} ${head.target} HTTP/1.${head.minor}\r\n`;
  let xff: string | undefined;
  let prior: string | undefined;
  let proto: string | undefined;
  let forwardedHost = false;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i] as string;
    const value = h[i + 1] as string;
    if (interesting[name.charCodeAt(0)] === 1) {
      const lower = name.toLowerCase();
      if (lower === 'x-forwarded-for') {
        xff = xff === undefined ? value : `${xff}, ${value}`;
        continue;
      }
      if (lower === 'forwarded') {
        prior = prior === undefined ? value : `${prior}, ${value}`;
        continue;
      }
      if (own !== undefined && lower === own.name) continue;
      // Bodies go through as bytes, so their framing header goes too.
      if (lower !== 'transfer-encoding' && isHopByHop(lower, head.connection)) continue;
      if (lower === 'x-forwarded-proto') {
        // An edge hop knows the scheme the client used: the client's own claim is dropped.
        if (scheme !== undefined) continue;
        proto = value;
      } else if (lower === 'x-forwarded-host') forwardedHost = true;
      else if (lower === 'host') {
        // The host the request was routed by: an absolute-form target's authority wins over Host.
        out += `${name}: ${head.host}\r\n`;
        continue;
      }
    }
    out += `${name}: ${value}\r\n`;
  }
  if (head.upgrade !== undefined) out += `connection: upgrade\r\nupgrade: ${head.upgrade}\r\n`;
  else if (head.minor === 0 && head.connection.includes('keep-alive')) out += 'connection: keep-alive\r\n';
  out += `x-forwarded-for: ${xForwardedFor(xff, client)}\r\n`;
  if (scheme !== undefined) proto = undefined;
  if (proto === undefined) out += `x-forwarded-proto: ${scheme ?? 'http'}\r\n`;
  if (!forwardedHost && head.host !== undefined) out += `x-forwarded-host: ${head.host}\r\n`;
  const origin = trustXff && prior === undefined && xff !== undefined ? (xff.split(',')[0] as string).trim() : client;
  out += `forwarded: ${forwarded(prior, origin, head.host, proto ?? scheme ?? 'http')}\r\n`;
  if (own?.value !== undefined) out += `${own.name}: ${own.value}\r\n`;
  return `${out}\r\n`;
}

/**
 * The response head sent to the client: the upstream's status and headers less hop-by-hop ones,
 * the hop's own header (`own`, e.g. the router's `Skiff-Revision`) in place of any upstream copy,
 * one more header beside the upstream's (`added`, e.g. the router's `Server-Timing`), and
 * `connection: close` when this is the connection's last response.
 */
export function forwardResponseHead(
  head: ResponseHead,
  close: boolean,
  keepAliveFor10: boolean,
  own?: OwnHeader,
  added?: OwnHeader,
): string {
  const h = head.headers;
  let out = `HTTP/1.1 ${head.status} ${head.reason}\r\n`;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i] as string;
    if (interesting[name.charCodeAt(0)] === 1) {
      const lower = name.toLowerCase();
      if (lower !== 'transfer-encoding' && isHopByHop(lower, head.connection)) {
        // A protocol switch keeps its Upgrade header.
        if (head.status !== 101 || lower !== 'upgrade') continue;
      }
      if (own?.value !== undefined && lower === own.name) continue;
    }
    out += `${name}: ${h[i + 1]}\r\n`;
  }
  if (own?.value !== undefined) out += `${own.name}: ${own.value}\r\n`;
  if (added?.value !== undefined) out += `${added.name}: ${added.value}\r\n`;
  if (head.status === 101) out += 'connection: upgrade\r\n';
  else if (close) out += 'connection: close\r\n';
  else if (keepAliveFor10) out += 'connection: keep-alive\r\n';
  return `${out}\r\n`;
}

/** A complete plain-text response a hop makes itself (errors, probes). */
export function plainResponse(
  status: number,
  message: string,
  close: boolean,
  headers?: readonly (readonly [string, string])[],
): string {
  const text = `${message}\n`;
  let extra = '';
  for (const [name, value] of headers ?? []) extra += `${name}: ${value}\r\n`;
  return (
    `HTTP/1.1 ${status} ${reasons[status] ?? 'Unknown'}\r\ncontent-type: text/plain; charset=utf-8\r\n${extra}` +
    `content-length: ${Buffer.byteLength(text)}\r\n${close ? 'connection: close\r\n' : ''}\r\n${text}`
  );
}

export const reasons: Record<number, string> = {
  100: 'Continue',
  200: 'OK',
  301: 'Moved Permanently',
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  417: 'Expectation Failed',
  431: 'Request Header Fields Too Large',
  499: 'Client Closed Request',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};
