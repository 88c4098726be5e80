/**
 * Finds where a chunked body ends (RFC 9112 §7.1) without decoding it: the queue-proxy forwards
 * chunked bytes as they are and only needs to know which bytes belong to this message.
 */

const State = {
  size: 0,
  extName: 1,
  sizeLf: 2,
  data: 3,
  dataCr: 4,
  dataLf: 5,
  trailerStart: 6,
  trailer: 7,
  trailerLf: 8,
  lastLf: 9,
  done: 10,
  extNameMore: 11,
  extValue: 12,
  extToken: 13,
  extQuoted: 14,
  extQuotedPair: 15,
  extAfterValue: 16,
} as const;

const maxLine = 4096;
const maxTrailers = 16 * 1024;

export class ChunkedScanner {
  #state: number = State.size;
  #size = 0;
  #digits = 0;
  #remaining = 0;
  #line = 0;
  #trailerBytes = 0;

  get done(): boolean {
    return this.#state === State.done;
  }

  /** One byte of a chunk extension; a message when it is malformed. */
  #extension(c: number): string | undefined {
    switch (this.#state) {
      case State.extName:
        if (!isTchar(c)) return 'invalid chunk extension';
        this.#state = State.extNameMore;
        return undefined;
      case State.extNameMore:
      case State.extToken:
      case State.extAfterValue:
        if (c === 13) this.#state = State.sizeLf;
        else if (c === 59) this.#state = State.extName;
        else if (c === 61 && this.#state === State.extNameMore) this.#state = State.extValue;
        else if (this.#state === State.extAfterValue || !isTchar(c)) return 'invalid chunk extension';
        return undefined;
      case State.extValue:
        if (c === 34) this.#state = State.extQuoted;
        else if (isTchar(c)) this.#state = State.extToken;
        else return 'invalid chunk extension';
        return undefined;
      case State.extQuoted:
        // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
        if (c === 34) this.#state = State.extAfterValue;
        else if (c === 92) this.#state = State.extQuotedPair;
        else if ((c < 32 && c !== 9) || c === 127) return 'invalid chunk extension';
        return undefined;
      default:
        // quoted-pair = "\\" ( HTAB / SP / VCHAR / obs-text )
        if ((c < 32 && c !== 9) || c === 127) return 'invalid chunk extension';
        this.#state = State.extQuoted;
        return undefined;
    }
  }

  /**
   * Scans `buf` from `start`. Returns the index just past the body's last byte when the body ends
   * inside `buf`, `-1` when all of `buf` belongs to the body, or a message when it is malformed.
   * `data`, when given, is handed each run of chunk data as it is found (the body decoded, for a
   * hop that frames it anew).
   */
  scan(buf: Uint8Array, start = 0, data?: (part: Uint8Array) => void): number | string {
    let i = start;
    const n = buf.length;
    while (i < n) {
      switch (this.#state) {
        case State.data: {
          const take = Math.min(this.#remaining, n - i);
          if (data !== undefined && take > 0) data(buf.subarray(i, i + take));
          this.#remaining -= take;
          i += take;
          if (this.#remaining === 0) this.#state = State.dataCr;
          continue;
        }
        case State.size: {
          const c = buf[i] as number;
          const v = hex(c);
          if (v >= 0) {
            if (++this.#digits > 13) return 'chunk size too large';
            this.#size = this.#size * 16 + v;
          } else if (this.#digits === 0) {
            return 'invalid chunk size';
          } else if (c === 13) {
            this.#state = State.sizeLf;
          } else if (c === 59) {
            this.#state = State.extName;
            this.#line = 0;
          } else return 'invalid chunk size';
          break;
        }
        // chunk-ext = *( ";" name [ "=" ( token / quoted-string ) ] ) (RFC 9112 §7.1.1), checked
        // rather than skipped: what one parser ignores another may read (llhttp refuses it too).
        // No whitespace around ";" and "=", as llhttp.
        case State.extName:
        case State.extNameMore:
        case State.extValue:
        case State.extToken:
        case State.extQuoted:
        case State.extQuotedPair:
        case State.extAfterValue: {
          if (++this.#line > maxLine) return 'chunk extension too long';
          const problem = this.#extension(buf[i] as number);
          if (problem !== undefined) return problem;
          break;
        }
        case State.sizeLf: {
          if (buf[i] !== 10) return 'invalid chunk size line';
          if (this.#size === 0) {
            this.#state = State.trailerStart;
          } else {
            this.#remaining = this.#size;
            this.#state = State.data;
          }
          this.#size = 0;
          this.#digits = 0;
          break;
        }
        case State.dataCr:
          if (buf[i] !== 13) return 'chunk data not followed by CRLF';
          this.#state = State.dataLf;
          break;
        case State.dataLf:
          if (buf[i] !== 10) return 'chunk data not followed by CRLF';
          this.#state = State.size;
          break;
        case State.trailerStart: {
          const c = buf[i] as number;
          if (c === 13) this.#state = State.lastLf;
          else {
            this.#state = State.trailer;
            if (c === 10) return 'invalid trailer line';
          }
          if (++this.#trailerBytes > maxTrailers) return 'trailers too large';
          break;
        }
        case State.trailer: {
          const c = buf[i] as number;
          if (c === 13) this.#state = State.trailerLf;
          else if (c === 10) return 'invalid trailer line';
          if (++this.#trailerBytes > maxTrailers) return 'trailers too large';
          break;
        }
        case State.trailerLf:
          if (buf[i] !== 10) return 'invalid trailer line';
          this.#state = State.trailerStart;
          break;
        case State.lastLf:
          if (buf[i] !== 10) return 'invalid end of chunked body';
          this.#state = State.done;
          return i + 1;
        default:
          return i;
      }
      i++;
    }
    return -1;
  }
}

const tchar = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
  tchar[c.charCodeAt(0)] = 1;
function isTchar(c: number): boolean {
  return c < 128 && tchar[c] === 1;
}

function hex(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}
