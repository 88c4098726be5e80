import type { OutgoingHttpHeaders } from 'node:http';
import { forwarded, isHopByHop, xForwardedFor } from '@skiff/shared';
import type { RequestHead, ResponseHead } from '../http1/parse.ts';
import { type OwnHeader, reasons } from '../http1/write.ts';
import type { Field } from './hpack.ts';

/**
 * The headers of a request going upstream over HTTP/2, from its head as either version brought
 * it: names in lower case, connection-specific fields dropped (RFC 9113 §8.2.2; `te` only as
 * `trailers`, which gRPC needs), `Host` (or an absolute-form target's authority) as `:authority`,
 * this hop added to `X-Forwarded-For` and `Forwarded`, `X-Forwarded-Proto` filled in (replaced at
 * an edge that knows its `scheme`), and the hop's own header (`own`) set or dropped.
 */
export function h2RequestHeaders(
  head: RequestHead,
  client: string,
  own: OwnHeader | undefined,
  scheme: 'http' | 'https' | undefined,
  authority: string,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {
    ':method': head.method,
    ':path': requestPath(head.target),
    ':scheme': 'http',
    ':authority': head.host ?? authority,
  };
  const h = head.headers;
  let xff: string | undefined;
  let prior: string | undefined;
  let proto: string | undefined;
  for (let i = 0; i < h.length; i += 2) {
    const name = (h[i] as string).toLowerCase();
    const value = h[i + 1] as string;
    if (name === 'x-forwarded-for') xff = xff === undefined ? value : `${xff}, ${value}`;
    else if (name === 'forwarded') prior = prior === undefined ? value : `${prior}, ${value}`;
    else if (name === 'host' || name === 'http2-settings' || (own !== undefined && name === own.name)) continue;
    else if (name === 'te') {
      if (value.toLowerCase() === 'trailers') out.te = 'trailers';
    } else if (!isHopByHop(name, head.connection)) {
      if (name === 'x-forwarded-proto') proto = value;
      const prev = out[name];
      out[name] = prev === undefined ? value : name === 'cookie' ? `${prev}; ${value}` : `${prev}, ${value}`;
    }
  }
  out['x-forwarded-for'] = xForwardedFor(xff, client);
  if (scheme !== undefined) proto = scheme;
  if (proto === undefined) out['x-forwarded-proto'] = 'http';
  else if (scheme !== undefined) out['x-forwarded-proto'] = scheme;
  out.forwarded = forwarded(prior, client, head.host, proto ?? 'http');
  if (own?.value !== undefined) out[own.name] = own.value;
  return out;
}

/** The path of an origin- or absolute-form target (the authority goes to `:authority`). */
export function requestPath(target: string): string {
  const m = /^https?:\/\/[^/?#]*/i.exec(target);
  if (m === null) return target;
  const rest = target.slice(m[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/** Headers as `h2RequestHeaders` makes them, as the field list an HTTP/2 header block carries. */
export function fieldsOf(out: OutgoingHttpHeaders): Field[] {
  const fields: Field[] = [];
  for (const name of Object.keys(out)) {
    const value = out[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) fields.push([name, v]);
    else fields.push([name, String(value)]);
  }
  return fields;
}

/**
 * An HTTP/2 response's head (`status`, `fields`) as HTTP/1.1 for a client that asked in HTTP/1.1:
 * the same status and fields (no pseudo or connection-specific ones), framed by its
 * `content-length` when it has one, else chunked (so trailers can follow) for HTTP/1.1 and by
 * closing for HTTP/1.0. `hasBody`: false for HEAD, 204 and 304.
 */
export function http1ResponseHead(status: number, fields: Field[], minor: 0 | 1, hasBody: boolean): ResponseHead {
  const flat: string[] = [];
  let contentLength: number | undefined;
  for (const [name, value] of fields) {
    if (name.charCodeAt(0) === 58 || isHopByHop(name, [])) continue;
    flat.push(name, value);
    if (name === 'content-length') contentLength = Number(value);
  }
  const chunked = hasBody && contentLength === undefined && minor === 1;
  if (chunked) flat.push('transfer-encoding', 'chunked');
  return {
    status,
    reason: reasons[status] ?? 'Unknown',
    headers: flat,
    minor: 1,
    contentLength,
    chunked,
    connection: [],
  };
}

/** One chunk of a chunked body (RFC 9112 §7.1). */
export function chunk(data: Buffer): Buffer {
  const size = `${data.length.toString(16)}\r\n`;
  const out = Buffer.allocUnsafe(size.length + data.length + 2);
  out.write(size, 0, 'latin1');
  data.copy(out, size.length);
  out.write('\r\n', size.length + data.length, 'latin1');
  return out;
}

/**
 * The last chunk, with the HTTP/2 trailers (less pseudo and connection-specific ones) as its
 * trailer section: only for a client that said it takes them (`TE: trailers`, `wantsTrailers`),
 * else dropped, as a client may not expect fields after the body (RFC 9110 §6.5).
 */
export function lastChunk(trailers: Field[] | undefined): string {
  let out = '0\r\n';
  for (const [name, value] of trailers ?? []) {
    if (name.charCodeAt(0) === 58 || isHopByHop(name, [])) continue;
    out += `${name}: ${value}\r\n`;
  }
  return `${out}\r\n`;
}

/** Whether an HTTP/1.1 request's `TE` lists `trailers` (RFC 9110 §10.1.4). */
export function wantsTrailers(head: RequestHead): boolean {
  const h = head.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i] as string;
    if (name.length !== 2 || name.toLowerCase() !== 'te') continue;
    for (const token of (h[i + 1] as string).split(','))
      if (token.split(';')[0]?.trim().toLowerCase() === 'trailers') return true;
  }
  return false;
}
