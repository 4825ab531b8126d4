import ort from 'onnxruntime-node';
import type { Datatype } from '../oip/datatypes.js';
import type { InferenceRequest, ModelSignature } from '../oip/signature.js';
import { walkTensorData } from '../oip/tensor-data.js';

export interface OutputTensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: number[] | boolean[] | string[];
}

type OrtType = 'float32' | 'float64' | 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'bool' | 'string';

const ORT_TYPE: Partial<Record<Datatype, OrtType>> = {
  FP32: 'float32', FP64: 'float64', INT8: 'int8', INT16: 'int16', INT32: 'int32', INT64: 'int64',
  UINT8: 'uint8', UINT16: 'uint16', UINT32: 'uint32', UINT64: 'uint64', BOOL: 'bool', BYTES: 'string',
};

function allocate(datatype: Datatype, n: number) {
  switch (datatype) {
    case 'FP32': return new Float32Array(n);
    case 'FP64': return new Float64Array(n);
    case 'INT8': return new Int8Array(n);
    case 'INT16': return new Int16Array(n);
    case 'INT32': return new Int32Array(n);
    case 'INT64': return new BigInt64Array(n);
    case 'UINT8': case 'BOOL': return new Uint8Array(n);
    case 'UINT16': return new Uint16Array(n);
    case 'UINT32': return new Uint32Array(n);
    case 'UINT64': return new BigUint64Array(n);
    case 'BYTES': return new Array<string>(n);
    default: throw new Error(`datatype ${datatype} is not supported by the ONNX Runtime pool`);
  }
}

/** Runs one ONNX model with ONNX Runtime; knows nothing about HTTP or processes. */
export class OnnxRunner {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly signature: ModelSignature,
  ) {}

  static async create(modelBytes: Uint8Array, signature: ModelSignature, intraOpThreads: number): Promise<OnnxRunner> {
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
    if (missing.length > 0) throw new Error(`model.yaml names tensors the ONNX graph lacks: ${missing.join(', ')}`);
    return new OnnxRunner(session, signature);
  }

  /** `request` must already have passed validateInferenceRequest for this signature. */
  async run(request: InferenceRequest): Promise<OutputTensor[]> {
    const feeds: Record<string, ort.Tensor> = {};
    for (const input of request.inputs) {
      const n = input.shape.reduce((a, b) => a * b, 1);
      const values = allocate(input.datatype, n);
      const isBigInt = values instanceof BigInt64Array || values instanceof BigUint64Array;
      walkTensorData(input.data, input.shape, (v, i) => {
        (values as unknown as unknown[])[i] = isBigInt ? BigInt(v as number) : input.datatype === 'BOOL' ? (v ? 1 : 0) : v;
        return true;
      });
      feeds[input.name] = new ort.Tensor(ORT_TYPE[input.datatype]!, values as never, input.shape);
    }
    const results = await this.session.run(feeds, this.wantedOutputs(request));
    return this.toOutputs(results, this.wantedOutputs(request), Infinity);
  }

  /** The outputs a request asked for, or all of them. */
  wantedOutputs(request: InferenceRequest): string[] {
    return request.outputs?.map((o) => o.name) ?? this.signature.outputs.map((o) => o.name);
  }

  /**
   * Runs the model's one FP32 input on a matrix of rows (the request's rows plus screening
   * copies) and answers `wanted` for the first `answerRows` rows only, with the raw rows of
   * `extra` outputs (e.g. probabilities for the squeeze score) for every row.
   */
  async runRows(rows: Float32Array[], answerRows: number, wanted: string[], extra: string): Promise<{ outputs: OutputTensor[]; extra: Float32Array[] }> {
    const features = rows[0].length;
    const values = new Float32Array(rows.length * features);
    rows.forEach((row, r) => values.set(row, r * features));
    const input = this.signature.inputs[0];
    const names = wanted.includes(extra) ? wanted : [...wanted, extra];
    const results = await this.session.run({ [input.name]: new ort.Tensor('float32', values, [rows.length, features]) }, names);
    const all = results[extra];
    const width = all.dims.slice(1).reduce((a, b) => a * Number(b), 1);
    const data = all.data as Float32Array;
    const extraRows = rows.map((_, r) => data.subarray(r * width, (r + 1) * width));
    return { outputs: this.toOutputs(results, wanted, answerRows), extra: extraRows };
  }

  private toOutputs(results: ort.InferenceSession.OnnxValueMapType, wanted: string[], answerRows: number): OutputTensor[] {
    return wanted.map((name) => {
      const spec = this.signature.outputs.find((o) => o.name === name)!;
      const tensor = results[name];
      const dims = tensor.dims.map(Number);
      let data = tensor.data;
      if (answerRows < dims[0]) {
        // Only the request's own rows go back; the screening copies were for the score alone.
        const width = dims.slice(1).reduce((a, b) => a * b, 1);
        data = Array.isArray(data) ? data.slice(0, answerRows * width) : (data as Float32Array).subarray(0, answerRows * width);
        dims[0] = answerRows;
      }
      return { name, datatype: spec.datatype, shape: dims, data: toJsonArray(data, spec.datatype) };
    });
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

function toJsonArray(data: ort.Tensor['data'], datatype: Datatype): number[] | boolean[] | string[] {
  if (datatype === 'BOOL') return Array.from(data as Uint8Array, (v) => v !== 0);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, Number);
  return Array.from(data as ArrayLike<number> & Iterable<number>) as number[] | string[];
}
