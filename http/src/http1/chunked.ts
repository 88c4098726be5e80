/**
 * Finds where a chunked body ends (RFC 9112 §7.1) without decoding it: the queue-proxy forwards
 * chunked bytes as they are and only needs to know which bytes belong to this message.
 */

const State = {
  size: 0,
  ext: 1,
  sizeLf: 2,
  data: 3,
  dataCr: 4,
  dataLf: 5,
  trailerStart: 6,
  trailer: 7,
  trailerLf: 8,
  lastLf: 9,
  done: 10,
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

  /**
   * Scans `buf` from `start`. Returns the index just past the body's last byte when the body ends
   * inside `buf`, `-1` when all of `buf` belongs to the body, or a message when it is malformed.
   */
  scan(buf: Uint8Array, start = 0): number | string {
    let i = start;
    const n = buf.length;
    while (i < n) {
      switch (this.#state) {
        case State.data: {
          const take = Math.min(this.#remaining, n - i);
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
          } else if (c === 59 || c === 32 || c === 9) {
            this.#state = State.ext;
            this.#line = 0;
          } else return 'invalid chunk size';
          break;
        }
        case State.ext: {
          const c = buf[i] as number;
          if (c === 13) this.#state = State.sizeLf;
          else if (c === 10 || ++this.#line > maxLine) return 'invalid chunk extension';
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

function hex(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}
