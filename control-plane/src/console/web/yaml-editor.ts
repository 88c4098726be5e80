import { useRef, useState } from 'preact/hooks';
import { isMap, isSeq, parseDocument } from 'yaml';
import type { ApiError, Cause } from './api.ts';
import { html } from './html.ts';

/** `spec.traffic[1].percent` → ['spec', 'traffic', 1, 'percent']. */
export function fieldPath(field: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const m of field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (m[2] !== undefined) out.push(Number(m[2]));
    else if (m[1] !== undefined) out.push(m[1]);
  }
  return out;
}

/** The 1-based line of a field in a YAML text: the deepest part of its path that exists. */
export function fieldLine(text: string, field: string): number {
  const doc = parseDocument(text);
  const path = fieldPath(field);
  let offset = 0;
  let node: unknown = doc.contents;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === key);
      if (!pair) break;
      offset = (pair.key as { range?: [number, number, number] }).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof key === 'number') {
      const item = node.items[key] as { range?: [number, number, number] } | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  return text.slice(0, offset).split('\n').length;
}

const lineHeight = 18;

/**
 * A YAML editor whose API errors stand beside the field they name: each cause of the API's 422
 * `Status` is placed at its field's line, in a gutter that scrolls with the text.
 */
export function YamlEditor(props: { initial: string; submit(text: string): Promise<void>; label: string }) {
  const [text, setText] = useState(props.initial);
  const [error, setError] = useState<ApiError | undefined>();
  const [busy, setBusy] = useState(false);
  const [scroll, setScroll] = useState(0);
  const area = useRef<HTMLTextAreaElement>(null);
  // Field errors (422) at their field's line; a YAML syntax error (400) at the line it names.
  const syntaxLine = error && error.causes.length === 0 ? /\bline (\d+)/.exec(error.message)?.[1] : undefined;
  const causes: (Cause & { line: number })[] = syntaxLine
    ? [{ field: 'yaml', message: error?.message ?? '', line: Number(syntaxLine) }]
    : (error?.causes ?? []).map((c) => ({ ...c, line: c.field ? fieldLine(text, c.field) : 1 }));
  const onSubmit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await props.submit(text);
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  };
  const lines = text.split('\n').length;
  return html`<form class="yaml-editor" onSubmit=${onSubmit}>
    <div class="yaml-body">
      <pre class="yaml-lines" style=${`transform: translateY(${-scroll}px)`}>${Array.from({ length: lines }, (_, i) => `${i + 1}\n`).join('')}</pre>
      <textarea ref=${area} spellcheck="false" rows="22" value=${text} style=${`line-height:${lineHeight}px`}
        onInput=${(e: Event) => setText((e.target as HTMLTextAreaElement).value)}
        onScroll=${(e: Event) => setScroll((e.target as HTMLTextAreaElement).scrollTop)}></textarea>
      <div class="yaml-gutter">
        ${causes.map(
          (c) => html`<div class="field-error" data-field=${c.field} data-line=${c.line}
            style=${`top:${(c.line - 1) * lineHeight + 6 - scroll}px`}>◀ <b>${c.field}</b>: ${c.message}</div>`,
        )}
      </div>
    </div>
    ${error && causes.length === 0 ? html`<p class="error" role="alert">${error.message}</p>` : null}
    ${error && causes.length > 0 ? html`<p class="error" role="alert">${causes.length} field error${causes.length > 1 ? 's' : ''}: see beside the text</p>` : null}
    <button type="submit" disabled=${busy}>${props.label}</button>
  </form>`;
}
