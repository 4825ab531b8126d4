import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../../oip/src/json-depth.js';
import { ELEMENT_CHECK, type Datatype } from '../../../oip/src/datatypes.js';
import type { ModelSignature } from '../../../oip/src/signature.js';
import { walkTensorData } from '../../../oip/src/tensor-data.js';

/** One output of a checked answer, its data flattened row-major. */
export interface AnswerTensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: unknown[];
}

export type AnswerCheck = { ok: true; outputs: Map<string, AnswerTensor> } | { ok: false; problem: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });
const MAX_PROBLEM = 200;

/**
 * Checks a remote server's 200 answer against the model's declared signature before anything of
 * it reaches a client or a detector: JSON of bounded depth, every wanted output present once with
 * the declared datatype and shape, `rows` rows when the model batches, and elements of the right
 * type. A remote server is trusted less than vigil's own pool: it may be another team's Triton, or
 * broken, and its answer feeds the extraction and squeeze detectors.
 */
export function checkAnswer(body: Buffer, sig: ModelSignature, wanted: readonly string[], rows: number | undefined): AnswerCheck {
  if (nestsDeeperThan(body, MAX_JSON_DEPTH)) return bad(`JSON nests deeper than ${MAX_JSON_DEPTH} levels`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(body));
  } catch (err) {
    return bad(`not JSON (${(err as Error).name})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return bad('not a JSON object');
  const outputs = (parsed as { outputs?: unknown }).outputs;
  if (!Array.isArray(outputs)) return bad('no `outputs` array');
  const found = new Map<string, AnswerTensor>();
  for (const out of outputs) {
    if (typeof out !== 'object' || out === null) return bad('an output is not an object');
    const { name, datatype, shape, data } = out as Record<string, unknown>;
    const spec = sig.outputs.find((o) => o.name === name);
    if (!spec) continue; // an output the model does not declare: never passed on
    if (found.has(spec.name)) return bad(`output '${spec.name}' appears twice`);
    // The server's own text is never echoed: it could be anything, and this problem reaches logs and /status.
    if (datatype !== spec.datatype) return bad(`output '${spec.name}' is not of the declared datatype ${spec.datatype}`);
    if (!Array.isArray(shape) || shape.length !== spec.shape.length || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      return bad(`output '${spec.name}' does not have a shape of the declared rank ${spec.shape.length} with non-negative integer dimensions`);
    }
    for (let i = 0; i < shape.length; i++) {
      const declared = spec.shape[i];
      const expected = i === 0 && sig.maxBatchSize > 0 ? rows : declared === -1 ? undefined : declared;
      if (expected !== undefined && shape[i] !== expected) return bad(`output '${spec.name}' has shape [${shape.join(',')}], expected ${i === 0 ? `${expected} rows` : `dimension ${i} of ${expected}`}`);
    }
    const flat: unknown[] = [];
    const problem = walkTensorData(data, shape as number[], (v) => {
      if (!elementFits(v, spec.datatype)) return false;
      flat.push(v);
      return true;
    });
    if (problem) return bad(`output '${spec.name}': ${problem.kind === 'count' ? problem.message : `element ${problem.index} is not a valid ${spec.datatype} value`}`);
    found.set(spec.name, { name: spec.name, datatype: spec.datatype, shape: shape as number[], data: flat });
  }
  for (const name of wanted) if (!found.has(name)) return bad(`output '${name}' is missing`);
  return { ok: true, outputs: found };
}

/** The same element rules as a request's: finite floats within the datatype, integers in range. */
function elementFits(v: unknown, datatype: Datatype): boolean {
  return ELEMENT_CHECK[datatype](v) === null;
}

function bad(problem: string): AnswerCheck {
  return { ok: false, problem: problem.slice(0, MAX_PROBLEM) };
}

/** The answer a client gets: vigil's own model name and version, only the outputs it asked for. */
export function answerBody(model: string, version: string, id: string | undefined, outputs: AnswerTensor[]): Buffer {
  const response: Record<string, unknown> = { model_name: model, model_version: version };
  if (id !== undefined) response.id = id;
  response.outputs = outputs;
  return Buffer.from(JSON.stringify(response));
}

/** The first `rows` rows of a batched output. */
export function firstRows(t: AnswerTensor, rows: number): AnswerTensor {
  if (t.shape[0] === rows) return t;
  const per = t.shape.slice(1).reduce((a, b) => a * b, 1);
  return { ...t, shape: [rows, ...t.shape.slice(1)], data: t.data.slice(0, rows * per) };
}

/** A batched FP32 output as rows, for the detectors. */
export function rowsOfOutput(t: AnswerTensor): Float32Array[] {
  const per = t.shape.slice(1).reduce((a, b) => a * b, 1);
  const rows: Float32Array[] = [];
  for (let r = 0; r < t.shape[0]; r++) rows.push(Float32Array.from(t.data.slice(r * per, (r + 1) * per) as number[]));
  return rows;
}

/** Bytes one JSON element may take: a float's shortest form with sign, exponent and separator. */
const BYTES_PER_ELEMENT = 32;
/** Room for names, shapes, ids, parameters and whitespace. */
const ANSWER_SLACK = 64 * 1024;
/** For outputs whose size the signature does not fix (a variable dimension past the batch, BYTES). */
export const UNBOUNDED_ANSWER_BYTES = 16 * 1024 * 1024;

/**
 * The most bytes a valid answer of `rows` rows can take, from the declared outputs: a remote
 * answer past it is refused while it streams in, before it is buffered or parsed. Unbounded
 * outputs (a variable dimension past the batch, BYTES) fall back to UNBOUNDED_ANSWER_BYTES.
 */
export function answerByteLimit(sig: ModelSignature, rows: number | undefined): number {
  let elements = 0;
  for (const o of sig.outputs) {
    if (o.datatype === 'BYTES') return UNBOUNDED_ANSWER_BYTES;
    let n = 1;
    for (let i = 0; i < o.shape.length; i++) {
      const d = i === 0 && sig.maxBatchSize > 0 ? (rows ?? sig.maxBatchSize) : o.shape[i];
      if (d < 0) return UNBOUNDED_ANSWER_BYTES; // a variable dimension past the batch
      n *= d;
    }
    elements += n;
  }
  return Math.min(UNBOUNDED_ANSWER_BYTES, elements * BYTES_PER_ELEMENT + ANSWER_SLACK);
}
