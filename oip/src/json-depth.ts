/** Nesting an inference request needs: the object, inputs, a tensor, and data nested per shape. */
export const MAX_JSON_DEPTH = 32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const COMMA = 0x2c;

/**
 * What one linear pass over the bytes, skipping strings, finds before any parser sees them:
 * 'depth' if arrays and objects nest deeper than `maxDepth`; 'values' if the text holds more than
 * `maxCommas` commas, i.e. more values than a request could carry; null otherwise. V8 parses a
 * 2,000,000-deep body (4 MB) in ~0.5 s of one event loop, and any recursive walk or JSON.stringify
 * of such a value overflows the stack; 4 MB of short numbers parse in ~0.1–0.2 s. The scan costs
 * a tenth of that. Written here because it must run before any parser (a streaming JSON library
 * would cost more than the parse itself on the hot path).
 */
export function scanJson(text: Uint8Array, maxDepth: number, maxCommas = Infinity): 'depth' | 'values' | null {
  let depth = 0;
  let commas = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === COMMA) {
      if (++commas > maxCommas) return 'values';
    } else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > maxDepth) return 'depth';
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) depth--;
  }
  return null;
}

/** True if the JSON text nests arrays and objects deeper than `maxDepth` (see scanJson). */
export function nestsDeeperThan(text: Uint8Array, maxDepth: number): boolean {
  return scanJson(text, maxDepth) === 'depth';
}
