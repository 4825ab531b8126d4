/**
 * The one shape every detector reports in, whatever it inspects: a score (higher is more
 * suspicious), the threshold it was held against, and the verdict. Pure data: it travels in the
 * audit record, the pool's response header and the metrics labels unchanged.
 */
/** enforce: the policy's action applies. shadow: the finding is recorded, the request is never refused. */
export type DetectorMode = 'enforce' | 'shadow';

export interface Finding {
  /** The detector's name, as in the registry (detectors/src/registry.ts). */
  detector: string;
  /** Which check or signal of the detector produced the score (e.g. 'prada', 'median_2x2'). */
  signal: string;
  /** Higher is more suspicious. */
  score: number;
  /** The finding is anomalous when score > threshold; null: not calibrated, so never anomalous. */
  threshold: number | null;
  verdict: 'clean' | 'anomalous';
  /** The batch row the score comes from (the worst one), when the detector scores rows. */
  item?: number;
  /**
   * Detectors that score rows: how many of the request's `of` rows were past the threshold. The
   * policy may act on the count or the share (`min_rows`, `min_fraction`), not only the worst row.
   */
  rows?: number;
  of?: number;
  /**
   * The most the policy may do with it: a finding about every caller together never refuses one
   * (flag); one about an address never quarantines the principal who happened to cross it (block).
   */
  ceiling?: 'flag' | 'block';
  /** One line for a security reader; never tensor values. */
  detail?: string;
}

export function finding(detector: string, signal: string, score: number, threshold: number | null, extra: Pick<Finding, 'item' | 'detail' | 'rows' | 'of' | 'ceiling'> = {}): Finding {
  return { detector, signal, score, threshold, verdict: threshold !== null && score > threshold ? 'anomalous' : 'clean', ...extra };
}

/**
 * The finding of a request's rows: the worst row's score (its verdict is the request's), with how
 * many distinct rows were past the threshold, of how many distinct rows (`unique`: copies of an
 * earlier row count once, so padding a batch with one clean row repeated does not dilute it).
 * Rows are judged on the rounded score the finding reports, so verdict and count always agree.
 * `by` names the signal of each row (one name for all if a string).
 */
export function rowsFinding(detector: string, by: string | readonly string[], scores: readonly number[], threshold: number | null, unique?: readonly boolean[]): Finding {
  let item = 0;
  let rows = 0;
  let of = 0;
  for (let r = 0; r < scores.length; r++) {
    if (scores[r] > scores[item]) item = r;
    if (unique && !unique[r]) continue;
    of++;
    if (threshold !== null && round(scores[r]) > threshold) rows++;
  }
  const signal = typeof by === 'string' ? by : by[item];
  return finding(detector, signal, round(scores[item]), threshold, { item, rows, of });
}

/**
 * The rows of a request's one numeric input, as the detectors see them: `rows[i]` is batch item i,
 * `features` long. Detectors that need the model's numbers (profile, squeeze, extraction) apply to
 * models with a single FP32/FP64 input of shape [-1, features]; the others skip them.
 */
export interface ScreenBatch {
  features: number;
  rows: Float32Array[];
  /** Per row, whether it is the first of its kind in the request (exact copies of an earlier row are not). */
  unique?: boolean[];
}

/** Scores travel in audit records and headers: six significant digits are plenty. */
export function round(x: number): number {
  return Number(x.toPrecision(6));
}
