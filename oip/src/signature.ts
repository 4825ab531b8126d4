import type { TensorValues } from './binary-data.js';
import type { Datatype } from './datatypes.js';

/** What a model accepts and returns, as its config declares it. -1 marks a variable dimension. */
export interface TensorSpec {
  name: string;
  datatype: Datatype;
  shape: number[];
}

export interface ModelSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Largest first dimension a request may carry when that dimension is variable; 0: no batching. */
  maxBatchSize: number;
}

/** One input tensor of a request, once validated. */
export interface InputTensor {
  name: string;
  shape: number[];
  datatype: Datatype;
  parameters?: Record<string, unknown>;
  /** JSON data (flat or nested), or binary data decoded (flat). */
  data: unknown[] | TensorValues;
}

export interface RequestedOutput {
  name: string;
  parameters?: Record<string, unknown>;
}

export interface InferenceRequest {
  id?: string;
  /** The model's name, as KServe's client repeats it in the body; it must be the path's. */
  model_name?: string;
  parameters?: Record<string, unknown>;
  inputs: InputTensor[];
  outputs?: RequestedOutput[];
}
