/**
 * What a record can be, shared by the writer (which refuses more) and the readers (which skip
 * more as "not a record the writer wrote" instead of reading it whole: one 600 MB line crashed
 * `vigil audit verify`, one 10,000-deep line overflowed its stack).
 */

/** The longest stored line (without its newline). Records are a few hundred bytes; this is room, not a target. */
export const MAX_LINE_BYTES = 1024 * 1024;

/** The deepest nesting of arrays and objects in a record (the record itself is level 1); records use about 4. */
export const MAX_RECORD_DEPTH = 32;
