import { parseAllDocuments } from 'yaml';
import { badRequest, type Status } from '../errors/status.ts';
import { lineColumn, locateJsonError } from './json-locate.ts';

export type Format = 'json' | 'yaml';

export type Parsed<T> = { ok: true; value: T } | { ok: false; status: Status };

/** The largest number of YAML alias expansions in one document (guards against "billion laughs"). */
const maxAliasCount = 100;

/**
 * Parses a request body into one value per document: one for JSON, one per `---` document for
 * YAML (empty documents skipped). A syntax error is a 400 naming the line and column.
 */
export function parseDocuments(text: string, format: Format): Parsed<unknown[]> {
  if (format === 'json') {
    try {
      return { ok: true, value: [JSON.parse(text)] };
    } catch {
      const where = locateJsonError(text) ?? { offset: text.length, message: 'invalid JSON' };
      const { line, column } = lineColumn(text, where.offset);
      return { ok: false, status: badRequest(`invalid JSON at line ${line}, column ${column}: ${where.message}`) };
    }
  }
  const docs = parseAllDocuments(text, { prettyErrors: false, uniqueKeys: true, strict: true });
  const list = Array.isArray(docs) ? docs : [];
  const values: unknown[] = [];
  for (const [n, doc] of list.entries()) {
    const error = doc.errors[0];
    if (error) {
      const { line, column } = error.linePos?.[0]
        ? { line: error.linePos[0].line, column: error.linePos[0].col }
        : lineColumn(text, error.pos[0]);
      const which = list.length > 1 ? ` (document ${n + 1})` : '';
      const message = error.message.split('\n')[0] ?? error.code;
      return { ok: false, status: badRequest(`invalid YAML${which} at line ${line}, column ${column}: ${message}`) };
    }
    try {
      const value: unknown = doc.toJS({ maxAliasCount });
      if (value !== null && value !== undefined) values.push(value);
    } catch (e) {
      return { ok: false, status: badRequest(`invalid YAML: ${e instanceof Error ? e.message : String(e)}`) };
    }
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
