/**
 * Thresholds from scores on legitimate held-out inputs. Each detector alone at a false-positive
 * rate f would flag about f of clean traffic, and together up to k·f; so the thresholds are
 * chosen jointly: one shared quantile q, as high as needed for the union of all detectors to flag
 * at most `fpr` of the calibration set (Xu et al. calibrate their joint detector the same way,
 * on the max over squeezers).
 */
export function calibrateJoint(scores: Record<string, number[]>, fpr: number): { thresholds: Record<string, number>; quantile: number; unionFpr: number } {
  const names = Object.keys(scores);
  const n = scores[names[0]]?.length ?? 0;
  if (n === 0) throw new Error('calibration needs scores');
  if (!(fpr > 0 && fpr < 1)) throw new Error('fpr must be between 0 and 1');
  const sorted = Object.fromEntries(names.map((k) => [k, Float64Array.from(scores[k]).sort()]));
  const at = (q: number) => Object.fromEntries(names.map((k) => [k, quantile(sorted[k], q)]));
  const union = (t: Record<string, number>) => {
    let flagged = 0;
    for (let i = 0; i < n; i++) if (names.some((k) => scores[k][i] > t[k])) flagged++;
    return flagged / n;
  };
  // Bisection on q: the union's rate only falls as q rises.
  let lo = 1 - fpr;
  let hi = 1;
  if (union(at(lo)) <= fpr) hi = lo;
  for (let i = 0; i < 40 && hi - lo > 1e-6; i++) {
    const mid = (lo + hi) / 2;
    if (union(at(mid)) <= fpr) hi = mid;
    else lo = mid;
  }
  const thresholds = at(hi);
  return { thresholds, quantile: hi, unionFpr: union(thresholds) };
}

/** The q-quantile of sorted values, interpolated linearly (numpy's default). */
export function quantile(sorted: Float64Array, q: number): number {
  const pos = q * (sorted.length - 1);
  const i = Math.floor(pos);
  if (i >= sorted.length - 1) return sorted[sorted.length - 1];
  return sorted[i] + (pos - i) * (sorted[i + 1] - sorted[i]);
}

/** ROC-AUC from scores of clean (negative) and attack (positive) inputs: P(attack scores higher), ties count half. */
export function rocAuc(clean: number[], attack: number[]): number {
  if (clean.length === 0 || attack.length === 0) return NaN;
  const all = [...clean.map((s) => ({ s, pos: 0 })), ...attack.map((s) => ({ s, pos: 1 }))].sort((a, b) => a.s - b.s);
  // Mann–Whitney U via average ranks.
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j].s === all[i].s) j++;
    const avgRank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) if (all[k].pos) rankSum += avgRank;
    i = j;
  }
  const p = attack.length;
  return (rankSum - (p * (p + 1)) / 2) / (p * clean.length);
}
