/**
 * Stored text made safe for a terminal. Record fields come from callers (a JWT `sub`, a model
 * name in a path, a hand-edited line): a newline in one forged a whole row of the query table,
 * and ANSI escapes can recolour, move the cursor or erase lines. Control characters (C0, DEL,
 * C1), line and paragraph separators and bidirectional overrides are shown as escapes (`\n`,
 * `\x1b`, `\u202e`), and the backslash as `\\`, so what is shown reads back unambiguously.
 */
export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => NAMED[c] ?? escape(c.charCodeAt(0)));
}

const UNSAFE = /[\\\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escape(code: number): string {
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}
