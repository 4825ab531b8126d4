import { decodeBinaryTensor, encodeBinaryTensor, type RawTensorData } from './binary-data.js';
import { isDatatype, type Datatype } from './datatypes.js';

/** One output tensor of an answer: JSON values, or typed data (ONNX Runtime's, or decoded binary). */
export interface AnswerTensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: RawTensorData;
}

/** An answer's fields besides its outputs (model_name, model_version, id, parameters), in order. */
export type AnswerHead = Record<string, unknown>;

/** An encoded answer: its bytes, and the length of its JSON header when binary data follows. */
export interface EncodedAnswer {
  body: Buffer;
  headerLength?: number;
}

/**
 * An OIP answer with `binary` outputs as binary tensor data after the JSON header (their JSON
 * entry says binary_data_size) and the rest as JSON data. Without binary outputs it is plain JSON.
 */
export function encodeAnswer(head: AnswerHead, outputs: readonly AnswerTensor[], binary?: ReadonlySet<string>): EncodedAnswer {
  const parts: Buffer[] = [];
  const entries = outputs.map(({ name, datatype, shape, data }) => {
    if (!binary?.has(name)) return { name, datatype, shape, data: toJsonArray(data, datatype) };
    const bytes = encodeBinaryTensor(datatype, data);
    parts.push(bytes);
    return { name, datatype, shape, parameters: { binary_data_size: bytes.length } };
  });
  const json = Buffer.from(JSON.stringify({ ...head, outputs: entries }));
  if (parts.length === 0) return { body: json };
  return { body: Buffer.concat([json, ...parts]), headerLength: json.length };
}

/** Tensor data as JSON values: booleans for BOOL, numbers for 64-bit integers. */
export function toJsonArray(data: RawTensorData, datatype: Datatype): unknown[] {
  if (!ArrayBuffer.isView(data)) return data as unknown[];
  if (datatype === 'BOOL') return Array.from(data as Uint8Array, (v) => v !== 0);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, Number);
  return Array.from(data as unknown as ArrayLike<number>);
}

/**
 * An OIP answer read back (JSON, with binary outputs after `headerLength` bytes), its outputs'
 * data as JSON values whatever form they came in. Throws on anything malformed: the caller
 * treats that as a broken answer.
 */
export function decodeAnswer(body: Buffer, headerLength: number | undefined): { head: AnswerHead; outputs: AnswerTensor[] } {
  const json = headerLength === undefined ? body : body.subarray(0, headerLength);
  const parsed = JSON.parse(json.toString('utf8')) as { outputs?: unknown } & AnswerHead;
  if (typeof parsed !== 'object' || parsed === null || !Array.isArray(parsed.outputs)) throw new Error('the answer has no outputs');
  const { outputs: entries, ...head } = parsed;
  let at = headerLength ?? body.length;
  const outputs = (entries as Record<string, unknown>[]).map((entry) => {
    const { name, datatype, shape, data, parameters } = entry as { name: unknown; datatype: unknown; shape: unknown; data?: unknown; parameters?: { binary_data_size?: unknown } };
    if (typeof name !== 'string' || !isDatatype(datatype) || !Array.isArray(shape)) throw new Error('an output of the answer is malformed');
    const size = parameters?.binary_data_size;
    if (size === undefined) {
      if (!Array.isArray(data)) throw new Error(`output '${name}' has no data`);
      return { name, datatype, shape: shape as number[], data: data as unknown[] as number[] };
    }
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || at + size > body.length) throw new Error(`output '${name}' has a bad binary_data_size`);
    // A model may answer NaN or infinity: read it as it is (JSON would have said null).
    const decoded = decodeBinaryTensor(datatype, body.subarray(at, at + size), (shape as number[]).reduce((a, b) => a * b, 1), false);
    at += size;
    if ('kind' in decoded) throw new Error(`output '${name}' has binary data that does not fit its shape`);
    return { name, datatype, shape: shape as number[], data: toJsonArray(decoded, datatype === 'INT64' || datatype === 'UINT64' ? 'FP64' : datatype) as number[] };
  });
  if (at !== body.length) throw new Error('the answer has bytes after its last output');
  return { head, outputs };
}
