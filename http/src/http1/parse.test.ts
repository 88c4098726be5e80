import { describe, expect, it } from 'vitest';
import { ChunkedScanner } from './chunked.ts';
import { isHeadError, keepsAlive, parseRequestHead, parseResponseHead, type RequestHead } from './parse.ts';
import { forwardRequestHead, forwardResponseHead } from './write.ts';

const req = (lines: string[]) => parseRequestHead(lines.join('\r\n'));

describe('request heads', () => {
  it('parses a plain GET', () => {
    const head = req(['GET /a?b=c HTTP/1.1', 'Host: x.example', 'Accept:  */*  ']);
    expect(head).toMatchObject({
      method: 'GET',
      target: '/a?b=c',
      minor: 1,
      host: 'x.example',
      headers: ['Host', 'x.example', 'Accept', '*/*'],
      contentLength: undefined,
      chunked: false,
    });
  });

  it.each([
    ['a Content-Length', ['POST / HTTP/1.1', 'Host: h', 'Content-Length: 12'], { contentLength: 12 }],
    ['a chunked body', ['POST / HTTP/1.1', 'Host: h', 'Transfer-Encoding: Chunked'], { chunked: true }],
    [
      'connection tokens',
      ['GET / HTTP/1.1', 'Host: h', 'Connection: close, X-Foo'],
      { connection: ['close', 'x-foo'] },
    ],
    [
      'an upgrade',
      ['GET / HTTP/1.1', 'Host: h', 'Connection: Upgrade', 'Upgrade: websocket'],
      { upgrade: 'websocket' },
    ],
    [
      'an Upgrade without Connection: upgrade is ignored',
      ['GET / HTTP/1.1', 'Host: h', 'Upgrade: websocket'],
      { upgrade: undefined },
    ],
    [
      'Expect: 100-continue',
      ['PUT / HTTP/1.1', 'Host: h', 'Expect: 100-Continue', 'Content-Length: 1'],
      { expectContinue: true },
    ],
    ['HTTP/1.0 without Host', ['GET / HTTP/1.0'], { minor: 0, host: undefined }],
  ] as const)('reads %s', (_name, lines, expected) => {
    const head = req([...lines]);
    expect(isHeadError(head)).toBe(false);
    expect(head).toMatchObject(expected);
  });

  it.each([
    [
      'both Transfer-Encoding and Content-Length (smuggling)',
      ['POST / HTTP/1.1', 'Host: h', 'Content-Length: 3', 'Transfer-Encoding: chunked'],
      400,
    ],
    [
      'conflicting Content-Length values',
      ['POST / HTTP/1.1', 'Host: h', 'Content-Length: 3', 'Content-Length: 4'],
      400,
    ],
    ['a non-numeric Content-Length', ['POST / HTTP/1.1', 'Host: h', 'Content-Length: 3x'], 400],
    ['a negative Content-Length', ['POST / HTTP/1.1', 'Host: h', 'Content-Length: -1'], 400],
    ['chunked not last', ['POST / HTTP/1.1', 'Host: h', 'Transfer-Encoding: chunked, gzip'], 400],
    ['an unknown transfer coding', ['POST / HTTP/1.1', 'Host: h', 'Transfer-Encoding: gzip'], 501],
    ['obsolete line folding', ['GET / HTTP/1.1', 'Host: h', 'X-A: 1', ' continued'], 400],
    ['whitespace before the colon', ['GET / HTTP/1.1', 'Host : h'], 400],
    ['a control character in a value', ['GET / HTTP/1.1', 'Host: h', 'X-A: a\x00b'], 400],
    ['a bare LF inside a line', ['GET / HTTP/1.1', 'Host: h\nX-Evil: 1'], 400],
    ['a line without a colon', ['GET / HTTP/1.1', 'Host: h', 'garbage'], 400],
    ['a missing Host in HTTP/1.1', ['GET / HTTP/1.1'], 400],
    ['two Host headers', ['GET / HTTP/1.1', 'Host: a', 'Host: b'], 400],
    ['a malformed request line', ['GET/HTTP/1.1', 'Host: h'], 400],
    ['a space in the target', ['GET /a b HTTP/1.1', 'Host: h'], 400],
    ['an invalid method', ['G(T / HTTP/1.1', 'Host: h'], 400],
    ['HTTP/2.0 in an HTTP/1 request line', ['GET / HTTP/2.0', 'Host: h'], 505],
    ['an unknown Expect', ['GET / HTTP/1.1', 'Host: h', 'Expect: magic'], 417],
  ] as const)('refuses %s', (_name, lines, status) => {
    const head = req([...lines]);
    expect(isHeadError(head) && head.error).toBe(status);
  });

  it('knows when a connection stays open', () => {
    const h = (lines: string[]) => req(lines) as RequestHead;
    expect(keepsAlive(h(['GET / HTTP/1.1', 'Host: h']))).toBe(true);
    expect(keepsAlive(h(['GET / HTTP/1.1', 'Host: h', 'Connection: close']))).toBe(false);
    expect(keepsAlive(h(['GET / HTTP/1.0']))).toBe(false);
    expect(keepsAlive(h(['GET / HTTP/1.0', 'Connection: keep-alive']))).toBe(true);
  });
});

describe('response heads', () => {
  it('parses a status line and framing', () => {
    expect(parseResponseHead('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive')).toMatchObject({
      status: 200,
      reason: 'OK',
      contentLength: 5,
      connection: ['keep-alive'],
    });
    expect(parseResponseHead('HTTP/1.1 204')).toMatchObject({ status: 204, reason: '' });
  });

  it('answers 502 for a garbled response', () => {
    const head = parseResponseHead('HTP/1.1 200 OK');
    expect(isHeadError(head) && head.error).toBe(502);
  });

  it('reads a status line as `HTTP/1.x NNN[ reason]`, nothing else', () => {
    const good: [string, number, 0 | 1, string][] = [
      ['HTTP/1.1 200 OK', 200, 1, 'OK'],
      ['HTTP/1.0 404 Not Found', 404, 0, 'Not Found'],
      ['HTTP/1.1 204', 204, 1, ''],
      ['HTTP/1.1 200 ', 200, 1, ''],
      ['HTTP/1.1 599 a  b\t', 599, 1, 'a  b\t'],
      ['HTTP/1.1 007 x', 7, 1, 'x'],
    ];
    for (const [line, status, minor, reason] of good) {
      expect(parseResponseHead(line), line).toMatchObject({ status, minor, reason });
    }
    const bad = [
      'HTTP/1.2 200 OK',
      'HTTP/2.0 200 OK',
      'http/1.1 200 OK',
      'HTTP/1.1 20 OK',
      'HTTP/1.1 2000 OK',
      'HTTP/1.1  200 OK',
      'HTTP/1.1 2x0 OK',
      'HTTP/1.1 200OK',
      'HTTP/1.1\t200 OK',
      'HTTP/1.1 200 O\nK',
      'HTTP/1.1 200 OK\r',
      'HTTP/1.1',
      '',
    ];
    for (const line of bad) {
      const head = parseResponseHead(line);
      expect(isHeadError(head) && head.error, JSON.stringify(line)).toBe(502);
    }
  });
});

describe('forwarded heads', () => {
  const head = req([
    'POST /x HTTP/1.1',
    'Host: hello.default.localhost',
    'Connection: keep-alive, X-Hop',
    'Keep-Alive: timeout=5',
    'X-Hop: 1',
    'Proxy-Authorization: secret',
    'TE: trailers',
    'Content-Length: 3',
    'X-Forwarded-For: 10.0.0.1',
    'X-Forwarded-Proto: https',
  ]) as RequestHead;

  it('drops hop-by-hop headers and those Connection names, keeps framing', () => {
    const text = forwardRequestHead(head, '127.0.0.1');
    expect(text.startsWith('POST /x HTTP/1.1\r\n')).toBe(true);
    expect(text.endsWith('\r\n\r\n')).toBe(true);
    expect(text).toContain('Content-Length: 3\r\n');
    for (const gone of ['Connection:', 'Keep-Alive', 'X-Hop', 'Proxy-Authorization', 'TE:'])
      expect(text).not.toContain(gone);
  });

  it('appends this hop to X-Forwarded-For and Forwarded, keeps the router proto', () => {
    const text = forwardRequestHead(head, '127.0.0.1', undefined, true);
    expect(text).toContain('x-forwarded-for: 10.0.0.1, 127.0.0.1\r\n');
    expect(text).toContain('X-Forwarded-Proto: https\r\n');
    expect(text).toContain('x-forwarded-host: hello.default.localhost\r\n');
    expect(text).toContain('forwarded: for=10.0.0.1;host=hello.default.localhost;proto=https\r\n');
  });

  it("names this hop's client in Forwarded unless the previous hop is trusted", () => {
    expect(forwardRequestHead(head, '127.0.0.1')).toContain(
      'forwarded: for=127.0.0.1;host=hello.default.localhost;proto=https\r\n',
    );
  });

  it("sets or drops the hop's own header", () => {
    const marked = req(['GET / HTTP/1.1', 'Host: h', 'K-Proxy-Request: activator']) as RequestHead;
    const own = (value: string | undefined) => forwardRequestHead(marked, '::1', { name: 'k-proxy-request', value });
    expect(own(undefined)).not.toContain('activator');
    expect(own('activator').match(/activator/g)).toHaveLength(1);
  });

  it('quotes IPv6 clients in Forwarded', () => {
    const text = forwardRequestHead(req(['GET / HTTP/1.1', 'Host: h']) as RequestHead, '::1');
    expect(text).toContain('forwarded: for="[::1]";host=h;proto=http\r\n');
  });

  it('quotes a host that is not a token in Forwarded, escaping quotes and backslashes', () => {
    const forwardedOf = (host: string) =>
      forwardRequestHead(req(['GET / HTTP/1.1', `Host: ${host}`]) as RequestHead, '1.2.3.4');
    expect(forwardedOf('h:8080')).toContain('forwarded: for=1.2.3.4;host="h:8080";proto=http\r\n');
    expect(forwardedOf('a"b\\c')).toContain('forwarded: for=1.2.3.4;host="a\\"b\\\\c";proto=http\r\n');
  });

  it('keeps Upgrade for a protocol switch', () => {
    const text = forwardRequestHead(
      req(['GET / HTTP/1.1', 'Host: h', 'Connection: upgrade', 'Upgrade: websocket']) as RequestHead,
      '1.2.3.4',
    );
    expect(text).toContain('connection: upgrade\r\nupgrade: websocket\r\n');
  });

  it("rewrites the app's response head for the client's connection", () => {
    const resp = parseResponseHead(
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nSet-Cookie: a=1',
    );
    if (isHeadError(resp)) throw new Error(resp.message);
    expect(forwardResponseHead(resp, false, false)).toBe(
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nSet-Cookie: a=1\r\n\r\n',
    );
    expect(forwardResponseHead(resp, true, false)).toContain('connection: close\r\n');
  });
});

describe('chunked bodies', () => {
  const body = Buffer.from('5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT');

  it('finds the end of a chunked body in one buffer', () => {
    expect(new ChunkedScanner().scan(body)).toBe(body.length - 4);
  });

  it('finds the same end however the bytes are split', () => {
    for (let cut = 1; cut < body.length - 4; cut++) {
      const s = new ChunkedScanner();
      expect(s.scan(body.subarray(0, cut))).toBe(-1);
      expect(s.scan(body.subarray(cut))).toBe(body.length - 4 - cut);
    }
  });

  it('handles one byte at a time', () => {
    const s = new ChunkedScanner();
    let end = -1;
    for (let i = 0; i < body.length && end < 0; i++) {
      const r = s.scan(body.subarray(i, i + 1));
      if (typeof r === 'number' && r >= 0) end = i;
    }
    expect(end).toBe(body.length - 5);
    expect(s.done).toBe(true);
  });

  it.each([
    ['a non-hex size', 'zz\r\n'],
    ['data without CRLF', '3\r\nabcX\r\n'],
    ['a bare LF after the size', '3\nabc\r\n'],
    ['a huge size', 'fffffffffffffff\r\n'],
  ])('rejects %s', (_name, text) => {
    expect(typeof new ChunkedScanner().scan(Buffer.from(text))).toBe('string');
  });
});
