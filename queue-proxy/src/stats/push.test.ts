import type { Stat } from '@skiff/shared';
import { describe, expect, it } from 'vitest';
import { pushEndpoint, statChunk, streamHead } from './push.ts';

describe('the stats push target', () => {
  it('reads https, http (IPv6 too) and unix: URLs', () => {
    expect(pushEndpoint('https://10.0.0.1:8090')).toEqual({
      kind: 'tcp',
      tls: true,
      host: '10.0.0.1',
      port: 8090,
      origin: 'https://10.0.0.1:8090',
    });
    expect(pushEndpoint('https://skiff.example')).toMatchObject({ tls: true, host: 'skiff.example', port: 443 });
    expect(pushEndpoint('http://[::1]:9000')).toMatchObject({ kind: 'tcp', tls: false, host: '::1', port: 9000 });
    expect(pushEndpoint('unix:/var/lib/skiff/stats.sock')).toEqual({
      kind: 'unix',
      path: '/var/lib/skiff/stats.sock',
      origin: 'unix:/var/lib/skiff/stats.sock',
    });
  });

  it('opens each stream as a chunked POST with the token, and sends a stat as one chunk of one line', () => {
    expect(streamHead(pushEndpoint('https://127.0.0.1:8090'), 'tok')).toBe(
      'POST /internal/v1/stats HTTP/1.1\r\nhost: 127.0.0.1:8090\r\nauthorization: Bearer tok\r\n' +
        'content-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n',
    );
    expect(streamHead(pushEndpoint('unix:/d/stats.sock'), 'tok')).toContain('\r\nhost: localhost\r\n');
    const stat = { namespace: 'dé', revision: 'r' } as unknown as Stat;
    const line = `${JSON.stringify(stat)}\n`;
    // The chunk size counts bytes, not characters.
    expect(statChunk(stat)).toBe(`${Buffer.byteLength(line).toString(16)}\r\n${line}\r\n`);
    expect(Buffer.byteLength(line)).toBe(line.length + 1);
  });
});
