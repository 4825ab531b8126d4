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

/**
 * Thresholds over several groups of legitimate inputs at once (the held-out set, and its benign
 * variations): each detector's threshold is a quantile of its pooled scores, and the pair is the
 * one with the lowest quantiles (summed) for which the union of the detectors flags at most `fpr`
 * of *each* group. One shared quantile, as calibrateJoint picks, would make a group that troubles
 * one detector (thicker strokes move the profile score) raise every detector's threshold.
 * A grid of 201 quantile levels from 1 - 4·fpr up; at most two detectors.
 */
export function calibrateJointGroups(groups: Record<string, Record<string, number[]>>, fpr: number): { thresholds: Record<string, number>; quantiles: Record<string, number>; groupFpr: Record<string, number> } {
  const names = Object.keys(groups);
  if (names.length === 0) throw new Error('calibration needs scores');
  if (!(fpr > 0 && fpr < 1)) throw new Error('fpr must be between 0 and 1');
  const detectors = Object.keys(groups[names[0]]);
  if (detectors.length < 1 || detectors.length > 2) throw new Error('calibrateJointGroups takes one or two detectors');
  for (const g of names) {
    const n = groups[g][detectors[0]]?.length ?? 0;
    const same = Object.keys(groups[g]).length === detectors.length && detectors.every((d) => groups[g][d]?.length === n);
    if (n === 0 || !same) throw new Error(`calibration group ${g} needs scores from every detector (${detectors.join(', ')}), as many of each`);
  }
  // 201 levels from 1 - 4·fpr up to 1 (0.1% steps at fpr 0.05): room above and below the target.
  const from = Math.max(0, 1 - 4 * fpr);
  const levels = Array.from({ length: 201 }, (_, k) => from + (k * (1 - from)) / 200);
  const candidates = detectors.map((d) => {
    const pooled = Float64Array.from(names.flatMap((g) => groups[g][d])).sort();
    return levels.map((q) => quantile(pooled, q));
  });
  // Per row, the first candidate index whose threshold the row's score does not exceed: the row
  // is flagged by detector d at index i exactly when i < rank.
  const ranks = names.map((g) => detectors.map((d, di) => groups[g][d].map((score) => firstAtLeast(candidates[di], score))));
  const rates = (idx: number[]) =>
    names.map((_, gi) => {
      const n = ranks[gi][0].length;
      let flagged = 0;
      for (let r = 0; r < n; r++) if (idx.some((i, di) => i < ranks[gi][di][r])) flagged++;
      return flagged / n;
    });
  let best: { idx: number[]; sum: number; main: number } | undefined;
  const second = detectors.length === 2 ? levels.length : 1;
  for (let i = 0; i < levels.length; i++) {
    for (let j = 0; j < second; j++) {
      const idx = detectors.length === 2 ? [i, j] : [i];
      const sum = i + j;
      if (best && sum > best.sum) continue;
      const r = rates(idx);
      if (Math.max(...r) > fpr) continue;
      if (!best || sum < best.sum || (sum === best.sum && r[0] > best.main)) best = { idx, sum, main: r[0] };
    }
  }
  const idx = best?.idx ?? detectors.map(() => levels.length - 1);
  const thresholds = Object.fromEntries(detectors.map((d, di) => [d, candidates[di][idx[di]]]));
  const quantiles = Object.fromEntries(detectors.map((d, di) => [d, levels[idx[di]]]));
  const final = rates(idx);
  return { thresholds, quantiles, groupFpr: Object.fromEntries(names.map((g, gi) => [g, final[gi]])) };
}

/** The first index of ascending `sorted` whose value is >= x (its length if none). */
function firstAtLeast(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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
