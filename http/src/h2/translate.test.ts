import { describe, expect, it } from 'vitest';
import type { RequestHead } from '../http1/parse.ts';
import type { Field } from './hpack.ts';
import {
  chunk,
  fieldsOf,
  h2RequestHeaders,
  http1ResponseHead,
  lastChunk,
  requestPath,
  wantsTrailers,
} from './translate.ts';

const head = (headers: string[], extra: Partial<RequestHead> = {}): RequestHead => ({
  method: 'POST',
  target: '/p?q=1',
  minor: 1,
  headers,
  contentLength: undefined,
  chunked: false,
  connection: [],
  host: 'svc.example',
  upgrade: undefined,
  expectContinue: false,
  ...extra,
});

describe('HTTP/1.1 → HTTP/2 request headers', () => {
  it('drops connection-specific fields, keeps te only as trailers, and names the authority', () => {
    const out = h2RequestHeaders(
      head(
        [
          'Host',
          'svc.example',
          'Connection',
          'keep-alive, X-Hop',
          'Keep-Alive',
          'timeout=5',
          'X-Hop',
          'gone',
          'Transfer-Encoding',
          'chunked',
          'TE',
          'trailers',
          'Upgrade',
          'h2c',
          'HTTP2-Settings',
          'AAMAAABkAAQAAP__',
          'Content-Type',
          'application/grpc',
          'Cookie',
          'a=1',
          'Cookie',
          'b=2',
        ],
        { connection: ['keep-alive', 'x-hop'] },
      ),
      '10.0.0.1',
      { name: 'k-proxy-request', value: 'activator' },
      'https',
      '127.0.0.1:8012',
    );
    expect(out).toEqual({
      ':method': 'POST',
      ':path': '/p?q=1',
      ':scheme': 'http',
      ':authority': 'svc.example',
      te: 'trailers',
      'content-type': 'application/grpc',
      cookie: 'a=1; b=2',
      'x-forwarded-for': '10.0.0.1',
      'x-forwarded-proto': 'https',
      forwarded: 'for=10.0.0.1;host=svc.example;proto=https',
      'k-proxy-request': 'activator',
    });
  });

  it.each([
    ['te other than trailers', ['TE', 'gzip'], undefined],
    ['te trailers in any case', ['te', 'Trailers'], 'trailers'],
  ])('%s', (_name, headers, te) => {
    expect(h2RequestHeaders(head(headers), '1.2.3.4', undefined, undefined, 'x').te).toBe(te);
  });

  it.each([
    ['/a?b', '/a?b'],
    ['http://svc.example/a?b', '/a?b'],
    ['HTTPS://svc.example', '/'],
    ['http://svc.example?x', '/?x'],
  ])('path of %s is %s', (target, path) => {
    expect(requestPath(target)).toBe(path);
  });
});

describe('HTTP/2 → HTTP/1.1 response head', () => {
  it.each([
    ['a length frames the body', { 'content-length': '5' }, 1, true, false, 5],
    ['no length over HTTP/1.1: chunked', {}, 1, true, true, undefined],
    ['no length over HTTP/1.0: closed after', {}, 0, true, false, undefined],
    ['no body (HEAD, 204, 304): not chunked', {}, 1, false, false, undefined],
  ] as const)('%s', (_name, extra, minor, hasBody, chunked, length) => {
    const fields: Field[] = [[':status', '200'], ['content-type', 'text/plain'], ...Object.entries(extra)];
    const h = http1ResponseHead(200, fields, minor, hasBody);
    expect(h.status).toBe(200);
    expect(h.reason).toBe('OK');
    expect(h.chunked).toBe(chunked);
    expect(h.contentLength).toBe(length);
    expect(h.headers.includes('transfer-encoding')).toBe(chunked);
    expect(h.headers.some((n) => n.startsWith(':'))).toBe(false);
  });

  it('passes repeated fields one line each', () => {
    const fields = fieldsOf({ ':status': 200, 'set-cookie': ['a=1', 'b=2'], connection: 'close' });
    const h = http1ResponseHead(200, fields, 1, false);
    expect(h.headers).toEqual(['set-cookie', 'a=1', 'set-cookie', 'b=2']);
  });

  it('frames chunks and puts trailers after the last one', () => {
    expect(chunk(Buffer.from('hello world!')).toString()).toBe('c\r\nhello world!\r\n');
    expect(lastChunk(undefined)).toBe('0\r\n\r\n');
    const trailers: Field[] = [
      ['grpc-status', '0'],
      ['grpc-message', 'ok'],
      ['connection', 'x'],
    ];
    expect(lastChunk(trailers)).toBe('0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\n\r\n');
  });

  it.each([
    [['TE', 'trailers'], true],
    [['te', 'deflate;q=0.5, Trailers'], true],
    [['te', 'deflate'], false],
    [['x-te', 'trailers'], false],
    [[], false],
  ])('TE %j takes trailers: %s', (headers, expected) => {
    expect(wantsTrailers(head(headers))).toBe(expected);
  });
});
