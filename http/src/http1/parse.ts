/**
 * Strict HTTP/1.1 message heads (RFC 9112), parsed and written as text. Skiff's proxies forward
 * bodies byte for byte and only rewrite heads, so this is all the HTTP they need; every ambiguity
 * a request smuggler could use (two lengths, obsolete line folding, stray control characters,
 * unknown transfer codings) is refused rather than guessed at.
 */

export interface Head {
  /** Header names as sent and values with surrounding whitespace removed, flat: `[n0, v0, n1, v1, ...]`. */
  headers: string[];
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: 0 | 1;
  /** Body length from `Content-Length`, when the message has one. */
  contentLength: number | undefined;
  /** `Transfer-Encoding: chunked`. */
  chunked: boolean;
  /** `Connection` tokens, lower case. */
  connection: string[];
}

export interface RequestHead extends Head {
  method: string;
  target: string;
  host: string | undefined;
  upgrade: string | undefined;
  expectContinue: boolean;
}

export interface ResponseHead extends Head {
  status: number;
  reason: string;
}

export interface HeadError {
  error: number;
  message: string;
}

/** `tchar` (RFC 9110 §5.6.2) by character code: a table, cheaper than a regular expression per header. */
const tchars = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
  tchars[c.charCodeAt(0)] = 1;

/** A non-empty run of `tchar`s: a header name or a method. */
function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || tchars[c] === 0) return false;
  }
  return true;
}
/** Field values may hold visible characters, spaces, tabs and obs-text, nothing else. */
function badValueChar(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127) return true;
  }
  return false;
}

/** A request target holds no whitespace or control characters. */
function badTargetChar(target: string): boolean {
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c <= 32 || c === 127) return true;
  }
  return false;
}

function fail(error: number, message: string): HeadError {
  return { error, message };
}

/**
 * What `String.prototype.trim` removes, within latin1 (heads are read as latin1): HT, LF, VT, FF,
 * CR, SP and NBSP. Values are trimmed of exactly these, as they were with `trim()`, so that the
 * accept/reject decisions of the conformance table stay as they are.
 */
function trimmed(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 160;
}

/**
 * Parses the header lines of `text` from `start` (the first line after the start line) into
 * `head`, checking framing headers; returns an error or undefined. The text is scanned in place,
 * line by line, rather than split into lines and trimmed: one string per name and per value is
 * all a head costs (an allocation profile of the router under load had `split`, `trim` and this
 * function at a quarter of the bytes allocated per request).
 */
function parseFields(text: string, start: number, head: Head): HeadError | undefined {
  let lengths: string | undefined;
  let te: string | undefined;
  const length = text.length;
  let at = start;
  while (at < length) {
    let end = text.indexOf('\r\n', at);
    if (end < 0) end = length;
    const first = text.charCodeAt(at);
    if (first === 32 || first === 9) return fail(400, 'obsolete line folding is not allowed');
    const colon = text.indexOf(':', at);
    if (colon <= at || colon >= end) return fail(400, 'malformed header line');
    const name = text.slice(at, colon);
    if (!isToken(name)) return fail(400, `invalid header name ${JSON.stringify(name)}`);
    let from = colon + 1;
    let to = end;
    while (from < to && trimmed(text.charCodeAt(from))) from++;
    while (to > from && trimmed(text.charCodeAt(to - 1))) to--;
    const value = text.slice(from, to);
    if (badValueChar(value)) return fail(400, `invalid character in header ${name}`);
    head.headers.push(name, value);
    at = end + 2;
    const lower = name.length === 14 || name.length === 17 || name.length === 10 ? name.toLowerCase() : '';
    if (lower === 'content-length') {
      // One rule for every hop, as llhttp: one Content-Length, one decimal number. A repeated
      // header or a list ("5, 5"), which RFC 9110 §8.6 lets a recipient accept, is refused.
      if (lengths !== undefined) return fail(400, 'more than one Content-Length');
      lengths = value;
    } else if (lower === 'transfer-encoding') {
      te = te === undefined ? value : `${te}, ${value}`;
    } else if (lower === 'connection') {
      for (const t of value.split(',')) {
        const token = t.trim().toLowerCase();
        if (token) head.connection.push(token);
      }
    }
  }
  if (te !== undefined) {
    if (lengths !== undefined) return fail(400, 'both Transfer-Encoding and Content-Length');
    const codings = te
      .toLowerCase()
      .split(',')
      .map((c) => c.trim());
    if (codings.length !== 1 || codings[0] !== 'chunked') {
      return codings.at(-1) === 'chunked' || codings.includes('chunked')
        ? fail(400, `unsupported Transfer-Encoding ${JSON.stringify(te)}`)
        : fail(501, `unsupported Transfer-Encoding ${JSON.stringify(te)}`);
    }
    head.chunked = true;
  }
  if (lengths !== undefined) {
    if (!isDecimal(lengths)) return fail(400, `invalid Content-Length ${JSON.stringify(lengths)}`);
    head.contentLength = Number(lengths);
  }
  return undefined;
}

/** One to fifteen ASCII digits (a Content-Length). */
function isDecimal(s: string): boolean {
  if (s.length === 0 || s.length > 15) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** The end of the first line of `text` (its length when it has one line). */
function firstLineEnd(text: string): number {
  const end = text.indexOf('\r\n');
  return end < 0 ? text.length : end;
}

/** Parses a request head (without the final blank line). */
export function parseRequestHead(text: string): RequestHead | HeadError {
  const lineEnd = firstLineEnd(text);
  const requestLine = lineEnd === text.length ? text : text.slice(0, lineEnd);
  const sp1 = requestLine.indexOf(' ');
  const sp2 = requestLine.lastIndexOf(' ');
  if (sp1 <= 0 || sp2 === sp1) return fail(400, 'malformed request line');
  const method = requestLine.slice(0, sp1);
  const target = requestLine.slice(sp1 + 1, sp2);
  const version = requestLine.slice(sp2 + 1);
  if (!isToken(method)) return fail(400, 'invalid method');
  if (target.length === 0 || badTargetChar(target)) return fail(400, 'invalid request target');
  let minor: 0 | 1;
  if (version === 'HTTP/1.1') minor = 1;
  else if (version === 'HTTP/1.0') minor = 0;
  else if (/^HTTP\/\d\.\d$/.test(version)) return fail(505, 'HTTP version not supported');
  else return fail(400, 'malformed request line');
  const head: RequestHead = {
    method,
    target,
    minor,
    headers: [],
    contentLength: undefined,
    chunked: false,
    connection: [],
    host: undefined,
    upgrade: undefined,
    expectContinue: false,
  };
  // A tunnel is not something Skiff's hops offer: refused, never forwarded to the app.
  if (method === 'CONNECT') return fail(501, 'CONNECT is not supported');
  const err = parseFields(text, lineEnd + 2, head);
  if (err) return err;
  // HTTP/1.0 has no chunked coding: a Transfer-Encoding there frames nothing we can trust
  // (RFC 9112 §6.1; llhttp reads the body as chunked, we refuse it).
  if (minor === 0 && head.chunked) return fail(400, 'Transfer-Encoding in an HTTP/1.0 request');
  let hosts = 0;
  const h = head.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i] as string;
    if (name.length === 4 && name.toLowerCase() === 'host') {
      hosts++;
      head.host = h[i + 1];
    } else if (name.length === 7 && name.toLowerCase() === 'upgrade') head.upgrade = h[i + 1];
    else if (name.length === 6 && name.toLowerCase() === 'expect') {
      if ((h[i + 1] as string).toLowerCase() === '100-continue') head.expectContinue = true;
      else return fail(417, `unsupported Expect ${JSON.stringify(h[i + 1])}`);
    }
  }
  if (hosts > 1) return fail(400, 'more than one Host header');
  if (hosts === 0 && minor === 1) return fail(400, 'missing Host header');
  if (target.charCodeAt(0) !== 47 && target !== '*') {
    // absolute-form: the target's authority is the host, whatever Host says (RFC 9112 §3.2.2).
    const authority = absoluteAuthority(target);
    if (authority === undefined) return fail(400, 'invalid request target');
    head.host = authority;
  }
  if (head.upgrade !== undefined && !head.connection.includes('upgrade')) head.upgrade = undefined;
  return head;
}

/** The authority of an absolute-form `http(s)://authority/...` target; undefined when it is not one. */
function absoluteAuthority(target: string): string | undefined {
  const m = /^https?:\/\/([^/?#]*)/i.exec(target);
  const authority = m?.[1];
  // Userinfo is deprecated (RFC 9110 §4.2.4) and only confuses which host is meant.
  if (authority === undefined || authority === '' || authority.includes('@')) return undefined;
  return authority;
}

/** Parses a response head (without the final blank line). */
export function parseResponseHead(text: string): ResponseHead | HeadError {
  const lineEnd = firstLineEnd(text);
  const line = lineEnd === text.length ? text : text.slice(0, lineEnd);
  // `HTTP/1.x NNN[ reason]`, read by character (a regular expression per response cost more).
  const minor = line.charCodeAt(7) - 48;
  const d0 = line.charCodeAt(9) - 48;
  const d1 = line.charCodeAt(10) - 48;
  const d2 = line.charCodeAt(11) - 48;
  if (
    !line.startsWith('HTTP/1.') ||
    (minor !== 0 && minor !== 1) ||
    line.charCodeAt(8) !== 32 ||
    !isDigit(d0) ||
    !isDigit(d1) ||
    !isDigit(d2) ||
    (line.length > 12 && line.charCodeAt(12) !== 32) ||
    (line.length > 13 && (line.indexOf('\r', 13) >= 0 || line.indexOf('\n', 13) >= 0))
  ) {
    return fail(502, 'malformed status line from the app');
  }
  const head: ResponseHead = {
    status: d0 * 100 + d1 * 10 + d2,
    reason: line.length > 13 ? line.slice(13) : '',
    minor: minor === 1 ? 1 : 0,
    headers: [],
    contentLength: undefined,
    chunked: false,
    connection: [],
  };
  const err = parseFields(text, lineEnd + 2, head);
  if (err) return fail(502, `invalid response from the app: ${err.message}`);
  return head;
}

function isDigit(d: number): boolean {
  return d >= 0 && d <= 9;
}

export function isHeadError(x: unknown): x is HeadError {
  return typeof (x as HeadError).error === 'number';
}

/** Whether a connection stays open after this message (RFC 9112 §9.3). */
export function keepsAlive(head: Head): boolean {
  if (head.connection.includes('close')) return false;
  return head.minor === 1 || head.connection.includes('keep-alive');
}
