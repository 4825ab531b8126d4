// Per-feature statistics of the training set (profile.json), in raw input units: the
// reference distribution that input-drift and out-of-range checks compare traffic to.

export interface FeatureProfile {
  features: number;
  samples: number;
  mean: number[];
  std: number[];
  min: number[];
  max: number[];
}

export function featureProfile(inputs: Float64Array, features: number, rows: readonly number[]): FeatureProfile {
  const sum = new Float64Array(features);
  const min = new Float64Array(features).fill(Infinity);
  const max = new Float64Array(features).fill(-Infinity);
  for (const row of rows) {
    const base = row * features;
    for (let i = 0; i < features; i++) {
      const v = inputs[base + i];
      sum[i] += v;
      if (v < min[i]) min[i] = v;
      if (v > max[i]) max[i] = v;
    }
  }
  const mean = sum.map((s) => s / rows.length);
  // Two-pass variance (population std): no catastrophic cancellation on near-constant pixels.
  const squares = new Float64Array(features);
  for (const row of rows) {
    const base = row * features;
    for (let i = 0; i < features; i++) {
      const d = inputs[base + i] - mean[i];
      squares[i] += d * d;
    }
  }
  return {
    features,
    samples: rows.length,
    // Clamp: on constant features sum/n can land an ulp outside [min, max].
    mean: Array.from(mean, (m, i) => round6(Math.min(max[i], Math.max(min[i], m)))),
    std: Array.from(squares, (s) => round6(Math.sqrt(s / rows.length))),
    min: Array.from(min, round6),
    max: Array.from(max, round6),
  };
}

/** 6 significant digits: plenty for drift statistics, and keeps the JSON small. */
function round6(x: number): number {
  return Number(x.toPrecision(6));
}
