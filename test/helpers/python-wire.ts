// The bytes Python clients put on the wire, reproduced without Python: `json.dumps` with its
// default separators (", " and ": ") and float repr, and numpy's little-endian tensor bytes.
// Used by the compatibility tests of Triton's and KServe's clients (test/compat/).

/** Python's repr of a float: shortest round-trip digits, ".0" on whole numbers, exponent form past 1e16 or under 1e-4. */
export function pyFloat(x: number): string {
  if (!Number.isFinite(x)) throw new Error('json.dumps writes NaN/Infinity, which no OIP server accepts');
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, exp] = x.toExponential().split('e');
  const e = Number(exp);
  const sign = mantissa.startsWith('-') ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');
  if (e < -4 || e >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  const point = e + 1;
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}.0`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** A value Python would hold: ints stay ints, floats are marked so they print as Python floats. */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** `json.dumps(value)` as CPython writes it (ensure_ascii, ", " and ": "); `compact` for orjson's form. */
export function pyJsonDumps(value: unknown, compact = false): string {
  const comma = compact ? ',' : ', ';
  const colon = compact ? ':' : ': ';
  const enc = (v: unknown): string => {
    if (v instanceof PyFloat) return pyFloat(v.value);
    if (v === null) return 'null';
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    if (typeof v === 'number') {
      if (!Number.isInteger(v)) throw new Error(`${v}: mark floats with PyFloat`);
      return String(v);
    }
    if (typeof v === 'string') return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    if (Array.isArray(v)) return `[${v.map(enc).join(comma)}]`;
    return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${enc(k)}${colon}${enc(x)}`).join(comma)}}`;
  };
  return enc(value);
}

/** numpy's `.tobytes()` of a float32 array (little-endian, as every x86 and ARM machine stores it). */
export function float32Bytes(values: readonly number[]): Buffer {
  return Buffer.from(Float32Array.from(values).buffer);
}

/** tritonclient.utils.deserialize_bytes_tensor: 4-byte little-endian lengths, each followed by its bytes. */
export function deserializeBytesTensor(buffer: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at < buffer.length; ) {
    const n = buffer.readUInt32LE(at);
    out.push(buffer.subarray(at + 4, at + 4 + n).toString('utf8'));
    at += 4 + n;
  }
  return out;
}
