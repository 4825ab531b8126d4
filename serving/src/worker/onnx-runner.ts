import ort from 'onnxruntime-node';
import type { Datatype } from '../../../oip/src/datatypes.js';
import type { InferenceRequest, ModelSignature } from '../../../oip/src/signature.js';
import { walkTensorData } from '../../../oip/src/tensor-data.js';
import type { AnswerTensor } from '../../../oip/src/infer-answer.js';
import { typedArrayOf } from '../../../oip/src/binary-data.js';

type OrtType = 'float32' | 'float64' | 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'bool' | 'string';

const ORT_TYPE: Partial<Record<Datatype, OrtType>> = {
  FP32: 'float32', FP64: 'float64', INT8: 'int8', INT16: 'int16', INT32: 'int32', INT64: 'int64',
  UINT8: 'uint8', UINT16: 'uint16', UINT32: 'uint32', UINT64: 'uint64', BOOL: 'bool', BYTES: 'string',
};

function allocate(datatype: Datatype, n: number) {
  if (datatype === 'BYTES') return new Array<string>(n);
  if (!ORT_TYPE[datatype]) throw new Error(`datatype ${datatype} is not supported by the ONNX Runtime pool`);
  return typedArrayOf(datatype, n);
}

type TensorData = ort.Tensor['data'];

/** One part of a run: a request's input tensors, ready for ONNX Runtime, `rows` deep in the batch dimension. */
export interface Feeds {
  rows: number;
  tensors: Record<string, { datatype: Datatype; dims: number[]; data: TensorData }>;
}

/** One output of a run, cut down to one part's rows. */
export interface RawOutput {
  dims: number[];
  data: TensorData;
}

/** The graph contradicts model.yaml: the same on every start, so not worth a restart. */
export class GraphConfigError extends Error {}

/** Runs one ONNX model with ONNX Runtime; knows nothing about HTTP, processes or queues. */
export class OnnxRunner {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly signature: ModelSignature,
  ) {}

  /** With `batching`, the graph itself must leave every first dimension free: merged runs stack requests there. */
  static async create(modelBytes: Uint8Array, signature: ModelSignature, intraOpThreads: number, opts: { batching?: boolean } = {}): Promise<OnnxRunner> {
    for (const t of [...signature.inputs, ...signature.outputs]) {
      if (!ORT_TYPE[t.datatype]) throw new Error(`tensor '${t.name}': datatype ${t.datatype} is not supported`);
    }
    const session = await ort.InferenceSession.create(modelBytes, {
      intraOpNumThreads: intraOpThreads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    const missing = signature.inputs.map((t) => t.name).filter((n) => !session.inputNames.includes(n))
      .concat(signature.outputs.map((t) => t.name).filter((n) => !session.outputNames.includes(n)));
    if (missing.length > 0) {
      await session.release();
      throw new GraphConfigError(`model.yaml names tensors the ONNX graph lacks: ${missing.join(', ')}`);
    }
    if (opts.batching) {
      // model.yaml may say [-1, …] while the graph fixes the first dimension (a reduction, say):
      // merging requests there would mix clients' data, so such a model must not batch.
      for (const m of [...session.inputMetadata, ...session.outputMetadata]) {
        const first = m.isTensor ? m.shape[0] : undefined;
        if (typeof first === 'number' && first >= 0) {
          await session.release();
          throw new GraphConfigError(`dynamic_batching needs a free first dimension, but the graph fixes ${m.name}'s to ${first}; remove dynamic_batching from model.yaml`);
        }
      }
    }
    return new OnnxRunner(session, signature);
  }

  /** The input tensors of a request; `request` must already have passed validateInferenceRequest for this signature. */
  feedsOf(request: InferenceRequest): Feeds {
    const tensors: Feeds['tensors'] = {};
    for (const input of request.inputs) {
      const n = input.shape.reduce((a, b) => a * b, 1);
      const values = allocate(input.datatype, n);
      const isBigInt = values instanceof BigInt64Array || values instanceof BigUint64Array;
      // Binary tensor data arrives as a typed array of the datatype's own width: one copy.
      if (ArrayBuffer.isView(input.data) && !isBigInt && !Array.isArray(values)) {
        (values as Float32Array).set(input.data as Float32Array);
        tensors[input.name] = { datatype: input.datatype, dims: input.shape, data: values };
        continue;
      }
      walkTensorData(input.data, input.shape, (v, i) => {
        (values as unknown as unknown[])[i] = isBigInt ? BigInt(v as number) : input.datatype === 'BOOL' ? (v ? 1 : 0) : v;
        return true;
      });
      tensors[input.name] = { datatype: input.datatype, dims: input.shape, data: values };
    }
    return { rows: request.inputs[0].shape[0], tensors };
  }

  /** The model's one FP32 input as a matrix of rows (a request's rows plus their screening copies). */
  rowFeeds(rows: Float32Array[]): Feeds {
    const features = rows[0].length;
    const values = new Float32Array(rows.length * features);
    rows.forEach((row, r) => values.set(row, r * features));
    return { rows: rows.length, tensors: { [this.signature.inputs[0].name]: { datatype: 'FP32', dims: [rows.length, features], data: values } } };
  }

  /** Parts with the same key can share one run: the same inputs, datatypes and dimensions past the batch. */
  static batchKey(feeds: Feeds): string {
    let key = '';
    for (const [name, t] of Object.entries(feeds.tensors)) key += `${name}:${t.datatype}:${t.dims.slice(1).join('x')};`;
    return key;
  }

  /** The outputs a request asked for, or all of them. */
  wantedOutputs(request: InferenceRequest): string[] {
    return request.outputs?.map((o) => o.name) ?? this.signature.outputs.map((o) => o.name);
  }

  /**
   * One ONNX Runtime run over the parts stacked along the batch dimension (parts must share a
   * batch key, and the model must batch when there is more than one), computing `names`; each part
   * gets back its own rows of every output. `started` is called as the run begins.
   */
  async run(parts: Feeds[], names: string[], started?: () => void): Promise<Record<string, RawOutput>[]> {
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of Object.keys(parts[0].tensors)) {
      const first = parts[0].tensors[name];
      const data = parts.length === 1 ? first.data : concat(parts.map((p) => p.tensors[name].data));
      const dims = parts.length === 1 ? first.dims : [parts.reduce((n, p) => n + p.rows, 0), ...first.dims.slice(1)];
      feeds[name] = new ort.Tensor(ORT_TYPE[first.datatype]!, data as never, dims);
    }
    started?.();
    const results = await this.session.run(feeds, names);
    const out = parts.map(() => ({}) as Record<string, RawOutput>);
    const total = parts.reduce((n, p) => n + p.rows, 0);
    for (const name of names) {
      const tensor = results[name];
      const dims = tensor.dims.map(Number);
      if (parts.length === 1) {
        out[0][name] = { dims, data: tensor.data };
        continue;
      }
      // An output that is not one row per input row cannot be split between requests (the caller
      // then runs them one at a time).
      if (dims[0] !== total) throw new Error(`output ${name} has ${dims[0]} rows for a merged batch of ${total}; it cannot be split between requests`);
      const width = dims.slice(1).reduce((a, b) => a * b, 1);
      let row = 0;
      parts.forEach((part, i) => {
        out[i][name] = { dims: [part.rows, ...dims.slice(1)], data: slice(tensor.data, row * width, (row + part.rows) * width) };
        row += part.rows;
      });
    }
    return out;
  }

  /** The OIP output tensors of `wanted`, from the first `answerRows` rows (the rest were screening copies). */
  toOutputs(raw: Record<string, RawOutput>, wanted: string[], answerRows: number): AnswerTensor[] {
    return wanted.map((name) => {
      const spec = this.signature.outputs.find((o) => o.name === name)!;
      const dims = [...raw[name].dims];
      let data = raw[name].data;
      if (answerRows < dims[0]) {
        const width = dims.slice(1).reduce((a, b) => a * b, 1);
        data = slice(data, 0, answerRows * width);
        dims[0] = answerRows;
      }
      return { name, datatype: spec.datatype, shape: dims, data: data as AnswerTensor['data'] };
    });
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

/** A float output's rows, one view each (e.g. the probabilities screening reads). */
export function rowsOf(out: RawOutput): Float32Array[] {
  const [rows, ...rest] = out.dims;
  const width = rest.reduce((a, b) => a * b, 1);
  const data = out.data as Float32Array;
  return Array.from({ length: rows }, (_, r) => data.subarray(r * width, (r + 1) * width));
}

/** A view (typed arrays) or copy (BYTES' string arrays) of elements [from, to). */
function slice(data: TensorData, from: number, to: number): TensorData {
  return Array.isArray(data) ? data.slice(from, to) : (data as Float32Array).subarray(from, to);
}

function concat(parts: TensorData[]): TensorData {
  if (Array.isArray(parts[0])) return (parts as string[][]).flat();
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new (parts[0].constructor as new (n: number) => Float32Array)(total);
  let at = 0;
  for (const p of parts) {
    out.set(p as Float32Array, at);
    at += p.length;
  }
  return out;
}
