import { describe, expect, it } from 'vitest';
import { Parser, stringify } from 'yaml';
import { parseDocument, parseDocuments } from '../index.ts';
import { jsonTooDeep, maxNestingDepth, yamlTokensTooDeep, yamlTooDeep } from './depth.ts';

const flowSeq = (n: number) => `a: ${'['.repeat(n)}${']'.repeat(n)}\n`;
const flowMap = (n: number) => `a: ${'{a: '.repeat(n)}1${'}'.repeat(n)}\n`;
const blockMap = (n: number) =>
  `${Array.from({ length: n }, (_, i) => `${' '.repeat(i)}a:\n`).join('')}${' '.repeat(n)}b\n`;
const compactSeq = (n: number) => `${'- '.repeat(n)}x\n`;
const indentlessSeqs = (n: number) =>
  `a:\n${Array.from({ length: n }, (_, k) => `${'  '.repeat(k)}- a:\n`).join('')}${'  '.repeat(n)}- x\n`;
const pairsInFlowSeqs = (n: number) => `${'[a: '.repeat(n)}1${']'.repeat(n)}\n`;
const jsonArrays = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
const jsonObjects = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;

/** Whether the scan's estimate of a text's depth is at least the depth yaml builds from it. */
function scanIsUpperBound(text: string): boolean {
  let estimate = 0;
  while (yamlTooDeep(text, estimate) !== undefined) estimate++;
  return Array.from(new Parser().parse(text)).every((t) => yamlTokensTooDeep(t, estimate) === undefined);
}

describe('nesting depth before parsing', () => {
  // [what, body of depth d, depth of body(d) in collections per d]
  const yamlShapes: [string, (n: number) => string, number][] = [
    ['flow sequences (a: [[[…]]])', flowSeq, 1],
    ['flow mappings', flowMap, 1],
    ['block mappings by indentation', blockMap, 1],
    ['compact block sequences (- - - x)', compactSeq, 1],
    ['sequences at their key’s indentation', indentlessSeqs, 2],
    ['one-pair mappings inside flow sequences', pairsInFlowSeqs, 2],
  ];

  it.each(yamlShapes)('refuses YAML of %s past the limit, before any parser sees it', (_what, shape, per) => {
    const over = shape(Math.ceil((maxNestingDepth + 1) / per) + 1);
    expect(yamlTooDeep(over)?.depth).toBe(maxNestingDepth + 1);
    const parsed = parseDocuments(over, 'yaml');
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) {
      expect(parsed.status).toMatchObject({ kind: 'Status', code: 413, reason: 'RequestEntityTooLarge' });
      expect(parsed.status.message).toMatch(/nests more than 100 levels deep \(past line \d+, column \d+\)/);
    }
  });

  it.each(yamlShapes)('accepts YAML of %s well within the limit', (_what, shape) => {
    const text = shape(20);
    expect(yamlTooDeep(text)).toBeUndefined();
    expect(parseDocuments(text, 'yaml').ok).toBe(true);
  });

  it.each(yamlShapes)('never counts less than yaml builds, for %s', (_what, shape) => {
    for (const n of [1, 2, 5, 13, 30]) expect(scanIsUpperBound(shape(n)), shape(n)).toBe(true);
  });

  it('never counts less than yaml builds, for values written in every style', () => {
    // A fixed pseudo-random walk over nested values, printed as block and as flow YAML.
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const value = (depth: number): unknown => {
      const r = random();
      if (depth === 0 || r < 0.2) return r < 0.1 ? 'x: "[{#' : 7;
      const n = 1 + Math.floor(random() * 3);
      if (r < 0.6) return Array.from({ length: n }, () => value(depth - 1));
      return Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, value(depth - 1)]));
    };
    for (let round = 0; round < 100; round++) {
      const v = value(1 + Math.floor(random() * 12));
      for (const text of [
        stringify(v),
        stringify(v, { collectionStyle: 'flow' }),
        stringify(v, { indentSeq: false }),
      ]) {
        expect(scanIsUpperBound(text), text).toBe(true);
      }
    }
  });

  it('does not count brackets, indicators or indentation inside scalars and comments', () => {
    const text = [
      'a: "[[[[{{{{ - - - : : :"',
      "b: 'it''s [[[[ {{{{'",
      'c: plain [[[[ text {{{{ - x',
      '# [[[[[[[[[[[[[[[[',
      'd: |',
      `  ${'['.repeat(200)}`,
      `${' '.repeat(60)}deeply indented text`,
      'e: >-',
      `  ${'{'.repeat(200)}`,
      'f: "multi-line [[[[',
      `  ${'['.repeat(200)}"`,
    ].join('\n');
    expect(yamlTooDeep(text, 3)).toBeUndefined();
    expect(parseDocuments(text, 'yaml').ok).toBe(true);
  });

  it('starts over with each document', () => {
    const doc = blockMap(60);
    expect(yamlTooDeep(`${doc}---\n${doc}---\n${doc}`)).toBeUndefined();
  });

  it.each([
    ['arrays', jsonArrays],
    ['objects', jsonObjects],
  ])('refuses JSON of nested %s past the limit, exactly', (_what, shape) => {
    expect(jsonTooDeep(shape(maxNestingDepth))).toBeUndefined();
    expect(jsonTooDeep(shape(maxNestingDepth + 1))).toEqual({ depth: 101, offset: shape === jsonArrays ? 100 : 500 });
    expect(parseDocument(shape(maxNestingDepth), 'json').ok).toBe(true);
    const parsed = parseDocument(shape(2000), 'json');
    expect(parsed.ok ? undefined : parsed.status).toMatchObject({ code: 413, reason: 'RequestEntityTooLarge' });
  });

  it('does not count brackets inside JSON strings', () => {
    expect(jsonTooDeep(`{"a": "${'['.repeat(500)}\\"${'{'.repeat(500)}"}`)).toBeUndefined();
  });

  it('refuses a value that aliases nest deeper than its text', () => {
    const nest = (k: number, inner: string) => `${'['.repeat(k)}${inner}${']'.repeat(k)}`;
    const text = `a: &x ${nest(40, '1')}\nb: &y ${nest(40, '*x')}\nc: ${nest(40, '*y')}\n`;
    expect(yamlTooDeep(text)).toBeUndefined();
    const parsed = parseDocument(text, 'yaml');
    expect(parsed.ok ? '' : parsed.status.message).toContain('once its aliases are expanded');
  });

  it.each([
    ['a 1 MB flow sequence', flowSeq(500_000)],
    ['a 1 MB flow mapping', flowMap(250_000)],
    ['thousands of indentation levels', blockMap(3000)],
    ['a 1 MB compact sequence', compactSeq(500_000)],
  ])('answers %s with a Status, the process alive', (_what, text) => {
    const parsed = parseDocuments(text, 'yaml');
    expect(parsed.ok ? undefined : parsed.status.code).toBe(413);
  });
});

describe('duplicate keys', () => {
  it('finds a repeated key in a nested mapping, at the repetition', () => {
    const parsed = parseDocument('a:\n  b: 1\n  c:\n    d: 1\n    d: 2\n', 'yaml');
    expect(parsed.ok ? '' : parsed.status.message).toBe(
      'invalid YAML at line 5, column 5: Map keys must be unique ("d" is repeated)',
    );
  });

  it('names the first repetition in the text', () => {
    const parsed = parseDocument('x:\n  y: 1\n  y: 2\nz: 1\nz: 2\n', 'yaml');
    expect(parsed.ok ? '' : parsed.status.message).toContain('line 3, column 3');
  });

  it('finds a repeated key inside a flow mapping and a sequence', () => {
    const parsed = parseDocument('a: [1, {b: 1, b: 2}]\n', 'yaml');
    expect(parsed.ok ? '' : parsed.status.message).toContain('"b" is repeated');
  });

  it('treats keys that become the same JSON key as repeated', () => {
    expect(parseDocument('1: a\n"1": b\n', 'yaml').ok).toBe(false);
  });

  it('accepts 15,000 distinct labels', () => {
    const labels = Array.from({ length: 15_000 }, (_, i) => `    l${i}: v\n`).join('');
    const parsed = parseDocument(`metadata:\n  labels:\n${labels}`, 'yaml');
    expect(parsed.ok && Object.keys((parsed.value as { metadata: { labels: object } }).metadata.labels).length).toBe(
      15_000,
    );
  });
});
