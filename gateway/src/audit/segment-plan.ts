/**
 * Which records of a group commit go into which file: a pure decision, no I/O. A segment is a
 * run of records written with one write(); a new segment starts a new file when the current one
 * would grow past maxFileBytes (or there is none).
 */

export interface Segment {
  /** The segment goes into a new file (rotation), not the current one. */
  startsFile: boolean;
  /** Records `from` up to (not including) `to` of the batch. */
  from: number;
  to: number;
  bytes: number;
}

/**
 * Splits records of `recordBytes` (each its whole line, newline included) into segments.
 * `fileBytes`: what the current file holds, or null when no file is open (the first record
 * starts one). A file is never grown past `maxFileBytes`, except by a record bigger than that
 * on its own: it goes alone into a file (an empty current one, or a new one).
 */
export function planSegments(recordBytes: readonly number[], fileBytes: number | null, maxFileBytes: number): Segment[] {
  const segments: Segment[] = [];
  let seg: Segment | null = null;
  let size = fileBytes ?? 0;
  let needFile = fileBytes === null;
  for (let i = 0; i < recordBytes.length; i++) {
    const bytes = recordBytes[i];
    // An empty file takes any record: rotating away from it would leave a file with none.
    if (needFile || (size > 0 && size + bytes > maxFileBytes)) {
      seg = { startsFile: true, from: i, to: i, bytes: 0 };
      segments.push(seg);
      size = 0;
      needFile = false;
    } else if (!seg) {
      seg = { startsFile: false, from: i, to: i, bytes: 0 };
      segments.push(seg);
    }
    seg.to = i + 1;
    seg.bytes += bytes;
    size += bytes;
  }
  return segments;
}
