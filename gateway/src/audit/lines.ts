/**
 * Reading the log's JSON Lines files with bounds, for the verifier and the query: a line the
 * writer could not have written (too long, nested too deep) is reported as such, never
 * materialised. Before, one 600 MB line crashed `vigil audit verify` (RangeError: a string that
 * long cannot exist) and one 10,000-deep line overflowed the stack of the canonical serialiser.
 */
import { open } from 'node:fs/promises';
import { nestsDeeperThan } from '../../../oip/src/json-depth.js';
import { MAX_LINE_BYTES, MAX_RECORD_DEPTH } from './bounds.js';

export type BoundedLine =
  /** 1-based line number and its text (without the newline). */
  | { n: number; line: string; problem?: undefined }
  /** A line that is not read: why (over MAX_LINE_BYTES, or nesting deeper than MAX_RECORD_DEPTH). */
  | { n: number; line: null; problem: string };

export interface LineBounds {
  maxBytes?: number;
  maxDepth?: number;
  /** A file that does not exist has no lines (a reader racing retention), instead of an error. */
  missingOk?: boolean;
}

/**
 * Streams the lines of a file with their 1-based numbers. Memory stays within one line of at
 * most `maxBytes` (plus a read chunk): the bytes of a longer line are counted and dropped.
 * Lines end at `\n` only; a last line without one is still yielded (a torn write).
 */
export async function* readLines(path: string, bounds: LineBounds = {}): AsyncGenerator<BoundedLine> {
  const maxBytes = bounds.maxBytes ?? MAX_LINE_BYTES;
  const maxDepth = bounds.maxDepth ?? MAX_RECORD_DEPTH;
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if (bounds.missingOk && (err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const input = fh.createReadStream({ highWaterMark: 64 * 1024 }); // closes fh when it ends or is destroyed
  let parts: Buffer[] = [];
  let size = 0;
  let n = 0;
  const finish = (): BoundedLine => {
    n++;
    const total = size;
    const kept = parts;
    parts = [];
    size = 0;
    if (total > maxBytes) return { n, line: null, problem: `the line is ${total} bytes, longer than any record (${maxBytes} bytes at most)` };
    const bytes = kept.length === 1 ? kept[0] : Buffer.concat(kept, total);
    if (nestsDeeperThan(bytes, maxDepth)) return { n, line: null, problem: `the line nests deeper than any record (${maxDepth} levels at most)` };
    return { n, line: bytes.toString('utf8') };
  };
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(0x0a, start);
        const end = nl < 0 ? chunk.length : nl;
        if (end > start) {
          // Past the bound, only count: the line is reported by its size, never held.
          if (size + (end - start) <= maxBytes) parts.push(chunk.subarray(start, end));
          else parts = [];
          size += end - start;
        }
        if (nl < 0) break;
        yield finish();
        start = nl + 1;
      }
    }
    if (size > 0) yield finish();
  } finally {
    input.destroy(); // when the reader stops early (a query's limit), release the file at once
  }
}
