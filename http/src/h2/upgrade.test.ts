import { describe, expect, it } from 'vitest';
import { isHeadError, parseRequestHead, type RequestHead } from '../http1/parse.ts';
import { requestHead } from './forward.ts';
import { h2cUpgradeSettings, upgradeFields } from './upgrade.ts';

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

describe('the upgraded request as stream 1', () => {
  it('has the pseudo-headers, lower-case names and no connection-specific fields, and is a valid HTTP/2 request', () => {
    const h = head([
      'GET http://h:8080/a?b=1 HTTP/1.1',
      'Host: h:8080',
      'Connection: Upgrade, HTTP2-Settings, X-Hop',
      'Upgrade: h2c',
      'HTTP2-Settings: ',
      'X-Hop: 1',
      'Keep-Alive: timeout=5',
      'TE: trailers',
      'Accept: */*',
      'Cookie: a=1',
    ]);
    const fields = upgradeFields(h);
    expect(fields).toEqual([
      [':method', 'GET'],
      [':scheme', 'http'],
      [':authority', 'h:8080'],
      [':path', '/a?b=1'],
      ['te', 'trailers'],
      ['accept', '*/*'],
      ['cookie', 'a=1'],
    ]);
    expect(requestHead(fields)).toMatchObject({ method: 'GET', target: '/a?b=1', host: 'h:8080' });
  });

  it('leaves out a TE other than trailers', () => {
    const h = head(['GET / HTTP/1.1', 'Host: h', ...upgrade, 'HTTP2-Settings: ', 'TE: gzip']);
    expect(upgradeFields(h).some(([name]) => name === 'te')).toBe(false);
  });
});
