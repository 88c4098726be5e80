import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { isHopByHop } from '@skiff/shared';
import type { RequestHead } from '../http1/parse.ts';
import { preface, socketStream } from './accept.ts';
import { requestPath } from './translate.ts';

const switching = 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n';
/** SETTINGS_MAX_FRAME_SIZE's initial value: no frame this hop makes up is larger. */
const maxFrame = 16_384;
const frameHeaders = 0x1;
const frameSettings = 0x4;
const frameContinuation = 0x9;
const flagEndStream = 0x1;
const flagEndHeaders = 0x4;

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

/**
 * Switches a connection from HTTP/1.1 to h2c after `head` (RFC 7540 §3.2): answers 101 and hands
 * `accept` a stream that speaks HTTP/2 from its first byte, as a prior-knowledge connection would.
 * `node:http2` has no server side of the upgrade, so the stream opens with what the client would
 * have sent had it known: the preface, the `HTTP2-Settings` as a SETTINGS frame, and the request
 * as stream 1's HEADERS (ended: the request had no body); the client's own preface, which follows
 * the 101, is checked and dropped. Every later byte passes through untouched.
 */
export function upgradeToH2c(
  socket: Socket,
  head: RequestHead,
  settings: Buffer,
  buffered: Buffer | undefined,
  accept: (stream: Duplex) => void,
): void {
  socket.write(switching, 'latin1');
  const opening = Buffer.concat([preface, frame(frameSettings, 0, 0, settings), ...headersFrames(head)]);
  accept(socketStream(socket, opening, { buffered }));
}

/** One HTTP/2 frame (RFC 9113 §4.1). */
function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(9 + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(stream, 5);
  payload.copy(out, 9);
  return out;
}

/** The request as stream 1's HEADERS (and CONTINUATION frames past 16 KiB), ending the stream. */
function headersFrames(head: RequestHead): Buffer[] {
  const block = headerBlock(head);
  const frames: Buffer[] = [];
  for (let at = 0; at === 0 || at < block.length; at += maxFrame) {
    const part = block.subarray(at, at + maxFrame);
    const last = at + maxFrame >= block.length;
    const type = at === 0 ? frameHeaders : frameContinuation;
    const flags = (at === 0 ? flagEndStream : 0) | (last ? flagEndHeaders : 0);
    frames.push(frame(type, flags, 1, part));
  }
  return frames;
}

/**
 * An HPACK header block of literals that are not indexed (RFC 7541 §6.2.2), without Huffman
 * coding: the simplest encoding every decoder takes, and the table stays empty for the client's
 * own requests. Connection-specific fields are left out (RFC 9113 §8.2.2), `Host` becomes
 * `:authority`.
 */
function headerBlock(head: RequestHead): Buffer {
  const parts: Buffer[] = [];
  const add = (name: string, value: string) => {
    parts.push(Buffer.from([0]), hpackString(name), hpackString(value));
  };
  add(':method', head.method);
  add(':scheme', 'http');
  if (head.host !== undefined) add(':authority', head.host);
  add(':path', requestPath(head.target));
  const h = head.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = (h[i] as string).toLowerCase();
    const value = h[i + 1] as string;
    if (name === 'host' || name === 'http2-settings' || name === 'upgrade') continue;
    if (name === 'te' ? value.toLowerCase() !== 'trailers' : isHopByHop(name, head.connection)) continue;
    add(name, value);
  }
  return Buffer.concat(parts);
}

/** An HPACK string literal, not Huffman coded: a 7-bit prefix length, then the bytes (latin1 as received). */
function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  const length: number[] = [];
  if (bytes.length < 127) length.push(bytes.length);
  else {
    length.push(127);
    let rest = bytes.length - 127;
    while (rest >= 128) {
      length.push((rest & 127) | 128);
      rest >>>= 7;
    }
    length.push(rest);
  }
  return Buffer.concat([Buffer.from(length), bytes]);
}
