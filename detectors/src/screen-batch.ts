import type { InferenceRequest, ModelSignature } from '../../oip/src/signature.js';
import { walkTensorData } from '../../oip/src/tensor-data.js';
import type { ScreenBatch } from './finding.js';

/**
 * Whether a model's inputs suit the numeric detectors (profile, squeeze, extraction): exactly one
 * floating-point input of shape [-1, features]. Returns the feature count, or null.
 */
export function numericFeatures(sig: ModelSignature): number | null {
  if (sig.inputs.length !== 1) return null;
  const [input] = sig.inputs;
  if (input.datatype !== 'FP32' && input.datatype !== 'FP64') return null;
  if (input.shape.length !== 2 || input.shape[0] !== -1 || input.shape[1] < 1) return null;
  return input.shape[1];
}

/** Per row, whether no earlier row of the batch has exactly the same values (as float32 bits). */
export function firstOfKind(rows: readonly Float32Array[]): boolean[] {
  if (rows.length === 1) return [true];
  const seen = new Set<string>();
  return rows.map((r) => {
    const key = Buffer.from(r.buffer, r.byteOffset, r.byteLength).toString('latin1');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The rows of a validated request's one numeric input, narrowed to float32 as the model sees them. */
export function screenBatch(request: InferenceRequest, features: number): ScreenBatch {
  const input = request.inputs[0];
  const rows: Float32Array[] = [];
  for (let r = 0; r < input.shape[0]; r++) rows.push(new Float32Array(features));
  walkTensorData(input.data, input.shape, (v, i) => {
    // + 0 turns -0 into 0: the model cannot tell them apart, so neither may the detectors.
    rows[(i / features) | 0][i % features] = (v as number) + 0;
    return true;
  });
  return { features, rows, unique: firstOfKind(rows) };
}
