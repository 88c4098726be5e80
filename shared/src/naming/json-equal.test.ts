import { describe, expect, it } from 'vitest';
import { canonicalJson, jsonEqual } from '../index.ts';

// jsonEqual must answer exactly as comparing the two canonicalJson texts does: the store decides
// with it whether a write changes anything.

const same = (a: unknown, b: unknown) => canonicalJson(a) === canonicalJson(b);

describe('jsonEqual', () => {
  it.each<[string, unknown, unknown, boolean]>([
    ['equal strings', 'a', 'a', true],
    ['different strings', 'a', 'b', false],
    ['a number and its text', 1, '1', false],
    ['0 and -0', 0, -0, true],
    ['NaN and null', Number.NaN, null, true],
    ['undefined and null', undefined, null, true],
    ['Infinity and NaN', Number.POSITIVE_INFINITY, Number.NaN, true],
    ['true and 1', true, 1, false],
    ['null and an empty object', null, {}, false],
    ['an empty array and an empty object', [], {}, false],
    ['keys in another order', { a: 1, b: { c: [1, 2], d: 'x' } }, { b: { d: 'x', c: [1, 2] }, a: 1 }, true],
    ['an undefined member and none', { a: 1, b: undefined }, { a: 1 }, true],
    ['an undefined member on the other side', { a: 1 }, { a: 1, b: undefined }, true],
    ['a null member and none', { a: 1, b: null }, { a: 1 }, false],
    ['one more member', { a: 1 }, { a: 1, b: 2 }, false],
    ['a member each, different names', { a: 1 }, { b: 1 }, false],
    ['undefined in an array and null', [1, undefined], [1, null], true],
    ['arrays of another length', [1, 2], [1, 2, 3], false],
    ['arrays in another order', [1, 2], [2, 1], false],
    ['nested difference', { c: [{ t: 'Ready', s: 'True' }] }, { c: [{ t: 'Ready', s: 'False' }] }, false],
    ['an inherited member is not one', Object.create({ a: 1 }), {}, true],
  ])('%s', (_, a, b, expected) => {
    expect(same(a, b)).toBe(expected);
    expect(jsonEqual(a, b)).toBe(expected);
    expect(jsonEqual(b, a)).toBe(expected);
  });

  it('agrees with comparing canonicalJson texts on random values and their near copies', () => {
    // A seeded generator: the same values every run.
    let seed = 42;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)] as T;
    const value = (depth: number): unknown => {
      const r = rand();
      if (depth > 3 || r < 0.4)
        return pick<unknown>([null, undefined, true, false, 0, 1, -1, 1.5, Number.NaN, '', 'a', 'b']);
      if (r < 0.7) return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1));
      const out: Record<string, unknown> = {};
      for (let i = Math.floor(rand() * 4); i > 0; i--) out[pick(['a', 'b', 'c', 'd'])] = value(depth + 1);
      return out;
    };
    /** A copy with keys reordered and, sometimes, one leaf changed or an undefined member added. */
    const nearCopy = (v: unknown): unknown => {
      if (v === null || typeof v !== 'object') return rand() < 0.1 ? value(4) : v;
      if (Array.isArray(v)) return v.map(nearCopy);
      const entries = Object.entries(v).map(([k, x]) => [k, nearCopy(x)] as const);
      entries.sort(() => rand() - 0.5);
      if (rand() < 0.1) entries.push([pick(['a', 'e']), undefined]);
      return Object.fromEntries(entries);
    };
    let equal = 0;
    for (let i = 0; i < 5000; i++) {
      const a = value(0);
      const b = rand() < 0.8 ? nearCopy(a) : value(0);
      const expected = same(a, b);
      if (expected) equal++;
      expect(jsonEqual(a, b), `${canonicalJson(a)} vs ${canonicalJson(b)}`).toBe(expected);
    }
    // Both answers were asked many times.
    expect(equal).toBeGreaterThan(500);
    expect(equal).toBeLessThan(4500);
  });
});
