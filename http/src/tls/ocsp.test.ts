import { describe, expect, it } from 'vitest';
import { ocspRefreshAt, readOcspResponse } from './ocsp.ts';

const t = (iso: string) => new Date(iso);

describe('ocspRefreshAt: when a stapled response is fetched again', () => {
  it.each([
    // halfway through a week's validity
    ['2026-12-01T00:00:00Z', '2026-12-08T00:00:00Z', '2026-12-04T12:00:00.000Z'],
    // halfway through 5 minutes (2.5 min), which is before a minute ahead of nextUpdate
    ['2026-12-01T00:00:00Z', '2026-12-01T00:05:00Z', '2026-12-01T00:02:30.000Z'],
    // 90 s of validity: a minute before nextUpdate wins over halfway
    ['2026-12-01T00:00:00Z', '2026-12-01T00:01:30Z', '2026-12-01T00:00:30.000Z'],
    // shorter than a minute: at once (thisUpdate)
    ['2026-12-01T00:00:00Z', '2026-12-01T00:00:30Z', '2026-12-01T00:00:00.000Z'],
    // no nextUpdate: an hour on
    ['2026-12-01T00:00:00Z', undefined, '2026-12-01T01:00:00.000Z'],
  ])('thisUpdate %s, nextUpdate %s → %s', (thisUpdate, nextUpdate, expected) => {
    const at = ocspRefreshAt({ thisUpdate: t(thisUpdate), ...(nextUpdate ? { nextUpdate: t(nextUpdate) } : {}) });
    expect(new Date(at).toISOString()).toBe(expected);
  });
});

describe('readOcspResponse', () => {
  it('says why bytes that are not an OCSP response cannot be stapled', () => {
    expect(readOcspResponse(Buffer.from('not der'), Buffer.alloc(0))).toMatchObject({
      problem: expect.stringContaining('not an OCSP response'),
    });
  });

  it('refuses an unsuccessful answer, naming its status (tryLater)', () => {
    // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED tryLater(3) }
    expect(readOcspResponse(Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x03]), Buffer.alloc(0))).toEqual({
      problem: 'the responder answered tryLater',
    });
  });
});
