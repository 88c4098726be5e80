import { describe, expect, it } from 'vitest';
import { bearerToken, tokensEqual } from './token.ts';

describe('bearer tokens', () => {
  it.each([
    ['secret', 'secret', true],
    ['secreT', 'secret', false],
    ['secre', 'secret', false],
    ['secrets', 'secret', false],
    ['', 'secret', false],
    ['\u0000\u0000\u0000\u0000\u0000\u0000', 'secret', false],
  ])('%j against %j: %s', (presented, expected, equal) => {
    expect(tokensEqual(presented, expected)).toBe(equal);
  });

  it('reads the token of an Authorization header', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer  abc ')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});
