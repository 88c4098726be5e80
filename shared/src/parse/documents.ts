import { Composer, type Document, isMap, isScalar, isSeq, type Node, Parser } from 'yaml';
import { badRequest, failure, type Status } from '../errors/status.ts';
import { jsonTooDeep, maxNestingDepth, type TooDeep, yamlTokensTooDeep, yamlTooDeep } from './depth.ts';
import { lineColumn, locateJsonError } from './json-locate.ts';

export type Format = 'json' | 'yaml';

export type Parsed<T> = { ok: true; value: T } | { ok: false; status: Status };

/** The largest number of YAML alias expansions in one document (guards against "billion laughs"). */
const maxAliasCount = 100;

/**
 * Parses a request body into one value per document: one for JSON, one per `---` document for
 * YAML (empty documents skipped). A syntax error is a 400 naming the line and column; a body
 * nested deeper than {@link maxNestingDepth} is a 422 found before any parser sees it.
 */
export function parseDocuments(text: string, format: Format): Parsed<unknown[]> {
  if (format === 'json') {
    const deep = jsonTooDeep(text);
    if (deep) return { ok: false, status: tooDeep(text, deep) };
    try {
      return { ok: true, value: [JSON.parse(text)] };
    } catch {
      const where = locateJsonError(text) ?? { offset: text.length, message: 'invalid JSON' };
      const { line, column } = lineColumn(text, where.offset);
      return { ok: false, status: badRequest(`invalid JSON at line ${line}, column ${column}: ${where.message}`) };
    }
  }
  const deep = yamlTooDeep(text);
  if (deep) return { ok: false, status: tooDeep(text, deep) };
  const tokens = Array.from(new Parser().parse(text));
  for (const token of tokens) {
    const deepToken = yamlTokensTooDeep(token);
    if (deepToken) return { ok: false, status: tooDeep(text, deepToken) };
  }
  // Duplicate keys are found below in one pass: yaml's own `uniqueKeys` check compares each key
  // with every key before it, 7 s for 15,000 labels.
  const list = Array.from(new Composer({ strict: true, uniqueKeys: false }).compose(tokens));
  const values: unknown[] = [];
  for (const [n, doc] of list.entries()) {
    const which = list.length > 1 ? ` (document ${n + 1})` : '';
    const error = doc.errors[0];
    if (error) {
      const { line, column } = error.linePos?.[0]
        ? { line: error.linePos[0].line, column: error.linePos[0].col }
        : lineColumn(text, error.pos[0]);
      const message = error.message.split('\n')[0] ?? error.code;
      return { ok: false, status: badRequest(`invalid YAML${which} at line ${line}, column ${column}: ${message}`) };
    }
    const repeated = firstDuplicateKey(doc);
    if (repeated !== undefined) {
      const { line, column } = lineColumn(text, repeated.offset);
      return {
        ok: false,
        status: badRequest(
          `invalid YAML${which} at line ${line}, column ${column}: Map keys must be unique (${JSON.stringify(repeated.key)} is repeated)`,
        ),
      };
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount });
    } catch (e) {
      return { ok: false, status: badRequest(`invalid YAML: ${e instanceof Error ? e.message : String(e)}`) };
    }
    // Aliases can nest a value deeper than its text.
    if (valueTooDeep(value)) {
      return { ok: false, status: tooDeep(text, { depth: maxNestingDepth + 1, offset: -1 }) };
    }
    if (value !== null && value !== undefined) values.push(value);
  }
  return { ok: true, value: values };
}

/** Parses a body that must hold exactly one document. */
export function parseDocument(text: string, format: Format): Parsed<unknown> {
  const parsed = parseDocuments(text, format);
  if (!parsed.ok) return parsed;
  if (parsed.value.length !== 1) {
    return {
      ok: false,
      status: badRequest(`expected exactly one document in the body, found ${parsed.value.length}`),
    };
  }
  return { ok: true, value: parsed.value[0] };
}

function tooDeep(text: string, where: TooDeep): Status {
  const at = where.offset >= 0 ? lineColumn(text, where.offset) : undefined;
  const place = at ? ` (past line ${at.line}, column ${at.column})` : ' once its aliases are expanded';
  return failure(
    'RequestEntityTooLarge',
    `the request body nests more than ${maxNestingDepth} levels deep${place}; at most ${maxNestingDepth} levels of lists and maps are accepted`,
  );
}

/**
 * The first key (in the text) that a mapping of the document repeats, in one pass over its nodes
 * (an alias is visited where its anchor is defined).
 */
function firstDuplicateKey(doc: Document.Parsed): { key: string; offset: number } | undefined {
  let found: { key: string; offset: number } | undefined;
  const stack: unknown[] = [doc.contents];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        stack.push(pair.key, pair.value);
        if (!isScalar(pair.key)) continue;
        const key = String(pair.key.value);
        const offset = (pair.key as Node).range?.[0] ?? 0;
        if (!seen.has(key)) seen.add(key);
        else if (!found || offset < found.offset) found = { key, offset };
      }
    } else if (isSeq(node)) {
      for (const item of node.items) stack.push(item);
    }
  }
  return found;
}

/** Whether a parsed value nests deeper than the limit, walked without recursion. */
function valueTooDeep(value: unknown): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  for (let top = stack.pop(); top; top = stack.pop()) {
    const [v, depth] = top;
    if (v === null || typeof v !== 'object') continue;
    if (depth + 1 > maxNestingDepth) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return false;
}
