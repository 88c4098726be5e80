import { describe, expect, it } from 'vitest';
import { readCookie, sessionSetCookie, sessionVerdict } from './session.ts';

const req = (over: Partial<Parameters<typeof sessionVerdict>[0]>) =>
  sessionVerdict({ method: 'GET', url: 'http://127.0.0.1:8090/apis', host: '127.0.0.1:8090', ...over });

describe('console session', () => {
  it('keeps the token in an HttpOnly, SameSite=Strict cookie (Secure over HTTPS)', () => {
    expect(sessionSetCookie('a b', false)).toBe('skiff_session=a%20b; Path=/; HttpOnly; SameSite=Strict');
    expect(sessionSetCookie('t', true)).toMatch(/; Secure$/);
    expect(readCookie('x=1; skiff_session=a%20b; y=2', 'skiff_session')).toBe('a b');
  });

  it('lets an Authorization header win over the cookie', () => {
    expect(req({ authorization: 'Bearer t', cookie: 'skiff_session=c', method: 'DELETE' })).toEqual({});
  });

  it('reads with the cookie alone', () => {
    expect(req({ cookie: 'skiff_session=c' })).toEqual({ token: 'c' });
  });

  it.each([
    ['no console header', { consoleHeader: undefined, origin: 'http://127.0.0.1:8090' }, /x-skiff-console/],
    ['another origin', { consoleHeader: '1', origin: 'http://evil.example' }, /cross-site/],
    ['an opaque origin', { consoleHeader: '1', origin: 'null' }, /cross-site/],
  ])('refuses a cookie write with %s', (_name, over, message) => {
    const v = req({ method: 'POST', cookie: 'skiff_session=c', ...over });
    expect(v.token).toBeUndefined();
    expect(v.refused).toMatch(message);
  });

  it('accepts a cookie write from the console itself', () => {
    expect(
      req({ method: 'PATCH', cookie: 'skiff_session=c', consoleHeader: '1', origin: 'http://127.0.0.1:8090' }),
    ).toEqual({ token: 'c' });
  });
});
