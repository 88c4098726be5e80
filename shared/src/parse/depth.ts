// Bounds on the nesting depth of a request body, checked before anything recurses over it.
//
// Why: the `yaml` library composes nested collections recursively. Thousands of levels exhaust the
// stack; yaml catches that RangeError and composes an empty scalar in its place, which runs the
// core schema's tag regexps there. When V8 then has to compile (or tier up) a regexp with the stack
// nearly gone, it aborts the whole process: `FATAL ERROR: RegExpCompiler Allocation failed - process
// out of memory`, which no `catch` sees. JSON.parse, structuredClone and zod recurse too. So depth
// is bounded first, by scans that cannot themselves recurse.
import type { CST } from 'yaml';

/** The deepest nesting a body may have (kube-apiserver's decoders stop well before their stack does). */
export const maxNestingDepth = 100;

export interface TooDeep {
  /** The depth reached where the scan stopped (more than the limit). */
  depth: number;
  /** 0-based offset in the text where the limit was passed. */
  offset: number;
}

/**
 * Where a JSON text first nests deeper than `limit` arrays and objects, or `undefined`. Exact for
 * valid JSON: strings (with their escapes) are skipped, syntax is left to the parser.
 */
export function jsonTooDeep(text: string, limit = maxNestingDepth): TooDeep | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      // A backslash escapes the next character.
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > limit) return { depth, offset: i };
    } else if (c === 0x5d || c === 0x7d) depth = Math.max(0, depth - 1);
  }
  return undefined;
}

const space = 0x20;
const tab = 0x09;
const cr = 0x0d;
const lf = 0x0a;

/**
 * Where a YAML text first nests deeper than `limit` collections, or `undefined`: a linear scan of
 * the characters, run before the YAML parser sees them. It estimates from above for YAML as people
 * write it: block collections by indentation (plus one for a sequence written at its parent key's
 * indentation) and by the `- `, `? ` and `: ` indicators of each line; flow collections by their
 * brackets, plus one for a `key: value` pair inside a flow sequence (a one-pair mapping). Quoted
 * scalars, block scalars and comments are skipped. {@link yamlTokensTooDeep} then measures the
 * parser's own tokens exactly, so a construct this scan reads differently cannot slip through.
 */
export function yamlTooDeep(text: string, limit = maxNestingDepth): TooDeep | undefined {
  const n = text.length;
  // Enclosing block lines by indentation: `parent` is the depth around the line, `depth` the depth
  // after its indicators. At most `limit` entries, since each one is deeper than the one below.
  const blocks: { indent: number; parent: number; depth: number }[] = [];
  // Open flow collections: '[' or '{', and whether the current entry of a '[' is a pair.
  const flow: { seq: boolean; pair: boolean }[] = [];
  let scalarParent = -1; // >= 0: inside a block scalar whose parent node is indented this much
  let scalarIndent = -1; // the block scalar's content indentation, once its first line shows it
  let quote = 0; // 0, or the quote character of the open quoted scalar
  let quoteIndent = 0; // indentation of the line that opened the quoted scalar
  let nodeStart = true; // a new node may begin here (it decides what `[`, `"` and `'` mean)
  let outer = 0; // block depth around an open flow collection or quoted scalar
  let i = 0;
  const isBlank = (j: number) => {
    const c = text.charCodeAt(j);
    return j >= n || c === space || c === tab || c === lf || c === cr;
  };
  const flowDepth = () => {
    let d = flow.length;
    for (const f of flow) if (f.pair) d++;
    return d;
  };

  while (i < n) {
    let indent = 0;
    while (i + indent < n && text.charCodeAt(i + indent) === space) indent++;
    let end = text.indexOf('\n', i);
    if (end === -1) end = n;
    let first = i + indent;
    while (first < end && (text.charCodeAt(first) === tab || text.charCodeAt(first) === cr)) first++;
    const blankLine = first >= end || (text.charCodeAt(first) === 0x23 && quote === 0);

    if (scalarParent >= 0) {
      if (blankLine && quote === 0) {
        i = end + 1;
        continue;
      }
      if (indent > scalarParent && (scalarIndent < 0 || indent >= scalarIndent)) {
        if (scalarIndent < 0) scalarIndent = indent;
        i = end + 1;
        continue;
      }
      scalarParent = -1;
      scalarIndent = -1;
    }
    // A quoted scalar in block context cannot continue on a line indented no more than its own;
    // reading such a line as structure can only make the estimate larger.
    if (quote !== 0 && flow.length === 0 && indent <= quoteIndent && !blankLine) quote = 0;

    let base: number; // the depth around this line's content
    const inBlock = quote === 0 && flow.length === 0;
    if (inBlock) {
      if (blankLine) {
        i = end + 1;
        continue;
      }
      nodeStart = true;
      if (indent === 0 && (text.startsWith('---', i) || text.startsWith('...', i)) && isBlank(i + 3)) {
        blocks.length = 0; // a new document
        blocks.push({ indent: -1, parent: 0, depth: 0 });
        base = 0;
        first = i + 3;
      } else {
        while (blocks.length > 0 && (blocks[blocks.length - 1]?.indent ?? 0) > indent) blocks.pop();
        const parentLine = blocks[blocks.length - 1];
        if (parentLine && parentLine.indent === indent) {
          // A sibling of the line above, or a sequence written at its parent key's indentation.
          base = parentLine.parent + 1;
          blocks.pop();
          blocks.push({ indent, parent: parentLine.parent, depth: base });
        } else {
          base = parentLine ? parentLine.depth : 0;
          blocks.push({ indent, parent: base, depth: base });
        }
      }
    } else base = outer;

    let levels = 0; // block indicators seen on this line
    let col = indent; // column of the last block node that began on this line
    let j = first;
    while (j < end) {
      const c = text.charCodeAt(j);
      if (quote !== 0) {
        if (quote === 0x22 && c === 0x5c) j += 2;
        else if (c === quote) {
          if (quote === 0x27 && text.charCodeAt(j + 1) === 0x27) j += 2;
          else {
            quote = 0;
            j++;
          }
        } else j++;
        continue;
      }
      if (c === space || c === tab || c === cr) {
        j++;
        continue;
      }
      if (c === 0x23 && isBlank(j - 1)) break; // a comment
      const inFlow = flow.length > 0;
      if (c === 0x5b || c === 0x7b) {
        if (inFlow || nodeStart) {
          if (!inFlow) outer = base + levels;
          flow.push({ seq: c === 0x5b, pair: false });
          const depth = outer + flowDepth();
          if (depth > limit) return { depth, offset: j };
          nodeStart = true;
          j++;
          continue;
        }
      } else if ((c === 0x5d || c === 0x7d) && inFlow) {
        flow.pop();
        nodeStart = false;
        j++;
        continue;
      } else if (c === 0x2c && inFlow) {
        const top = flow[flow.length - 1];
        if (top) top.pair = false;
        nodeStart = true;
        j++;
        continue;
      } else if ((c === 0x22 || c === 0x27) && nodeStart) {
        if (!inFlow) {
          outer = base + levels;
          quoteIndent = indent;
          col = j - i;
        }
        quote = c;
        nodeStart = false;
        j++;
        continue;
      } else if ((c === 0x2d || c === 0x3f) && !inFlow && nodeStart && isBlank(j + 1)) {
        levels++; // `- ` opens a sequence entry, `? ` an explicit key
        col = j - i;
        const depth = base + levels;
        if (depth > limit) return { depth, offset: j };
        j++;
        continue;
      } else if ((c === 0x7c || c === 0x3e) && !inFlow && nodeStart) {
        scalarParent = Math.max(indent, col); // `|` or `>`: the more-indented lines below are text
        break;
      }
      if (c === 0x3a && (isBlank(j + 1) || (inFlow && ',[]{}'.includes(text.charAt(j + 1))))) {
        // `key: value`: a block mapping, or a pair inside a flow collection.
        const top = flow[flow.length - 1];
        if (top) {
          if (top.seq) top.pair = true;
        } else levels++;
        const depth = inFlow ? outer + flowDepth() : base + levels;
        if (depth > limit) return { depth, offset: j };
        nodeStart = true;
        j++;
        continue;
      }
      if ((c === 0x26 || c === 0x21) && nodeStart) {
        // An anchor or a tag comes before the node it names.
        while (j < end && !isBlank(j) && !(inFlow && ',[]{}'.includes(text.charAt(j)))) j++;
        continue;
      }
      // A plain scalar: in a flow collection it ends at an indicator, in block context at `: ` or ` #`.
      if (!inFlow && nodeStart) col = j - i;
      nodeStart = false;
      j++;
      while (j < end) {
        const d = text.charCodeAt(j);
        if (d === 0x3a || (d === 0x23 && isBlank(j - 1))) break;
        if (inFlow && (d === 0x2c || d === 0x5b || d === 0x5d || d === 0x7b || d === 0x7d)) break;
        j++;
      }
    }
    const line = blocks[blocks.length - 1];
    if (line) line.depth = inBlock ? base + levels : Math.max(line.depth, base + levels);
    i = end + 1;
  }
  return undefined;
}

/**
 * Where the YAML parser's tokens (its concrete syntax tree, built without recursion) first nest
 * deeper than `limit` collections, or `undefined`. Exact: it counts what composing will recurse
 * into, a one-pair mapping inside a flow sequence included. Iterative, linear in the tokens.
 */
export function yamlTokensTooDeep(token: CST.Token, limit = maxNestingDepth): TooDeep | undefined {
  const stack: [CST.Token | null | undefined, number][] = [[token, 0]];
  for (let top = stack.pop(); top; top = stack.pop()) {
    const [t, depth] = top;
    if (!t) continue;
    switch (t.type) {
      case 'document':
        stack.push([t.value, depth]);
        break;
      case 'block-map':
      case 'block-seq':
      case 'flow-collection': {
        const inner = depth + 1;
        if (inner > limit) return { depth: inner, offset: t.offset };
        const flowSeq = t.type === 'flow-collection' && t.start.type === 'flow-seq-start';
        for (const item of t.items) {
          const pair = flowSeq && (item.key !== undefined || item.sep?.some((s) => s.type === 'map-value-ind'));
          const d = pair ? inner + 1 : inner;
          if (pair && d > limit) return { depth: d, offset: t.offset };
          if ('key' in item) stack.push([item.key, d]);
          stack.push([item.value, d]);
        }
        break;
      }
      default:
    }
  }
  return undefined;
}
