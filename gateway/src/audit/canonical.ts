/**
 * Canonical JSON for the audit chain: object keys sorted by UTF-16 code units, no whitespace,
 * numbers and strings as ECMAScript's JSON.stringify writes them. For JSON data (finite
 * numbers, well-formed strings) this is exactly RFC 8785 (JCS), so any JCS implementation can
 * recompute a record's hash.
 *
 * Values JSON cannot hold are mapped the way a reader of the line will see them, so that
 * canonicalising a parsed line gives back the same bytes: `undefined` (in objects and arrays)
 * and non-finite numbers become `null`, `toJSON()` is honoured (Dates), functions and symbols
 * become `null`. BigInts and cycles are programming errors and throw, and so does nesting deeper
 * than MAX_RECORD_DEPTH (readers would skip such a line as not a record).
 */
import { MAX_RECORD_DEPTH } from './bounds.js';

/** A top-level object as sorted `[key, member]` pairs, a member being `"key":<canonical value>`. */
export type Entries = ReadonlyArray<readonly [string, string]>;

export function canonicalJson(value: unknown): string {
  return serialise(value, []);
}

/**
 * Canonical entries of an object, so that a writer can snapshot a record once and later
 * splice in a few keys (`seq`, `prev`, `hash`) without re-serialising it.
 */
export function canonicalEntries(obj: object): Entries {
  const keys = Object.keys(obj).sort();
  const stack: object[] = [obj];
  return keys.map((k) => [k, member(k, serialise((obj as Record<string, unknown>)[k], stack))] as const);
}

/** One `"key":value` member, `value` already canonical JSON. */
export function member(key: string, value: string): string {
  return JSON.stringify(key) + ':' + value;
}

/** Joins entries into a canonical object, merging `extra` (sorted by key, keys absent from `entries`). */
export function joinEntries(entries: Entries, extra: Entries): string {
  if (extra.length === 0) return '{' + entries.map((e) => e[1]).join(',') + '}';
  let out = '{';
  let i = 0;
  let j = 0;
  while (i < entries.length || j < extra.length) {
    const next = j >= extra.length || (i < entries.length && entries[i][0] < extra[j][0]) ? entries[i++] : extra[j++];
    out += out.length === 1 ? next[1] : ',' + next[1];
  }
  return out + '}';
}

function serialise(value: unknown, stack: object[]): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      throw new TypeError('audit records cannot hold a BigInt; convert it to a number or string');
    case 'object': {
      if (value === null) return 'null';
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') return serialise(toJSON.call(value), stack);
      if (stack.includes(value)) throw new TypeError('audit records cannot be cyclic');
      stack.push(value);
      if (stack.length > MAX_RECORD_DEPTH) throw new TypeError(`audit records nest at most ${MAX_RECORD_DEPTH} levels`);
      let out: string;
      if (Array.isArray(value)) {
        out = '[' + value.map((v) => serialise(v, stack)).join(',') + ']';
      } else {
        const keys = Object.keys(value).sort();
        out = '{' + keys.map((k) => JSON.stringify(k) + ':' + serialise((value as Record<string, unknown>)[k], stack)).join(',') + '}';
      }
      stack.pop();
      return out;
    }
    default:
      // undefined, function, symbol
      return 'null';
  }
}
