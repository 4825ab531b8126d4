// The binary tensor data extension (Triton's, which KServe's v2 protocol shares): a body is a JSON
// header of `Inference-Header-Content-Length` bytes followed by tensors' raw little-endian bytes,
// each tensor saying its size in `parameters.binary_data_size`, in the order the tensors appear.
// Written here rather than taken from a library: no maintained JavaScript one exists, and it runs
// on every element of every binary request on the hot path, on both sides of the pool socket.
import { endianness } from 'node:os';
import type { Datatype } from './datatypes.js';

// Typed arrays read the machine's byte order; the extension's is little-endian.
if (endianness() !== 'LE') throw new Error('the binary tensor data extension needs a little-endian machine');

/** The HTTP header giving the length of the JSON part of a binary body (requests and answers). */
export const HEADER_LENGTH = 'inference-header-content-length';

/** Bytes per element of each fixed-size datatype (BYTES is length-prefixed, so variable). */
export const ELEMENT_BYTES: Record<Exclude<Datatype, 'BYTES'>, number> = {
  BOOL: 1, UINT8: 1, INT8: 1, UINT16: 2, INT16: 2, FP16: 2, UINT32: 4, INT32: 4, FP32: 4, UINT64: 8, INT64: 8, FP64: 8,
};

/** Decoded tensor values: numbers in a typed array (64-bit integers as exact doubles), or strings. */
export type TensorValues = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | string[];

/** Why a binary tensor is not acceptable, with the element it stopped at where there is one. */
export type BinaryProblem =
  | { kind: 'size'; message: string }
  | { kind: 'non_finite' | 'range' | 'element'; index: number };

/**
 * The Inference-Header-Content-Length of a body of `bodyBytes`: undefined when absent (the body is
 * all JSON), a number when valid, or an error message. A header of the whole body is JSON only.
 */
export function headerLengthOf(value: string | string[] | undefined, bodyBytes: number): number | undefined | { error: string } {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^\d{1,12}$/.test(value)) return { error: `the ${HEADER_LENGTH} header must be one non-negative integer` };
  const n = Number(value);
  if (n < 2 || n > bodyBytes) return { error: `the ${HEADER_LENGTH} header says ${n} bytes of JSON, but the body has ${bodyBytes} bytes` };
  return n;
}

// ignoreBOM: a leading U+FEFF is data, kept as the JSON path keeps it.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** A copy when `bytes` is not aligned for `size`-byte elements (typed arrays need alignment); a view otherwise. */
function aligned(bytes: Uint8Array, size: number): ArrayBufferLike {
  if (bytes.byteOffset % size === 0) return bytes.buffer;
  // new Uint8Array(view) copies (a Buffer's slice() would not).
  return new Uint8Array(bytes).buffer;
}

function view<T>(Ctor: new (b: ArrayBufferLike, offset: number, length: number) => T, bytes: Uint8Array, size: number): T {
  const buffer = aligned(bytes, size);
  const offset = buffer === bytes.buffer ? bytes.byteOffset : 0;
  return new Ctor(buffer, offset, bytes.byteLength / size);
}

/**
 * Decodes one tensor's `count` elements from its binary bytes, checking each as the JSON path
 * checks elements: floats finite, BOOL 0 or 1, 64-bit integers exactly representable as doubles
 * (as JSON numbers must be), BYTES valid UTF-8. The result may view `bytes`: keep `bytes` intact.
 * `finite: false` (answers, which a model may fill with NaN) lets non-finite floats through.
 */
export function decodeBinaryTensor(datatype: Datatype, bytes: Uint8Array, count: number, finite = true): TensorValues | BinaryProblem {
  if (datatype === 'BYTES') return decodeBytesTensor(bytes, count);
  const size = ELEMENT_BYTES[datatype];
  if (bytes.byteLength !== count * size) {
    return { kind: 'size', message: `${count} ${datatype} elements take ${count * size} bytes, binary_data_size says ${bytes.byteLength}` };
  }
  switch (datatype) {
    case 'FP32':
    case 'FP64': {
      const values = datatype === 'FP32' ? view(Float32Array, bytes, 4) : view(Float64Array, bytes, 8);
      if (finite) for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return { kind: 'non_finite', index: i };
      return values;
    }
    case 'FP16': {
      // Checked in its bits (exponent all ones: infinity or NaN) and widened to float32 for the checks that read values.
      const halves = view(Uint16Array, bytes, 2);
      const values = new Float32Array(count);
      for (let i = 0; i < count; i++) {
        const h = halves[i];
        if ((h & 0x7c00) === 0x7c00) {
          if (finite) return { kind: 'non_finite', index: i };
          values[i] = h & 0x3ff ? NaN : h & 0x8000 ? -Infinity : Infinity;
          continue;
        }
        values[i] = halfToFloat(h);
      }
      return values;
    }
    case 'BOOL': {
      const values = view(Uint8Array, bytes, 1);
      for (let i = 0; i < values.length; i++) if (values[i] > 1) return { kind: 'element', index: i };
      return values;
    }
    case 'INT64':
    case 'UINT64': {
      const wide = datatype === 'INT64' ? view(BigInt64Array, bytes, 8) : view(BigUint64Array, bytes, 8);
      const values = new Float64Array(count);
      for (let i = 0; i < count; i++) {
        const n = Number(wide[i]);
        if (n > MAX_SAFE || n < -MAX_SAFE) return { kind: 'range', index: i };
        values[i] = n;
      }
      return values;
    }
    case 'INT8': return view(Int8Array, bytes, 1);
    case 'UINT8': return view(Uint8Array, bytes, 1);
    case 'INT16': return view(Int16Array, bytes, 2);
    case 'UINT16': return view(Uint16Array, bytes, 2);
    case 'INT32': return view(Int32Array, bytes, 4);
    case 'UINT32': return view(Uint32Array, bytes, 4);
  }
}

function decodeBytesTensor(bytes: Uint8Array, count: number): string[] | BinaryProblem {
  const out: string[] = [];
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 4 > data.length) return { kind: 'size', message: `the binary data ends inside BYTES element ${i} of ${count}` };
    const length = data.readUInt32LE(at);
    at += 4;
    if (at + length > data.length) return { kind: 'size', message: `BYTES element ${i} says ${length} bytes, past the end of its binary data` };
    try {
      out.push(utf8.decode(data.subarray(at, at + length)));
    } catch {
      return { kind: 'element', index: i };
    }
    at += length;
  }
  if (at !== data.length) return { kind: 'size', message: `${data.length - at} bytes follow the last of ${count} BYTES elements` };
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** Raw tensor data as an answer holds it before encoding: ONNX Runtime's typed arrays, or strings. */
export type RawTensorData = ArrayBufferView | readonly string[] | readonly number[] | readonly boolean[];

/**
 * One tensor's binary bytes, little-endian as the extension says. Typed arrays must already be
 * the datatype's width (ONNX Runtime's outputs are); JSON arrays (numbers, booleans, strings)
 * are converted.
 */
export function encodeBinaryTensor(datatype: Datatype, data: RawTensorData): Buffer {
  if (ArrayBuffer.isView(data)) {
    if (datatype === 'BOOL' && !(data instanceof Uint8Array)) throw new Error('BOOL binary data must be bytes');
    return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  }
  const values = data as readonly (number | boolean | string)[];
  if (datatype === 'BYTES') {
    const parts = values.map((v) => Buffer.from(String(v), 'utf8'));
    const out = Buffer.allocUnsafe(parts.reduce((n, p) => n + 4 + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.writeUInt32LE(p.length, at);
      p.copy(out, at + 4);
      at += 4 + p.length;
    }
    return out;
  }
  const typed = typedArrayOf(datatype, values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typed instanceof BigInt64Array || typed instanceof BigUint64Array) typed[i] = BigInt(v as number);
    else if (datatype === 'FP16') typed[i] = floatToHalf(v as number);
    // JSON carries a model's NaN as null: binary says NaN again, never 0.
    else (typed as Float32Array)[i] = typeof v === 'boolean' ? (v ? 1 : 0) : v === null ? NaN : (v as number);
  }
  return Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** A finite number as IEEE half-precision bits (rounding half up; past 65504 becomes infinity). */
function floatToHalf(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  let exponent = ((x >>> 23) & 0xff) - 127 + 15;
  let mantissa = x & 0x7fffff;
  if (exponent >= 31) return sign | 0x7c00;
  if (exponent <= 0) {
    if (exponent < -10) return sign;
    mantissa = (mantissa | 0x800000) >> (1 - exponent);
    return sign | ((mantissa + 0x1000) >> 13);
  }
  mantissa += 0x1000;
  if (mantissa & 0x800000) {
    mantissa = 0;
    exponent++;
    if (exponent >= 31) return sign | 0x7c00;
  }
  return sign | (exponent << 10) | (mantissa >> 13);
}

/** A zeroed typed array of `n` elements of the datatype's own width (FP16 as its 16-bit patterns). */
export function typedArrayOf(datatype: Exclude<Datatype, 'BYTES'>, n: number) {
  switch (datatype) {
    case 'FP32': return new Float32Array(n);
    case 'FP64': return new Float64Array(n);
    case 'FP16': return new Uint16Array(n);
    case 'INT8': return new Int8Array(n);
    case 'UINT8': case 'BOOL': return new Uint8Array(n);
    case 'INT16': return new Int16Array(n);
    case 'UINT16': return new Uint16Array(n);
    case 'INT32': return new Int32Array(n);
    case 'UINT32': return new Uint32Array(n);
    case 'INT64': return new BigInt64Array(n);
    case 'UINT64': return new BigUint64Array(n);
  }
}
