/**
 * Resource limits on flow YAML, checked before the `yaml` package sees the text: its parser
 * recurses per nesting level (a line of 5,000 `- ` exhausts the stack or the heap) and aliases
 * expand exponentially (nine levels of `&a [*a, *a, ...]` is a billion nodes). Flows are small
 * hand-written files, so the bounds are far above any real one.
 */

/** Longest flow source, bytes (UTF-8). */
export const MAX_FLOW_BYTES = 256 * 1024;
/** Deepest nesting of collections (block indentation levels, compact `- ` items, `[` and `{`). */
export const MAX_FLOW_DEPTH = 64;
/** Alias (`*name`) uses resolved while building the data (the `yaml` package's maxAliasCount). */
export const MAX_FLOW_ALIASES = 100;

export interface YamlLimitProblem {
  line: number;
  column: number;
  message: string;
}

/**
 * Size and nesting of `text`, measured by a single linear scan; null when within the limits.
 * The depth is an upper bound of the real nesting (brackets inside multi-line quoted scalars may
 * count), which errs on the side of refusing only absurd input.
 */
export function checkYamlLimits(text: string): YamlLimitProblem | null {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_FLOW_BYTES) {
    return { line: 1, column: 1, message: `the flow is ${bytes} bytes; the limit is ${MAX_FLOW_BYTES}` };
  }
  // Open block indentations (a stack of columns) and open flow brackets.
  const indents: number[] = [];
  let flow = 0;
  let line = 1;
  let i = 0;
  const n = text.length;
  while (i < n) {
    // Start of a line: its indentation closes deeper block levels and may open one.
    let col = 0;
    while (i < n && text[i] === ' ') {
      i++;
      col++;
    }
    const first = text[i];
    const blank = i >= n || first === '\n' || first === '\r' || first === '#';
    if (!blank && flow === 0) {
      while (indents.length > 0 && indents[indents.length - 1]! >= col) indents.pop();
      indents.push(col);
      // Compact nesting on one line: `- - - x`, `? - x`.
      while (i + 1 < n && (text[i] === '-' || text[i] === '?') && (text[i + 1] === ' ' || text[i + 1] === '\t')) {
        i += 2;
        col += 2;
        while (i < n && text[i] === ' ') {
          i++;
          col++;
        }
        indents.push(col);
        if (indents.length > MAX_FLOW_DEPTH) break;
      }
    }
    let quote = '';
    for (; i < n && text[i] !== '\n'; i++) {
      const c = text[i]!;
      if (quote !== '') {
        if (c === '\\' && quote === '"') i++;
        else if (c === quote) quote = '';
        continue;
      }
      if (c === '"' || c === "'") {
        // A quote opens a scalar only where a value starts, not inside words like don't.
        const prev = i === 0 ? ' ' : text[i - 1]!;
        if (prev === ' ' || prev === '[' || prev === '{' || prev === ',' || prev === ':' || prev === '\t') quote = c;
      } else if (c === '#' && (i === 0 || text[i - 1] === ' ' || text[i - 1] === '\t')) {
        while (i < n && text[i] !== '\n') i++;
        break;
      } else if (c === '[' || c === '{') {
        flow++;
      } else if ((c === ']' || c === '}') && flow > 0) {
        flow--;
      }
      if (indents.length + flow > MAX_FLOW_DEPTH) break;
    }
    if (indents.length + flow > MAX_FLOW_DEPTH) {
      return { line, column: col + 1, message: `the flow nests deeper than ${MAX_FLOW_DEPTH} levels` };
    }
    if (i < n) i++; // the '\n'
    line++;
  }
  return null;
}
