import { isHopByHop } from '@skiff/shared';
import type { RequestHead } from '../http1/parse.ts';
import type { Field } from './hpack.ts';
import { requestPath } from './translate.ts';

/**
 * The SETTINGS payload of an HTTP/1.1 request that asks to go on over h2c (RFC 7540 §3.2:
 * `Upgrade: h2c`, one `HTTP2-Settings`, both named in `Connection`), when this hop can take it:
 * an HTTP/1.1 request without a body (one with a body stays HTTP/1.1: a server may ignore an
 * Upgrade, RFC 9110 §7.8, and this spares reading the body before switching).
 */
export function h2cUpgradeSettings(head: RequestHead): Buffer | undefined {
  if (head.minor !== 1 || !isH2cUpgrade(head)) return undefined;
  if (head.chunked || (head.contentLength ?? 0) > 0) return undefined;
  if (!head.connection.includes('http2-settings')) return undefined;
  let value: string | undefined;
  const h = head.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i] as string;
    if (name.length !== 14 || name.toLowerCase() !== 'http2-settings') continue;
    if (value !== undefined) return undefined;
    value = h[i + 1] as string;
  }
  if (value === undefined || !/^[A-Za-z0-9_-]*=*$/.test(value)) return undefined;
  const payload = Buffer.from(value, 'base64url');
  return payload.length % 6 === 0 ? payload : undefined;
}

/** Whether `Upgrade` names h2c (the only protocol HTTP/2 can be upgraded to in cleartext). */
export function isH2cUpgrade(head: RequestHead): boolean {
  const upgrade = head.upgrade;
  if (upgrade === undefined) return false;
  return upgrade.split(',').some((token) => token.trim().toLowerCase() === 'h2c');
}

/** The answer that switches a connection to h2c (RFC 7540 §3.2); the server's preface follows. */
export const switchingToH2c = 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n';

/**
 * The upgraded request as stream 1's header fields (RFC 7540 §3.2: it becomes stream 1 of the
 * new connection): pseudo-headers from the request line and `Host` (as `:authority`), names in
 * lower case, connection-specific fields left out (RFC 9113 §8.2.2; `te` only as `trailers`),
 * `HTTP2-Settings` and `Upgrade` too.
 */
export function upgradeFields(head: RequestHead): Field[] {
  const fields: Field[] = [
    [':method', head.method],
    [':scheme', 'http'],
  ];
  if (head.host !== undefined) fields.push([':authority', head.host]);
  fields.push([':path', requestPath(head.target)]);
  const h = head.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = (h[i] as string).toLowerCase();
    const value = h[i + 1] as string;
    if (name === 'host' || name === 'http2-settings') continue;
    if (name === 'te' ? value.toLowerCase() !== 'trailers' : isHopByHop(name, head.connection)) continue;
    fields.push([name, name === 'te' ? 'trailers' : value]);
  }
  return fields;
}
