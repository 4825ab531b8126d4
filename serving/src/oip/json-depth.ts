/** Nesting an inference request needs: the object, inputs, a tensor, and data nested per shape. */
export const MAX_JSON_DEPTH = 32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * True if the JSON text nests arrays and objects deeper than `maxDepth`. Run before JSON.parse:
 * V8 parses a 2,000,000-deep body (4 MB) in ~0.5 s of one event loop, and any recursive walk or
 * JSON.stringify of such a value overflows the stack. One linear pass over the bytes, skipping
 * strings; written here because it must run before any parser sees the bytes (a streaming JSON
 * library would cost more than the parse itself on the hot path).
 */
export function nestsDeeperThan(text: Uint8Array, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > maxDepth) return true;
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) depth--;
  }
  return false;
}
