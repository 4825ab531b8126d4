// Open Inference Protocol tensor datatypes and what a JSON element of each may be.
// Hand-written rather than a JSON-schema library: it runs on every element of every
// request on the hot path, and the checks depend on the datatype, not on a fixed shape.

export const DATATYPES = [
  'BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64',
  'FP16', 'FP32', 'FP64', 'BYTES',
] as const;
export type Datatype = (typeof DATATYPES)[number];

export function isDatatype(value: unknown): value is Datatype {
  return typeof value === 'string' && (DATATYPES as readonly string[]).includes(value);
}

export type ElementProblem = 'type' | 'non_finite' | 'range';

const FP32_MAX = 3.4028234663852886e38;
const FP16_MAX = 65504;

function integerIn(min: number, max: number) {
  return (v: unknown): ElementProblem | null => {
    if (typeof v !== 'number') return 'type';
    if (!Number.isFinite(v)) return 'non_finite';
    if (!Number.isInteger(v) || v < min || v > max) return 'range';
    return null;
  };
}

function floatWithin(max: number) {
  return (v: unknown): ElementProblem | null => {
    if (typeof v !== 'number') return 'type';
    // JSON has no NaN/Infinity literals, but 1e999 parses to Infinity, and a finite double
    // above the datatype's maximum becomes Infinity once narrowed.
    if (!Number.isFinite(v) || v > max || v < -max) return 'non_finite';
    return null;
  };
}

/** Returns why one JSON element cannot be a value of the datatype, or null if it can. */
export const ELEMENT_CHECK: Record<Datatype, (v: unknown) => ElementProblem | null> = {
  BOOL: (v) => (typeof v === 'boolean' ? null : 'type'),
  UINT8: integerIn(0, 0xff),
  UINT16: integerIn(0, 0xffff),
  UINT32: integerIn(0, 0xffffffff),
  // 64-bit integers travel as JSON numbers; only the exactly representable ones are accepted.
  UINT64: integerIn(0, Number.MAX_SAFE_INTEGER),
  INT8: integerIn(-0x80, 0x7f),
  INT16: integerIn(-0x8000, 0x7fff),
  INT32: integerIn(-0x80000000, 0x7fffffff),
  INT64: integerIn(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
  FP16: floatWithin(FP16_MAX),
  FP32: floatWithin(FP32_MAX),
  FP64: floatWithin(Number.MAX_VALUE),
  BYTES: (v) => (typeof v === 'string' ? null : 'type'),
};
