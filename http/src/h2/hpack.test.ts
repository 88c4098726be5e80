import { describe, expect, it } from 'vitest';
import {
  type Field,
  HpackDecoder,
  HpackEncoder,
  HpackError,
  huffmanCodes,
  huffmanDecode,
  huffmanEncode,
} from './hpack.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const date1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const date2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const cookie = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';

// RFC 7541 Appendix C: each sequence decoded by one decoder, with the table after each block.
const sequences: {
  name: string;
  limit: number;
  blocks: { wire: string; fields: Field[]; table: Field[]; size: number }[];
}[] = [
  {
    name: 'C.3 requests without Huffman coding',
    limit: 4096,
    blocks: [
      {
        wire: '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
        fields: [
          [':method', 'GET'],
          [':scheme', 'http'],
          [':path', '/'],
          [':authority', 'www.example.com'],
        ],
        table: [[':authority', 'www.example.com']],
        size: 57,
      },
      {
        wire: '8286 84be 5808 6e6f 2d63 6163 6865',
        fields: [
          [':method', 'GET'],
          [':scheme', 'http'],
          [':path', '/'],
          [':authority', 'www.example.com'],
          ['cache-control', 'no-cache'],
        ],
        table: [
          ['cache-control', 'no-cache'],
          [':authority', 'www.example.com'],
        ],
        size: 110,
      },
      {
        wire: '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
        fields: [
          [':method', 'GET'],
          [':scheme', 'https'],
          [':path', '/index.html'],
          [':authority', 'www.example.com'],
          ['custom-key', 'custom-value'],
        ],
        table: [
          ['custom-key', 'custom-value'],
          ['cache-control', 'no-cache'],
          [':authority', 'www.example.com'],
        ],
        size: 164,
      },
    ],
  },
  {
    name: 'C.4 requests with Huffman coding',
    limit: 4096,
    blocks: [
      {
        wire: '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
        fields: [
          [':method', 'GET'],
          [':scheme', 'http'],
          [':path', '/'],
          [':authority', 'www.example.com'],
        ],
        table: [[':authority', 'www.example.com']],
        size: 57,
      },
      {
        wire: '8286 84be 5886 a8eb 1064 9cbf',
        fields: [
          [':method', 'GET'],
          [':scheme', 'http'],
          [':path', '/'],
          [':authority', 'www.example.com'],
          ['cache-control', 'no-cache'],
        ],
        table: [
          ['cache-control', 'no-cache'],
          [':authority', 'www.example.com'],
        ],
        size: 110,
      },
      {
        wire: '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
        fields: [
          [':method', 'GET'],
          [':scheme', 'https'],
          [':path', '/index.html'],
          [':authority', 'www.example.com'],
          ['custom-key', 'custom-value'],
        ],
        table: [
          ['custom-key', 'custom-value'],
          ['cache-control', 'no-cache'],
          [':authority', 'www.example.com'],
        ],
        size: 164,
      },
    ],
  },
  {
    name: 'C.5 responses without Huffman coding (table of 256 bytes: entries evicted)',
    limit: 256,
    blocks: [
      {
        wire: `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d
               546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`,
        fields: [
          [':status', '302'],
          ['cache-control', 'private'],
          ['date', date1],
          ['location', 'https://www.example.com'],
        ],
        table: [
          ['location', 'https://www.example.com'],
          ['date', date1],
          ['cache-control', 'private'],
          [':status', '302'],
        ],
        size: 222,
      },
      {
        wire: '4803 3330 37c1 c0bf',
        fields: [
          [':status', '307'],
          ['cache-control', 'private'],
          ['date', date1],
          ['location', 'https://www.example.com'],
        ],
        table: [
          [':status', '307'],
          ['location', 'https://www.example.com'],
          ['date', date1],
          ['cache-control', 'private'],
        ],
        size: 222,
      },
      {
        wire: `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f
               6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630
               303b 2076 6572 7369 6f6e 3d31`,
        fields: [
          [':status', '200'],
          ['cache-control', 'private'],
          ['date', date2],
          ['location', 'https://www.example.com'],
          ['content-encoding', 'gzip'],
          ['set-cookie', cookie],
        ],
        table: [
          ['set-cookie', cookie],
          ['content-encoding', 'gzip'],
          ['date', date2],
        ],
        size: 215,
      },
    ],
  },
  {
    name: 'C.6 responses with Huffman coding (table of 256 bytes)',
    limit: 256,
    blocks: [
      {
        wire: `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7
               8f0b 97c8 e9ae 82ae 43d3`,
        fields: [
          [':status', '302'],
          ['cache-control', 'private'],
          ['date', date1],
          ['location', 'https://www.example.com'],
        ],
        table: [
          ['location', 'https://www.example.com'],
          ['date', date1],
          ['cache-control', 'private'],
          [':status', '302'],
        ],
        size: 222,
      },
      {
        wire: '4883 640e ffc1 c0bf',
        fields: [
          [':status', '307'],
          ['cache-control', 'private'],
          ['date', date1],
          ['location', 'https://www.example.com'],
        ],
        table: [
          [':status', '307'],
          ['location', 'https://www.example.com'],
          ['date', date1],
          ['cache-control', 'private'],
        ],
        size: 222,
      },
      {
        wire: `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335
               dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
        fields: [
          [':status', '200'],
          ['cache-control', 'private'],
          ['date', date2],
          ['location', 'https://www.example.com'],
          ['content-encoding', 'gzip'],
          ['set-cookie', cookie],
        ],
        table: [
          ['set-cookie', cookie],
          ['content-encoding', 'gzip'],
          ['date', date2],
        ],
        size: 215,
      },
    ],
  },
];

describe('HPACK decoding: RFC 7541 Appendix C', () => {
  it('C.2 single literals, one per kind', () => {
    const d = new HpackDecoder();
    expect(d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'))).toEqual([
      ['custom-key', 'custom-header'],
    ]);
    expect(d.table).toEqual({ entries: [['custom-key', 'custom-header']], size: 55 });
    const e = new HpackDecoder();
    expect(e.decode(hex('040c 2f73 616d 706c 652f 7061 7468'))).toEqual([[':path', '/sample/path']]);
    expect(e.table.entries).toEqual([]);
    expect(e.decode(hex('1008 7061 7373 776f 7264 0673 6563 7265 74'))).toEqual([['password', 'secret']]);
    expect(e.table.entries).toEqual([]);
    expect(e.decode(hex('82'))).toEqual([[':method', 'GET']]);
  });

  for (const seq of sequences) {
    it(seq.name, () => {
      const d = new HpackDecoder(seq.limit);
      for (const block of seq.blocks) {
        expect(d.decode(hex(block.wire))).toEqual(block.fields);
        expect(d.table).toEqual({ entries: block.table, size: block.size });
      }
    });
  }
});

describe('HPACK: malformed blocks are errors', () => {
  const cases: [string, string][] = [
    ['index 0', '80'],
    ['index past the tables', 'be'],
    ['integer cut short', 'ff'],
    ['string cut short', '4005 6162'],
    ['Huffman padding longer than 7 bits', '4081 ff01 61'.replace(' 01 61', '')],
    ['Huffman padding not ones', '0082 0000'],
    ['table size update past the limit', '3fe2 1f'],
    ['table size update after a field', '82 20'],
  ];
  for (const [name, wire] of cases)
    it(name, () => {
      expect(() => new HpackDecoder().decode(hex(wire))).toThrow(HpackError);
    });
});

describe('Huffman code', () => {
  it('is the RFC 7541 Appendix B code (samples)', () => {
    expect(huffmanCodes[0]).toBe(0x1ff8);
    expect(huffmanCodes[9]).toBe(0xffffea);
    expect(huffmanCodes[10]).toBe(0x3ffffffc);
    expect(huffmanCodes[48]).toBe(0x0);
    expect(huffmanCodes[32]).toBe(0x14);
    expect(huffmanCodes[127]).toBe(0xffffffc);
    expect(huffmanCodes[128]).toBe(0xfffe6);
    expect(huffmanCodes[240]).toBe(0x3ffffeb);
    expect(huffmanCodes[255]).toBe(0x3ffffee);
    expect(huffmanCodes[256]).toBe(0x3fffffff);
  });
  it('decodes what it encodes, every byte value', () => {
    let all = '';
    for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
    for (const text of [all, 'www.example.com', 'application/grpc', '', 'a']) {
      const coded = huffmanEncode(text);
      expect(huffmanDecode(coded, 0, coded.length)).toBe(text);
    }
    expect(huffmanEncode('www.example.com').toString('hex')).toBe('f1e3c2e5f23a6ba0ab90f4ff');
  });
});

describe('HPACK encoding', () => {
  it('round-trips through a decoder, indexing repeated fields', () => {
    const enc = new HpackEncoder();
    const dec = new HpackDecoder();
    const fields: [string, string][] = [
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', '/helloworld.Greeter/SayHello'],
      [':authority', 'grpc.default.example.com'],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
      ['grpc-timeout', '99m'],
      ['authorization', 'Bearer x'],
      ['x-long', 'v'.repeat(5000)],
    ];
    const first = enc.encode(fields);
    expect(dec.decode(first)).toEqual(fields);
    const second = enc.encode(fields);
    expect(dec.decode(second)).toEqual(fields);
    // Indexed the second time, but for the values sent without indexing and the one too large.
    expect(second.length).toBeLessThan(5000 + 60);
    expect(second.length).toBeLessThan(first.length - 60);
  });
  it('evicts in step with the decoder and tells it a smaller table', () => {
    const enc = new HpackEncoder();
    const dec = new HpackDecoder();
    for (let i = 0; i < 300; i++) {
      const fields: [string, string][] = [
        ['x-n', String(i % 97)],
        ['x-m', `v${'w'.repeat(i % 50)}`],
      ];
      expect(dec.decode(enc.encode(fields))).toEqual(fields);
      if (i === 150) enc.setLimit(256);
    }
    expect(dec.table.size).toBeLessThanOrEqual(256);
  });
});

describe('HPACK: long strings', () => {
  it('decodes a 60 KiB Huffman-coded value', () => {
    const value = 'ab0/'.repeat(15_000);
    const coded = huffmanEncode(value);
    expect(huffmanDecode(coded, 0, coded.length)).toBe(value);
  });
});
