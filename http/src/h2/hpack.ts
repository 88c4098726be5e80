// HPACK (RFC 7541), both ways, for the frame-level HTTP/2 forwarder (`frames.ts`, `forward.ts`).
//
// Written here rather than taken from npm: the registry's implementations are `hpack.js` (last
// released 2017; its compressor and decompressor are `readable-stream` streams over `obuf`/`wbuf`,
// so every header block would go through stream machinery, which is the per-call cost this
// forwarder exists to avoid) and `hpack` (one release, little use). What this needs is small:
// decode with a dynamic table and Huffman strings, encode with the static and a dynamic table.
// It passes RFC 7541 Appendix C as a table test (`hpack.test.ts`).

/** A decoding or encoding error: the connection ends with COMPRESSION_ERROR (RFC 9113 §4.3). */
export class HpackError extends Error {}

/** The static table (RFC 7541 Appendix A), index 1 first. */
export const staticTable: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];
const staticCount = staticTable.length;

/** Static-table indexes by name, and by name + value, for the encoder. */
const staticNames = new Map<string, number>();
const staticPairs = new Map<string, number>();
staticTable.forEach(([name, value], i) => {
  if (!staticNames.has(name)) staticNames.set(name, i + 1);
  if (value !== '') staticPairs.set(`${name}\0${value}`, i + 1);
});

// The Huffman code (RFC 7541 Appendix B) is canonical: codes are given out in order of length,
// then symbol. The lengths alone define it (EOS is symbol 256).
const huffmanLengths = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28,
  28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6,
  5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23,
  22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21, 20, 22, 22,
  23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, 26, 26,
  20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27,
  27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27,
  27, 27, 27, 26, 30,
];

/** The code of each symbol (for tests and the encoder), from the lengths. */
export const huffmanCodes: readonly number[] = (() => {
  const order = huffmanLengths.map((_, s) => s).sort((a, b) => huffmanLengths[a]! - huffmanLengths[b]! || a - b);
  const codes = new Array<number>(257).fill(0);
  let code = 0;
  let len = huffmanLengths[order[0]!]!;
  for (const s of order) {
    const l = huffmanLengths[s]!;
    code *= 2 ** (l - len);
    len = l;
    codes[s] = code;
    code++;
  }
  return codes;
})();

// Decoding: per code length, the first code of that length and where its symbols start in
// `bySymbolOrder` (canonical decoding, bit by bit), plus an 8-bit lookup for the short codes
// (every printable ASCII character but a few), which are most of what headers hold.
const firstCode = new Array<number>(31).fill(0);
const countOf = new Array<number>(31).fill(0);
const offsetOf = new Array<number>(31).fill(0);
const bySymbolOrder: number[] = [];
/** For each 8-bit prefix: symbol | length << 16 when a code of ≤ 8 bits starts it, else 0. */
const short = new Int32Array(256);
(() => {
  const order = huffmanLengths.map((_, s) => s).sort((a, b) => huffmanLengths[a]! - huffmanLengths[b]! || a - b);
  for (const s of order) {
    const l = huffmanLengths[s]!;
    if (countOf[l] === 0) {
      firstCode[l] = huffmanCodes[s]!;
      offsetOf[l] = bySymbolOrder.length;
    }
    countOf[l]!++;
    bySymbolOrder.push(s);
    if (l <= 8) {
      const base = huffmanCodes[s]! << (8 - l);
      for (let i = 0; i < 1 << (8 - l); i++) short[base + i] = s | (l << 16);
    }
  }
})();

/** Decodes a Huffman-coded string (RFC 7541 §5.2) to latin1 text. */
export function huffmanDecode(data: Buffer, start: number, end: number): string {
  const out: number[] = [];
  let acc = 0; // bits not yet used, right-aligned
  let bits = 0;
  let at = start;
  for (;;) {
    while (bits < 8 && at < end) {
      acc = ((acc << 8) | (data[at++] as number)) & 0xffffffff;
      bits += 8;
    }
    if (bits === 0) break;
    if (bits >= 8) {
      const hit = short[(acc >>> (bits - 8)) & 0xff] as number;
      if (hit !== 0) {
        out.push(hit & 0xffff);
        bits -= hit >>> 16;
        acc &= bits === 0 ? 0 : 0xffffffff >>> (32 - bits);
        continue;
      }
    }
    // A longer code, or the last bits: canonical decoding bit by bit.
    let code = 0;
    let len = 0;
    let symbol = -1;
    for (;;) {
      if (bits === 0) {
        if (at >= end) break;
        acc = data[at++] as number;
        bits = 8;
      }
      bits--;
      code = code * 2 + ((acc >>> bits) & 1);
      acc &= bits === 0 ? 0 : 0xffffffff >>> (32 - bits);
      len++;
      if (len > 30) throw new HpackError('invalid Huffman code');
      const i = code - (firstCode[len] as number);
      if (countOf[len] !== 0 && i >= 0 && i < (countOf[len] as number)) {
        symbol = bySymbolOrder[(offsetOf[len] as number) + i] as number;
        break;
      }
    }
    if (symbol === -1) {
      // The end: what is left must be padding, the most significant bits of EOS (all ones), < 8 bits.
      if (len > 7 || code !== 2 ** len - 1) throw new HpackError('invalid Huffman padding');
      break;
    }
    if (symbol === 256) throw new HpackError('EOS in a Huffman string');
    out.push(symbol);
  }
  if (out.length <= 4096) return String.fromCharCode.apply(null, out);
  // Long strings in slices: `apply` takes each code as an argument, and the stack has a limit.
  let text = '';
  for (let i = 0; i < out.length; i += 4096) text += String.fromCharCode.apply(null, out.slice(i, i + 4096));
  return text;
}

/** Huffman-codes latin1 text (for tests; the encoder sends raw strings). */
export function huffmanEncode(text: string): Buffer {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < text.length; i++) {
    const s = text.charCodeAt(i) & 0xff;
    let l = huffmanLengths[s] as number;
    const code = huffmanCodes[s] as number;
    while (l > 0) {
      const take = Math.min(l, 8 - bits);
      acc = (acc << take) | ((code >>> (l - take)) & ((1 << take) - 1));
      bits += take;
      l -= take;
      if (bits === 8) {
        out.push(acc);
        acc = 0;
        bits = 0;
      }
    }
  }
  if (bits > 0) out.push((acc << (8 - bits)) | ((1 << (8 - bits)) - 1));
  return Buffer.from(out);
}

/** One field as decoded: name (lower case on the wire for HTTP/2), value, latin1. */
export type Field = [name: string, value: string];

/** An entry's size in a dynamic table (RFC 7541 §4.1). */
function entrySize(name: string, value: string): number {
  return name.length + value.length + 32;
}

/** A dynamic table (RFC 7541 §2.3.2): newest first by index, kept as a ring. */
class DynamicTable {
  names: string[] = [];
  values: string[] = [];
  /** Entries ever inserted: an entry's absolute number is fixed, its index moves. */
  inserted = 0;
  /** Absolute number of the oldest entry still held. */
  oldest = 0;
  size = 0;
  max: number;

  constructor(max: number) {
    this.max = max;
  }

  get length(): number {
    return this.inserted - this.oldest;
  }

  /** Entry `index` (1 = newest), or undefined. */
  at(index: number): Field | undefined {
    if (index < 1 || index > this.length) return undefined;
    const abs = this.inserted - index;
    const slot = abs % this.names.length;
    return [this.names[slot] as string, this.values[slot] as string];
  }

  add(name: string, value: string, evicted?: (abs: number, name: string, value: string) => void): void {
    const size = entrySize(name, value);
    while (this.length > 0 && this.size + size > this.max) this.#evict(evicted);
    if (size > this.max) return; // too large: the table ends empty (RFC 7541 §4.4)
    if (this.length + 1 > this.names.length) this.#grow();
    const slot = this.inserted % this.names.length;
    this.names[slot] = name;
    this.values[slot] = value;
    this.inserted++;
    this.size += size;
  }

  resize(max: number, evicted?: (abs: number, name: string, value: string) => void): void {
    this.max = max;
    while (this.length > 0 && this.size > max) this.#evict(evicted);
  }

  #evict(evicted?: (abs: number, name: string, value: string) => void): void {
    const slot = this.oldest % this.names.length;
    const name = this.names[slot] as string;
    const value = this.values[slot] as string;
    this.size -= entrySize(name, value);
    evicted?.(this.oldest, name, value);
    this.oldest++;
  }

  #grow(): void {
    const n = Math.max(16, this.names.length * 2);
    const names = new Array<string>(n);
    const values = new Array<string>(n);
    for (let abs = this.oldest; abs < this.inserted; abs++) {
      const from = abs % (this.names.length || 1);
      names[abs % n] = this.names[from] as string;
      values[abs % n] = this.values[from] as string;
    }
    this.names = names;
    this.values = values;
  }
}

/** Decodes header blocks of one connection (its dynamic table lives across blocks). */
export class HpackDecoder {
  readonly #table: DynamicTable;
  /** The most the peer may make the table (our SETTINGS_HEADER_TABLE_SIZE). */
  readonly #limit: number;

  constructor(limit = 4096) {
    this.#limit = limit;
    this.#table = new DynamicTable(limit);
  }

  /** The header list in `block`, in order; `HpackError` when it is malformed. `maxListSize`: RFC 9113 §6.5.2's measure. */
  decode(block: Buffer, maxListSize = Number.POSITIVE_INFINITY): Field[] {
    const fields: Field[] = [];
    let at = 0;
    let listSize = 0;
    let sizeUpdates = true; // only at the start of a block (RFC 7541 §4.2)
    const end = block.length;
    while (at < end) {
      const b = block[at] as number;
      let name: string;
      let value: string;
      if (b & 0x80) {
        const [index, next] = integer(block, at, 7);
        at = next;
        const field = this.#field(index);
        name = field[0];
        value = field[1];
      } else if ((b & 0xe0) === 0x20) {
        if (!sizeUpdates) throw new HpackError('dynamic table size update after a field');
        const [size, next] = integer(block, at, 5);
        at = next;
        if (size > this.#limit) throw new HpackError('dynamic table size update past the limit');
        this.#table.resize(size);
        continue;
      } else {
        // Literal: with incremental indexing (01), without (0000) or never indexed (0001).
        const indexed = (b & 0x40) !== 0;
        const [index, next] = integer(block, at, indexed ? 6 : 4);
        at = next;
        if (index === 0) {
          const [text, after] = string(block, at);
          name = text;
          at = after;
        } else name = this.#field(index)[0];
        const [text, after] = string(block, at);
        value = text;
        at = after;
        if (indexed) this.#table.add(name, value);
      }
      sizeUpdates = false;
      listSize += name.length + value.length + 32;
      if (listSize > maxListSize) throw new HpackError('header list too large');
      fields.push([name, value]);
    }
    return fields;
  }

  #field(index: number): Field {
    if (index === 0) throw new HpackError('index 0');
    if (index <= staticCount) return staticTable[index - 1] as Field;
    const field = this.#table.at(index - staticCount);
    if (field === undefined) throw new HpackError(`index ${index} past the table`);
    return field;
  }

  /** For tests: the table's entries newest first, and its size. */
  get table(): { entries: Field[]; size: number } {
    const entries: Field[] = [];
    for (let i = 1; i <= this.#table.length; i++) entries.push(this.#table.at(i) as Field);
    return { entries, size: this.#table.size };
  }
}

/** An HPACK integer with an `n`-bit prefix at `at` (RFC 7541 §5.1): [value, next offset]. */
function integer(block: Buffer, at: number, n: number): [number, number] {
  const max = (1 << n) - 1;
  let value = (block[at] as number) & max;
  at++;
  if (value < max) return [value, at];
  let shift = 0;
  for (;;) {
    if (at >= block.length) throw new HpackError('integer cut short');
    const b = block[at++] as number;
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) break;
    if (shift > 28) throw new HpackError('integer too large');
  }
  return [value, at];
}

/** An HPACK string literal at `at` (RFC 7541 §5.2): [latin1 text, next offset]. */
function string(block: Buffer, at: number): [string, number] {
  if (at >= block.length) throw new HpackError('string cut short');
  const huffman = ((block[at] as number) & 0x80) !== 0;
  const [length, start] = integer(block, at, 7);
  const end = start + length;
  if (end > block.length) throw new HpackError('string cut short');
  const text = huffman ? huffmanDecode(block, start, end) : block.toString('latin1', start, end);
  return [text, end];
}

/** Names whose values change from call to call or are secret: sent without indexing. */
const notIndexed = new Set(['content-length', 'grpc-timeout', 'date', 'etag', 'last-modified', 'x-request-id']);
/** Sent as never indexed (RFC 7541 §7.1.3), so no hop on the way indexes them either. */
const neverIndexed = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);

/**
 * Encodes header blocks for one connection: fields found in the static or dynamic table are sent
 * as an index, others as literals added to the dynamic table (so a gRPC call's repeated headers
 * cost a byte or two after the first), strings without Huffman coding (fewer instructions; the
 * bytes only cross loopback or a LAN once before they are indexed).
 */
export class HpackEncoder {
  readonly #table: DynamicTable;
  /** Absolute entry number by `name\0value`, and by name (the newest entry with it). */
  readonly #pairs = new Map<string, number>();
  readonly #names = new Map<string, number>();
  #pendingSize: number | undefined;
  #buf = Buffer.allocUnsafe(4096);
  #at = 0;

  constructor(max = 4096) {
    this.#table = new DynamicTable(max);
  }

  /** The peer's SETTINGS_HEADER_TABLE_SIZE changed: the table follows (capped at 4096), told at the next block. */
  setLimit(limit: number): void {
    const max = Math.min(limit, 4096);
    if (max === this.#table.max) return;
    this.#table.resize(max, this.#evicted);
    this.#pendingSize = max;
  }

  readonly #evicted = (abs: number, name: string, value: string): void => {
    const key = `${name}\0${value}`;
    if (this.#pairs.get(key) === abs) this.#pairs.delete(key);
    if (this.#names.get(name) === abs) this.#names.delete(name);
  };

  /** One header block for `fields` (names in lower case). */
  encode(fields: readonly (readonly [string, string])[]): Buffer {
    this.#at = 0;
    if (this.#pendingSize !== undefined) {
      this.#integer(this.#pendingSize, 5, 0x20);
      this.#pendingSize = undefined;
    }
    for (const [name, value] of fields) this.#field(name, value);
    return Buffer.from(this.#buf.subarray(0, this.#at));
  }

  #field(name: string, value: string): void {
    const key = `${name}\0${value}`;
    const stat = staticPairs.get(key);
    if (stat !== undefined) {
      this.#integer(stat, 7, 0x80);
      return;
    }
    const table = this.#table;
    const abs = this.#pairs.get(key);
    if (abs !== undefined) {
      this.#integer(staticCount + table.inserted - abs, 7, 0x80);
      return;
    }
    const dynName = this.#names.get(name);
    const nameIndex = staticNames.get(name) ?? (dynName === undefined ? 0 : staticCount + table.inserted - dynName);
    if (neverIndexed.has(name) || notIndexed.has(name) || entrySize(name, value) > table.max / 2) {
      this.#integer(nameIndex, 4, neverIndexed.has(name) ? 0x10 : 0);
      if (nameIndex === 0) this.#string(name);
      this.#string(value);
      return;
    }
    this.#integer(nameIndex, 6, 0x40);
    if (nameIndex === 0) this.#string(name);
    this.#string(value);
    const number = table.inserted;
    table.add(name, value, this.#evicted);
    if (table.inserted > number) {
      this.#pairs.set(key, number);
      this.#names.set(name, number);
    }
  }

  #room(n: number): void {
    if (this.#at + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#at + n));
    this.#buf.copy(next, 0, 0, this.#at);
    this.#buf = next;
  }

  #integer(value: number, n: number, first: number): void {
    this.#room(6);
    const max = (1 << n) - 1;
    const buf = this.#buf;
    if (value < max) {
      buf[this.#at++] = first | value;
      return;
    }
    buf[this.#at++] = first | max;
    let rest = value - max;
    while (rest >= 128) {
      buf[this.#at++] = (rest & 0x7f) | 0x80;
      rest = Math.floor(rest / 128);
    }
    buf[this.#at++] = rest;
  }

  #string(text: string): void {
    this.#integer(text.length, 7, 0);
    this.#room(text.length);
    this.#at += this.#buf.write(text, this.#at, 'latin1');
  }
}
