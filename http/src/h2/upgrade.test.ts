import { describe, expect, it } from 'vitest';
import { isHeadError, parseRequestHead, type RequestHead } from '../http1/parse.ts';
import { h2cUpgradeSettings } from './upgrade.ts';

function head(lines: string[]): RequestHead {
  const h = parseRequestHead(lines.join('\r\n'));
  if (isHeadError(h)) throw new Error(h.message);
  return h;
}
const upgrade = ['Connection: Upgrade, HTTP2-Settings', 'Upgrade: h2c'];

describe('which HTTP/1.1 requests switch to h2c', () => {
  it.each([
    ['curl --http2', ['GET / HTTP/1.1', 'Host: h', ...upgrade, 'HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA'], 18],
    ['empty settings', ['GET / HTTP/1.1', 'Host: h', ...upgrade, 'HTTP2-Settings: '], 0],
    ['Content-Length: 0', ['POST / HTTP/1.1', 'Host: h', ...upgrade, 'HTTP2-Settings: ', 'Content-Length: 0'], 0],
    ['a body', ['POST / HTTP/1.1', 'Host: h', ...upgrade, 'HTTP2-Settings: ', 'Content-Length: 5'], undefined],
    [
      'a chunked body',
      ['POST / HTTP/1.1', 'Host: h', ...upgrade, 'HTTP2-Settings: ', 'Transfer-Encoding: chunked'],
      undefined,
    ],
    ['HTTP/1.0', ['GET / HTTP/1.0', 'Host: h', ...upgrade, 'HTTP2-Settings: '], undefined],
    ['no HTTP2-Settings', ['GET / HTTP/1.1', 'Host: h', ...upgrade], undefined],
    [
      'HTTP2-Settings not in Connection',
      ['GET / HTTP/1.1', 'Host: h', 'Connection: Upgrade', 'Upgrade: h2c', 'HTTP2-Settings: '],
      undefined,
    ],
    [
      'two HTTP2-Settings',
      ['GET / HTTP/1.1', 'Host: h', ...upgrade, 'HTTP2-Settings: ', 'HTTP2-Settings: '],
      undefined,
    ],
    [
      'settings not whole (7 bytes)',
      ['GET / HTTP/1.1', 'Host: h', ...upgrade, 'HTTP2-Settings: AAMAAABkAA'],
      undefined,
    ],
    ['not base64url', ['GET / HTTP/1.1', 'Host: h', ...upgrade, 'HTTP2-Settings: AAMA+ABk'], undefined],
    [
      'a WebSocket upgrade',
      ['GET / HTTP/1.1', 'Host: h', 'Connection: Upgrade, HTTP2-Settings', 'Upgrade: websocket', 'HTTP2-Settings: '],
      undefined,
    ],
  ])('%s', (_name, lines, bytes) => {
    expect(h2cUpgradeSettings(head(lines))?.length).toBe(bytes);
  });
});
