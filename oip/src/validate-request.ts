import { decodeBinaryTensor, HEADER_LENGTH } from './binary-data.js';
import { ELEMENT_CHECK, isDatatype, type ElementProblem } from './datatypes.js';
import type { InferenceRequest, ModelSignature, TensorSpec } from './signature.js';
import { walkTensorData } from './tensor-data.js';

/** Why a request body is not a valid inference request for a model; each maps to HTTP 400. */
export type RequestProblemCode =
  | 'INVALID_INFERENCE_REQUEST'
  | 'UNKNOWN_INPUT'
  | 'MISSING_INPUT'
  | 'DUPLICATE_INPUT'
  | 'DATATYPE_MISMATCH'
  | 'SHAPE_MISMATCH'
  | 'BATCH_TOO_LARGE'
  | 'ELEMENT_COUNT_MISMATCH'
  | 'INVALID_ELEMENT'
  | 'NON_FINITE_VALUE'
  | 'VALUE_OUT_OF_RANGE'
  | 'UNKNOWN_OUTPUT'
  | 'FIELD_TOO_LARGE'
  | 'INVALID_BINARY_DATA';

export type ValidationResult =
  | { ok: true; request: InferenceRequest; batchSize: number }
  | { ok: false; code: RequestProblemCode; message: string };

function fail(code: RequestProblemCode, message: string): ValidationResult {
  return { ok: false, code, message };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Bounds on the fields that are not tensor data (which the model's shapes bound). */
export const FIELD_BOUNDS = { idChars: 256, nameChars: 256, parameters: 32, parameterKeyChars: 64, parameterValueChars: 1024 } as const;

// model_name: KServe's Python client puts the model's name in the body too (the gateway checks it
// against the path's).
const REQUEST_KEYS = new Set(['id', 'model_name', 'parameters', 'inputs', 'outputs']);
const INPUT_KEYS = new Set(['name', 'shape', 'datatype', 'parameters', 'data']);
const OUTPUT_KEYS = new Set(['name', 'parameters']);

/** A value as it may appear in an error message: short, and never a walk of what the client sent. */
export function brief(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : typeof v;
}

function unknownKey(obj: Record<string, unknown>, allowed: Set<string>): string | undefined {
  for (const k in obj) if (!allowed.has(k)) return k;
  return undefined;
}

/**
 * OIP parameters: an object of at most FIELD_BOUNDS.parameters names, each a string, number or
 * boolean (the protocol has no nested parameters; nesting was a way to smuggle any depth through).
 */
function checkParameters(where: string, parameters: unknown): ValidationResult | null {
  if (parameters === undefined) return null;
  if (!isPlainObject(parameters)) return fail('INVALID_INFERENCE_REQUEST', `${where} must be an object`);
  let count = 0;
  for (const key in parameters) {
    if (++count > FIELD_BOUNDS.parameters) return fail('FIELD_TOO_LARGE', `${where} has more than ${FIELD_BOUNDS.parameters} entries`);
    if (key.length > FIELD_BOUNDS.parameterKeyChars) return fail('FIELD_TOO_LARGE', `${where} has a name longer than ${FIELD_BOUNDS.parameterKeyChars} characters`);
    const value = parameters[key];
    if (typeof value === 'string') {
      if (value.length > FIELD_BOUNDS.parameterValueChars) return fail('FIELD_TOO_LARGE', `${where}.${key} is longer than ${FIELD_BOUNDS.parameterValueChars} characters`);
    } else if (typeof value !== 'number' && typeof value !== 'boolean') {
      return fail('INVALID_INFERENCE_REQUEST', `${where}.${key} must be a string, number or boolean, got ${brief(value)}`);
    }
  }
  return null;
}

/**
 * The standard parameters vigil reads itself (OIP, Triton and KServe clients send them), with
 * what each must be; they are never the model's, so the structural allowlist does not apply.
 */
export const STANDARD_PARAMETERS = {
  request: { binary_data_output: 'boolean', timeout: 'count', priority: 'count' },
  input: { binary_data_size: 'count' },
  output: { binary_data: 'boolean', classification: 'positive' },
} as const satisfies Record<string, Record<string, 'boolean' | 'count' | 'positive'>>;

function checkStandard(where: string, parameters: unknown, standard: Record<string, 'boolean' | 'count' | 'positive'>): ValidationResult | null {
  if (!isPlainObject(parameters)) return null;
  for (const key in standard) {
    const value = parameters[key];
    if (value === undefined) continue;
    const kind = standard[key];
    const ok = kind === 'boolean' ? typeof value === 'boolean' : Number.isSafeInteger(value) && (value as number) >= (kind === 'positive' ? 1 : 0);
    if (!ok) return fail('INVALID_INFERENCE_REQUEST', `${where}.${key} must be ${kind === 'boolean' ? 'true or false' : kind === 'positive' ? 'a positive integer' : 'a non-negative integer'}, got ${brief(value)}`);
  }
  return null;
}

/**
 * Checks a parsed JSON body against the model's signature: every input named, typed and shaped
 * as declared, every element a valid value of its datatype, the batch within bounds, and every
 * requested output known. Pure: the gateway and the pool run the same checks.
 *
 * `binary` is the part of the body after its JSON header (binary tensor data extension): inputs
 * with `parameters.binary_data_size` take their bytes from it in order, decoded and checked
 * element by element as JSON data is, and must use all of it.
 */
export function validateInferenceRequest(body: unknown, sig: ModelSignature, binary?: Uint8Array): ValidationResult {
  if (!isPlainObject(body)) return fail('INVALID_INFERENCE_REQUEST', 'the body must be a JSON object');
  const extra = unknownKey(body, REQUEST_KEYS);
  if (extra !== undefined) return fail('INVALID_INFERENCE_REQUEST', `unknown field ${brief(extra)}; an inference request has id, model_name, parameters, inputs and outputs`);
  if (body.id !== undefined && typeof body.id !== 'string') {
    return fail('INVALID_INFERENCE_REQUEST', '`id` must be a string');
  }
  if (typeof body.id === 'string' && body.id.length > FIELD_BOUNDS.idChars) return fail('FIELD_TOO_LARGE', `\`id\` is longer than ${FIELD_BOUNDS.idChars} characters`);
  if (body.model_name !== undefined && (typeof body.model_name !== 'string' || body.model_name.length > FIELD_BOUNDS.nameChars)) {
    return fail('INVALID_INFERENCE_REQUEST', `\`model_name\` must be a string of at most ${FIELD_BOUNDS.nameChars} characters`);
  }
  const parametersProblem = checkParameters('`parameters`', body.parameters) ?? checkStandard('`parameters`', body.parameters, STANDARD_PARAMETERS.request);
  if (parametersProblem) return parametersProblem;
  const inputs = body.inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) {
    return fail('INVALID_INFERENCE_REQUEST', '`inputs` must be a non-empty array');
  }

  const seen = new Set<string>();
  let batchSize = -1;
  let binaryAt = 0;
  for (let t = 0; t < inputs.length; t++) {
    const tensor: unknown = inputs[t];
    if (!isPlainObject(tensor)) return fail('INVALID_INFERENCE_REQUEST', `inputs[${t}] must be an object`);
    const extraKey = unknownKey(tensor, INPUT_KEYS);
    if (extraKey !== undefined) return fail('INVALID_INFERENCE_REQUEST', `inputs[${t}] has an unknown field ${brief(extraKey)}`);
    const { name, shape, datatype, parameters, data } = tensor;
    if (typeof name !== 'string') return fail('INVALID_INFERENCE_REQUEST', `inputs[${t}].name must be a string`);
    const spec = sig.inputs.find((s) => s.name === name);
    if (!spec) {
      return fail('UNKNOWN_INPUT', `unknown input ${brief(name)}; this model takes ${sig.inputs.map((s) => `'${s.name}'`).join(', ')}`);
    }
    if (seen.has(name)) return fail('DUPLICATE_INPUT', `input '${name}' appears more than once`);
    seen.add(name);
    if (!isDatatype(datatype) || datatype !== spec.datatype) {
      return fail('DATATYPE_MISMATCH', `input '${name}' must have datatype ${spec.datatype}, got ${brief(datatype)}`);
    }
    const tensorParameters = checkParameters(`inputs[${t}].parameters`, parameters) ?? checkStandard(`inputs[${t}].parameters`, parameters, STANDARD_PARAMETERS.input);
    if (tensorParameters) return tensorParameters;
    const shapeProblem = checkShape(shape, spec, sig.maxBatchSize);
    if (shapeProblem) return shapeProblem;
    const dims = shape as number[];
    if (sig.maxBatchSize > 0) {
      if (batchSize === -1) batchSize = dims[0];
      else if (dims[0] !== batchSize) {
        return fail('SHAPE_MISMATCH', `input '${name}' has batch size ${dims[0]}, other inputs have ${batchSize}`);
      }
    }
    const size = isPlainObject(parameters) ? (parameters.binary_data_size as number | undefined) : undefined;
    if (size === undefined) {
      const dataProblem = checkData(name, data, dims, spec);
      if (dataProblem) return dataProblem;
      continue;
    }
    if (binary === undefined) return fail('INVALID_BINARY_DATA', `input '${name}' has binary_data_size, but the request has no ${HEADER_LENGTH} header to say where its JSON ends`);
    if (data !== undefined) return fail('INVALID_BINARY_DATA', `input '${name}' has both data and binary_data_size; send one`);
    if (binaryAt + size > binary.byteLength) return fail('INVALID_BINARY_DATA', `input '${name}' says ${size} bytes of binary data, but only ${binary.byteLength - binaryAt} remain`);
    const decoded = decodeBinaryTensor(spec.datatype, binary.subarray(binaryAt, binaryAt + size), dims.reduce((a, b) => a * b, 1));
    binaryAt += size;
    if ('kind' in decoded) {
      if (decoded.kind === 'size') return fail('INVALID_BINARY_DATA', `input '${name}': ${decoded.message}`);
      const where = `input '${name}' element ${decoded.index}`;
      if (decoded.kind === 'non_finite') return fail('NON_FINITE_VALUE', `${where} is not a finite ${spec.datatype} value`);
      if (decoded.kind === 'range') return fail('VALUE_OUT_OF_RANGE', `${where} is outside the range of ${spec.datatype} that vigil accepts (integers up to 2^53)`);
      return fail('INVALID_ELEMENT', `${where} is not a valid ${spec.datatype} value`);
    }
    tensor.data = decoded;
  }
  if (binary !== undefined && binaryAt !== binary.byteLength) {
    return fail('INVALID_BINARY_DATA', `${binary.byteLength - binaryAt} bytes of binary data follow the last input that claims any`);
  }
  for (const spec of sig.inputs) {
    if (!seen.has(spec.name)) return fail('MISSING_INPUT', `input '${spec.name}' is required`);
  }

  if (body.outputs !== undefined) {
    if (!Array.isArray(body.outputs)) return fail('INVALID_INFERENCE_REQUEST', '`outputs` must be an array');
    const wanted = new Set<string>();
    for (let o = 0; o < body.outputs.length; o++) {
      const out: unknown = body.outputs[o];
      if (!isPlainObject(out) || typeof out.name !== 'string') {
        return fail('INVALID_INFERENCE_REQUEST', `outputs[${o}] must be an object with a string name`);
      }
      const extraOut = unknownKey(out, OUTPUT_KEYS);
      if (extraOut !== undefined) return fail('INVALID_INFERENCE_REQUEST', `outputs[${o}] has an unknown field ${brief(extraOut)}`);
      const outputParameters = checkParameters(`outputs[${o}].parameters`, out.parameters) ?? checkStandard(`outputs[${o}].parameters`, out.parameters, STANDARD_PARAMETERS.output);
      if (outputParameters) return outputParameters;
      const spec = sig.outputs.find((s) => s.name === out.name);
      if (!spec) {
        return fail('UNKNOWN_OUTPUT', `unknown output ${brief(out.name)}; this model returns ${sig.outputs.map((s) => `'${s.name}'`).join(', ')}`);
      }
      if (isPlainObject(out.parameters) && out.parameters.classification !== undefined && (spec.datatype === 'BYTES' || spec.datatype === 'BOOL')) {
        return fail('INVALID_INFERENCE_REQUEST', `output '${out.name}' is ${spec.datatype}; classification ranks a numeric output`);
      }
      if (wanted.has(out.name)) return fail('INVALID_INFERENCE_REQUEST', `output '${out.name}' is requested more than once`);
      wanted.add(out.name);
    }
  }
  return { ok: true, request: body as unknown as InferenceRequest, batchSize: batchSize === -1 ? 1 : batchSize };
}

function checkShape(shape: unknown, spec: TensorSpec, maxBatchSize: number): ValidationResult | null {
  const want = `[${spec.shape.join(',')}]`;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    return fail('SHAPE_MISMATCH', `input '${spec.name}' shape must be an array of non-negative integers`);
  }
  if (shape.length !== spec.shape.length) {
    return fail('SHAPE_MISMATCH', `input '${spec.name}' must have shape ${want}, got ${shape.length} dimensions`);
  }
  for (let i = 0; i < shape.length; i++) {
    const declared = spec.shape[i];
    if (declared === -1) {
      if (shape[i] < 1) return fail('SHAPE_MISMATCH', `input '${spec.name}' dimension ${i} must be at least 1`);
    } else if (shape[i] !== declared) {
      return fail('SHAPE_MISMATCH', `input '${spec.name}' must have shape ${want}, got [${shape.join(',')}]`);
    }
  }
  if (maxBatchSize > 0 && spec.shape[0] === -1 && shape[0] > maxBatchSize) {
    return fail('BATCH_TOO_LARGE', `input '${spec.name}' has batch size ${shape[0]}, this model accepts at most ${maxBatchSize}`);
  }
  return null;
}

function checkData(name: string, data: unknown, shape: number[], spec: TensorSpec): ValidationResult | null {
  const check = ELEMENT_CHECK[spec.datatype];
  const found: { problem: ElementProblem | null } = { problem: null };
  const walked = walkTensorData(data, shape, (value) => (found.problem = check(value)) === null);
  if (!walked) return null;
  if (walked.kind === 'count') return fail('ELEMENT_COUNT_MISMATCH', `input '${name}': ${walked.message}`);
  const where = `input '${name}' element ${walked.index}`;
  switch (found.problem) {
    case 'non_finite':
      return fail('NON_FINITE_VALUE', `${where} is not a finite ${spec.datatype} value`);
    case 'range':
      return fail('VALUE_OUT_OF_RANGE', `${where} is outside the range of ${spec.datatype}`);
    default:
      return fail('INVALID_ELEMENT', `${where} must be a ${spec.datatype === 'BOOL' ? 'boolean' : spec.datatype === 'BYTES' ? 'string' : 'number'}, got ${brief(walked.value)}`);
  }
}
