// Test data and a raw client for the HTTP/1.1 conformance table, shared by the engine's own test
// (beside the parser) and the suite that runs it through both hops (`test/data-plane/`).
import { connect } from 'node:net';

/**
 * HTTP/1.1 request conformance (RFC 9112), each case run through the engine both hops use and
 * through Node's own parser (llhttp, `node:http`): the two must take the same accept/reject
 * decision, unless the case is marked `stricter` (refused here on purpose, accepted by llhttp).
 * Accepted = the app behind answered 2xx; refused = the hop (or llhttp) answered 4xx/5xx itself or
 * closed. A case that hangs fails: a malformed head must be refused at once, not at the 408.
 */
export interface ConformanceCase {
  name: string;
  raw: string;
  accept: boolean;
  /** Refused here, accepted by llhttp: why. */
  stricter?: string;
  /** The status this engine answers with when it refuses. */
  status?: number;
  /** Names no host: a router has nothing to route it by (404). */
  noHost?: true;
}

const get = 'GET /upload HTTP/1.1\r\nHost: h\r\n';
const chunkedPost = 'POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n';
export const conformanceCases: ConformanceCase[] = [
  // Accepted.
  { name: 'a plain GET', raw: `${get}\r\n`, accept: true },
  {
    name: 'a body by Content-Length',
    raw: 'POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello',
    accept: true,
  },
  { name: 'a chunked body', raw: `${chunkedPost}5\r\nhello\r\n0\r\n\r\n`, accept: true },
  {
    name: 'chunk extensions, token and quoted',
    raw: `${chunkedPost}5;a=b;c="d \\" e";f\r\nhello\r\n0\r\n\r\n`,
    accept: true,
  },
  { name: 'a chunked body with trailers', raw: `${chunkedPost}5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n`, accept: true },
  {
    name: 'Transfer-Encoding in another case',
    raw: 'POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n',
    accept: true,
  },
  { name: 'empty lines (CRLF) before the request line', raw: `\r\n\r\n${get}\r\n`, accept: true },
  { name: 'an empty line (bare LF) before the request line', raw: `\n${get}\r\n`, accept: true },
  { name: 'an absolute-form target', raw: 'GET http://h/upload HTTP/1.1\r\nHost: other\r\n\r\n', accept: true },
  { name: 'HTTP/1.0 without Host', raw: 'GET /upload HTTP/1.0\r\n\r\n', accept: true, noHost: true },
  {
    name: 'Expect: 100-continue',
    raw: 'PUT /upload HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx',
    accept: true,
  },
  { name: 'a header value with obs-text', raw: `${get}X-A: caf\xe9\r\n\r\n`, accept: true },
  // Smuggling and framing.
  {
    name: 'Content-Length and Transfer-Encoding together',
    raw: 'POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    accept: false,
    status: 400,
  },
  {
    name: 'two different Content-Lengths',
    raw: 'POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
    accept: false,
    status: 400,
  },
  {
    name: 'two equal Content-Lengths',
    raw: 'POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello',
    accept: false,
    status: 400,
  },
  {
    name: 'a Content-Length list "5, 5"',
    raw: 'POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello',
    accept: false,
    status: 400,
  },
  {
    name: 'a signed Content-Length',
    raw: 'POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nhello',
    accept: false,
    status: 400,
  },
  {
    name: 'a Content-Length with letters',
    raw: 'POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5x\r\n\r\nhello',
    accept: false,
    status: 400,
  },
  {
    name: 'chunked not last',
    raw: 'POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n',
    accept: false,
  },
  {
    name: 'Transfer-Encoding twice, chunked twice',
    raw: 'POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    accept: false,
    status: 400,
  },
  {
    name: 'Transfer-Encoding on HTTP/1.0',
    raw: 'POST /upload HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    accept: false,
    status: 400,
    stricter: 'HTTP/1.0 has no chunked coding (RFC 9112 §6.1): which framing the next hop reads is a guess',
  },
  {
    name: 'a chunk extension with a stray quote',
    raw: `${chunkedPost}5;a"b\r\nhello\r\n0\r\n\r\n`,
    accept: false,
    status: 400,
  },
  {
    name: 'a chunk extension without a name',
    raw: `${chunkedPost}5;=b\r\nhello\r\n0\r\n\r\n`,
    accept: false,
    status: 400,
    stricter: 'chunk-ext-name is a token of at least one character (RFC 9112 §7.1.1); the grammar is checked whole',
  },
  {
    name: 'a chunk extension with a control character',
    raw: `${chunkedPost}5;a=\x01\r\nhello\r\n0\r\n\r\n`,
    accept: false,
    status: 400,
  },
  {
    name: 'whitespace before a chunk extension',
    raw: `${chunkedPost}5 ;a=b\r\nhello\r\n0\r\n\r\n`,
    accept: false,
    status: 400,
  },
  { name: 'an invalid chunk size', raw: `${chunkedPost}x\r\nhello\r\n0\r\n\r\n`, accept: false, status: 400 },
  {
    name: 'a chunk size past 2^52',
    raw: `${chunkedPost}fffffffffffffffff\r\nhello\r\n0\r\n\r\n`,
    accept: false,
    status: 400,
  },
  { name: 'chunk data longer than its size', raw: `${chunkedPost}3\r\nhello\r\n0\r\n\r\n`, accept: false, status: 400 },
  {
    name: 'a chunk size line ending in a bare LF',
    raw: `${chunkedPost}5\nhello\r\n0\r\n\r\n`,
    accept: false,
    status: 400,
  },
  // Head syntax.
  { name: 'a head with bare-LF line endings', raw: 'GET /upload HTTP/1.1\nHost: h\n\n', accept: false, status: 400 },
  {
    name: 'a bare LF inside a head',
    raw: 'GET /upload HTTP/1.1\r\nHost: h\nX-A: 1\r\n\r\n',
    accept: false,
    status: 400,
  },
  { name: 'a bare CR in a header value', raw: `${get}X-A: a\rb\r\n\r\n`, accept: false, status: 400 },
  { name: 'a NUL in a header value', raw: `${get}X-A: a\x00b\r\n\r\n`, accept: false, status: 400 },
  { name: 'obsolete line folding', raw: `${get}X-A: a\r\n b\r\n\r\n`, accept: false, status: 400 },
  { name: 'whitespace before the colon', raw: 'GET /upload HTTP/1.1\r\nHost : h\r\n\r\n', accept: false, status: 400 },
  { name: 'a header name with a bad character', raw: `${get}X(A): 1\r\n\r\n`, accept: false, status: 400 },
  { name: 'a header line without a colon', raw: `${get}X-A\r\n\r\n`, accept: false, status: 400 },
  { name: 'no Host in HTTP/1.1', raw: 'GET /upload HTTP/1.1\r\n\r\n', accept: false, status: 400 },
  {
    name: 'two Host headers',
    raw: 'GET /upload HTTP/1.1\r\nHost: h\r\nHost: g\r\n\r\n',
    accept: false,
    status: 400,
    stricter: 'RFC 9112 §3.2 says 400; a hop routing by one Host and an app reading the other is a smuggling path',
  },
  { name: 'a method with a bad character', raw: 'G(T /upload HTTP/1.1\r\nHost: h\r\n\r\n', accept: false, status: 400 },
  {
    name: 'HTTP/2.0 in a request line',
    raw: 'GET /upload HTTP/2.0\r\nHost: h\r\n\r\n',
    accept: false,
    status: 505,
    stricter: 'an HTTP/1.x message claiming version 2.0 is not one this hop can forward as HTTP/1.1',
  },
  { name: 'a malformed version', raw: 'GET /upload HTTP/1.1x\r\nHost: h\r\n\r\n', accept: false, status: 400 },
  {
    name: 'a control character in the target',
    raw: 'GET /upload\x01 HTTP/1.1\r\nHost: h\r\n\r\n',
    accept: false,
    status: 400,
  },
  {
    name: 'a request line with two spaces',
    raw: 'GET  /upload HTTP/1.1\r\nHost: h\r\n\r\n',
    accept: false,
    status: 400,
    stricter: 'request-line = method SP request-target SP HTTP-version, single spaces (RFC 9112 §3)',
  },
  {
    name: 'an unsupported Expect',
    raw: 'GET /upload HTTP/1.1\r\nHost: h\r\nExpect: magic\r\n\r\n',
    accept: false,
    status: 417,
  },
  { name: 'a head over 16 KiB', raw: `${get}X-A: ${'a'.repeat(17 * 1024)}\r\n\r\n`, accept: false, status: 431 },
  // Tunnels are not offered: never forwarded to the app.
  { name: 'CONNECT', raw: 'CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n', accept: false, status: 501 },
];

export interface Outcome {
  accepted: boolean;
  status: number;
  /** Host the app saw. */
  host?: string;
}

/**
 * Sends `raw` on a fresh connection and reads the first response (or the close). Accepted = 2xx
 * from the app, whose body says `app host=<Host it saw>` (or matches `appMarker`).
 */
export function exchange(port: number, raw: string, appMarker = /^app host=(.*)$/m): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      const text = data.toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      const body = /\r\n\r\n([\s\S]*)$/.exec(text)?.[1] ?? '';
      const app = appMarker.exec(body);
      resolve({ accepted: status >= 200 && status < 300 && app !== null, status, host: app?.[1] });
    };
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within 2 s: ${JSON.stringify(data.toString('latin1'))}`));
    }, 2000);
    socket.on('connect', () => socket.write(Buffer.from(raw, 'latin1')));
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      for (;;) {
        const text = data.toString('latin1');
        const headEnd = text.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        if (/^HTTP\/1\.1 100 /.test(text)) {
          data = data.subarray(headEnd + 4);
          continue;
        }
        const head = text.slice(0, headEnd);
        const length = /\r\ncontent-length: (\d+)/i.exec(head)?.[1];
        if (length !== undefined && data.length >= headEnd + 4 + Number(length)) done();
        else if (/\r\ntransfer-encoding: chunked/i.test(head) && text.endsWith('0\r\n\r\n')) done();
        return;
      }
    });
    socket.on('error', () => {});
    socket.on('close', done);
  });
}
