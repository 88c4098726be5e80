import { describe, expect, it } from 'vitest';
import { fieldPath, parseDocument, parseDocuments } from '../index.ts';
import { lineColumn, locateJsonError } from './json-locate.ts';

describe('parsing JSON', () => {
  it.each([
    ['a value missing after a colon', '{\n  "a": 1,\n  "b": }', 'line 3, column 8'],
    ['a missing comma', '{"a": 1 "b": 2}', 'line 1, column 9'],
    ['a trailing comma', '[1, 2,]', 'line 1, column 7'],
    ['an unquoted key', '{a: 1}', 'line 1, column 2'],
    ['an unterminated string', '{"a": "abc', 'line 1, column 11'],
    ['text after the value', '{"a":1} x', 'line 1, column 9'],
    ['an empty body', '', 'line 1, column 1'],
  ])('names the line and column of %s', (_name, text, where) => {
    const parsed = parseDocuments(text, 'json');
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.status).toMatchObject({ kind: 'Status', code: 400, reason: 'BadRequest' });
    expect(parsed.status.message).toContain(where);
  });

  it('agrees with JSON.parse on what is valid', () => {
    for (const ok of ['{}', '[]', '{"a":[1,2.5e3,-0.1,true,false,null,"x\\n\\u00e9"]}', ' 1 ', '"s"']) {
      expect(locateJsonError(ok)).toBeUndefined();
      expect(parseDocuments(ok, 'json').ok).toBe(true);
    }
  });

  it('counts lines from 1 and columns from 1', () => {
    expect(lineColumn('ab\ncd', 4)).toEqual({ line: 2, column: 2 });
  });
});

describe('parsing YAML', () => {
  it('names the line and column of a syntax error', () => {
    const parsed = parseDocuments('metadata:\n  name: a\n   bad: [1, 2\n', 'yaml');
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.status.message).toMatch(/invalid YAML at line \d+, column \d+: /);
  });

  it('rejects duplicate keys', () => {
    const parsed = parseDocuments('a: 1\na: 2\n', 'yaml');
    expect(parsed.ok ? '' : parsed.status.message).toBe(
      'invalid YAML at line 2, column 1: Map keys must be unique ("a" is repeated)',
    );
  });

  it('names the document of a multi-document error', () => {
    const parsed = parseDocuments('a: 1\n---\nb: [\n', 'yaml');
    expect(parsed.ok ? '' : parsed.status.message).toContain('(document 2)');
  });

  it('reads several documents and skips empty ones', () => {
    const parsed = parseDocuments('---\na: 1\n---\n---\nb: 2\n', 'yaml');
    expect(parsed).toEqual({ ok: true, value: [{ a: 1 }, { b: 2 }] });
  });

  it('refuses alias bombs', () => {
    const bomb = [
      'a: &a [x,x,x,x,x,x,x,x,x,x]',
      ...'bcdefgh'.split('').map((c, i) => `${c}: &${c} [${Array(10).fill(`*${'abcdefgh'[i]}`).join(',')}]`),
    ].join('\n');
    expect(parseDocuments(bomb, 'yaml').ok).toBe(false);
  });

  it('keeps quoted numbers as strings, as Kubernetes annotations need', () => {
    expect(parseDocument('v: "10"\nn: 10\n', 'yaml')).toEqual({ ok: true, value: { v: '10', n: 10 } });
  });

  it('wants exactly one document where one is expected', () => {
    const parsed = parseDocument('a: 1\n---\nb: 2\n', 'yaml');
    expect(parsed.ok ? '' : parsed.status.message).toBe('expected exactly one document in the body, found 2');
  });
});

describe('field paths', () => {
  it.each([
    [['spec', 'traffic', 1, 'percent'], 'spec.traffic[1].percent'],
    [
      ['metadata', 'annotations', 'autoscaling.knative.dev/min-scale'],
      'metadata.annotations[autoscaling.knative.dev/min-scale]',
    ],
    [['metadata', 'labels', 'app'], 'metadata.labels[app]'],
    [
      ['spec', 'template', 'spec', 'containers', 0, 'resources', 'requests', 'cpu'],
      'spec.template.spec.containers[0].resources.requests[cpu]',
    ],
  ] as const)('%j → %s', (path, expected) => {
    expect(fieldPath(path)).toBe(expected);
  });
});
