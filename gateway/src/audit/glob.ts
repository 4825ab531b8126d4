/**
 * The globs of audit queries: `*` matches any run of characters (none included), `?` any one
 * (UTF-16 code unit); everything else matches itself. No escapes, no classes.
 *
 * Deliberately not a RegExp: `a*a*a*a*a*a*!` became `^a.*a.*a.*a.*a.*a.*!$`, which backtracks
 * through O(n^6) ways to split a long value of `a`s, and one `/audit` query froze the event loop
 * (and with it the inference port) for 72–94 s. This matcher never goes back past the last `*`
 * it met: the value index it restarts from only moves forward, so a match costs at most
 * |value| × (|pattern| + 1) steps, and callers bound the pattern (MAX_GLOB_LENGTH).
 */

/** The longest glob or exact filter value a query takes. */
export const MAX_GLOB_LENGTH = 256;

export function isGlob(pattern: string): boolean {
  return pattern.includes('*') || pattern.includes('?');
}

export function globMatch(pattern: string, value: string): boolean {
  let p = 0;
  let v = 0;
  // The last `*` seen, and where in the value its current attempt began.
  let star = -1;
  let mark = 0;
  while (v < value.length) {
    const c = p < pattern.length ? pattern.charCodeAt(p) : -1;
    if (c === STAR) {
      star = p++;
      mark = v; // first try: the star matches nothing
    } else if (c === QUESTION || (c !== -1 && c === value.charCodeAt(v))) {
      p++;
      v++;
    } else if (star >= 0) {
      // Let the last star swallow one more character and retry the rest from there.
      p = star + 1;
      v = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern.charCodeAt(p) === STAR) p++;
  return p === pattern.length;
}

const STAR = 0x2a;
const QUESTION = 0x3f;
