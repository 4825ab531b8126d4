import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { BUNDLED_MODELS } from './vigil-harness.js';

export interface Heldout {
  features: number;
  labels: number[];
  inputs: number[][];
}

/** The held-out samples shipped beside a bundled model (never seen in training). */
export function loadHeldout(model: string, version = '1'): Heldout {
  return JSON.parse(gunzipSync(readFileSync(join(BUNDLED_MODELS, model, version, 'heldout.json.gz'))).toString('utf8')) as Heldout;
}

/** An OIP inference request for some held-out samples of a model. */
export function inferRequest(model: string, indices: number[], extra: Record<string, unknown> = {}) {
  const h = loadHeldout(model);
  return {
    ...extra,
    inputs: [{ name: 'input', shape: [indices.length, h.features], datatype: 'FP32', data: indices.flatMap((i) => h.inputs[i]) }],
  };
}
