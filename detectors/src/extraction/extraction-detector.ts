// Model-extraction / probing detection at the gateway, per principal and model.
//
// PRADA (Juuti, Szyller, Marchal, Asokan, "PRADA: Protecting against DNN Model Stealing Attacks",
// EuroS&P 2019; as in the paper and its reference implementation by Aalto SSG): natural queries
// from one client have minimum distances to that client's earlier queries that look normally
// distributed; synthetic ones (Jacobian augmentation, perturbation sweeps) mix tiny steps with large
// jumps and do not. Per predicted class c there is a growing set G_c; a query's d_min is its minimum
// L2 distance to G_c; d_min joins the distance set D, and the query joins G_c when d_min exceeds
// T_c = max(T_c, mean − std of G_c's member distances). Every `checkEvery` new distances, once
// `minQueries` usable ones exist (classes with >= 10 distances, values beyond 3 std dropped), a
// Shapiro–Wilk W over D below δ raises the alarm. One departure: exact repeats (d_min = 0) stay
// out of D (see prada()).
//
// PRADA misses attackers whose distances look normal, so cheap signals sit beside it:
// 'concentration' (uniform random queries: all about equally far apart), 'near_duplicate' (one
// input plus small noise, again and again), 'volume', 'low_confidence' (boundary probing) and
// 'out_of_profile' (the per-request profile detector's verdicts). With the reference's 3-std
// outlier cut, a Papernot attacker with a retrained substitute keeps W near 0.95 (its few seeds
// are cut as outliers); near_duplicate is what catches it at λ = 0.1 (see the test).
import { finding, type Finding } from '../finding.js';
import { type ExtractionState, type ExtractionStore, type GrowingSet } from './extraction-store.js';
import { SHAPIRO_MAX_N, shapiroWilk } from './shapiro-wilk.js';

export interface ExtractionConfig {
  /** PRADA tests once D has this many usable distances. */
  minQueries: number;
  /** ...and re-tests after every this many new distances. */
  checkEvery: number;
  /** δ: W below this is anomalous. Reported as score 1 − W against threshold 1 − δ. */
  pradaThreshold: number;
  /** Distances further than this many std from D's mean are left out of the test (reference: 3). */
  outlierStd: number;
  /** Distances kept in D (most recent); at most 5000, Shapiro–Wilk's range. */
  maxDistances: number;
  /**
   * mean / std of the same distances: random synthetic queries in many dimensions all lie about
   * equally far apart (concentration of measure), which Shapiro–Wilk reads as normal.
   */
  maxConcentration: number;
  /** Sliding time window of the volume signal, and the queries allowed in it. */
  volumeWindowMs: number;
  volumeMax: number;
  /** The share signals look at this many most recent queries... */
  window: number;
  /** ...and report only once they have this many. */
  minWindow: number;
  /**
   * Near-duplicate radius as an RMS per-feature difference: the L2 radius is this × √features.
   * Set for inputs scaled to [0, 1]; models with other units need their own value.
   */
  nearDuplicateRms: number;
  nearDuplicateShare: number;
  /** An answer is low-confidence when its top probability is below this. */
  lowConfidence: number;
  lowConfidenceShare: number;
  outOfProfileShare: number;
}

/** Calibrated on held-out MNIST vs synthetic attackers in test/detectors/extraction-detector.test.ts. */
export const EXTRACTION_DEFAULTS: ExtractionConfig = {
  minQueries: 100,
  checkEvery: 10,
  pradaThreshold: 0.9,
  outlierStd: 3,
  maxDistances: SHAPIRO_MAX_N,
  maxConcentration: 20,
  volumeWindowMs: 60_000,
  volumeMax: 600,
  window: 100,
  minWindow: 20,
  nearDuplicateRms: 0.05,
  nearDuplicateShare: 0.3,
  lowConfidence: 0.6,
  lowConfidenceShare: 0.4,
  outOfProfileShare: 0.3,
};

export interface ExtractionQuery {
  /** The query's features (one batch row). */
  x: Float32Array;
  /** The model's predicted class for it. */
  predicted: number;
  /** The model's top class probability. */
  confidence: number;
  /** Whether the per-request profile detector flagged it; omit when it did not screen it. */
  outOfProfile?: boolean;
}

/** A class needs this many distances before PRADA counts them (the reference implementation's rule). */
const MIN_CLASS_DISTANCES = 10;
/** Reported concentration for identical distances (std 0), kept finite for JSON. */
const MAX_CONCENTRATION = 1e6;

export class ExtractionDetector {
  readonly config: ExtractionConfig;

  constructor(
    private readonly store: ExtractionStore,
    config: Partial<ExtractionConfig> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.config = { ...EXTRACTION_DEFAULTS, ...config };
    if (this.config.maxDistances > SHAPIRO_MAX_N) throw new Error(`ExtractionDetector: maxDistances must be <= ${SHAPIRO_MAX_N}`);
  }

  /**
   * Records one answered query and returns the current finding of every signal that has enough
   * data for a verdict: volume always; the share signals once their window holds `minWindow`
   * queries; 'prada' and 'concentration' once PRADA has tested, repeating its latest test's result
   * between tests (so an alarm holds until a re-test clears it, as in the reference implementation).
   */
  async observe(key: string, query: ExtractionQuery): Promise<Finding[]> {
    const at = this.now();
    return this.store.update(key, (state) => this.step(state, query, at));
  }

  /** The whole update on one key's state; synchronous, so it never interleaves with another. */
  private step(state: ExtractionState, q: ExtractionQuery, at: number): Finding[] {
    const c = this.config;
    state.queries++;
    const dMin = this.prada(state, q);

    state.times.push(at);
    // The score is capped at volumeMax + 1: past it the verdict cannot change, and a flood must not grow the array.
    const from = at - c.volumeWindowMs;
    let old = 0;
    while (old < state.times.length && state.times[old] <= from) old++;
    state.times.splice(0, Math.max(old, state.times.length - (c.volumeMax + 1)));

    if (dMin !== undefined) push(state.nearDup, dMin < c.nearDuplicateRms * Math.sqrt(q.x.length) ? 1 : 0, c.window);
    push(state.lowConf, q.confidence < c.lowConfidence ? 1 : 0, c.window);
    if (q.outOfProfile !== undefined) push(state.outOfProfile, q.outOfProfile ? 1 : 0, c.window);

    const out: Finding[] = [];
    if (state.prada) {
      const p = state.prada;
      const detail = p.degenerate
        ? `${p.n} identical nearest-query distances`
        : `Shapiro–Wilk W=${p.w.toFixed(4)} over ${p.n} nearest-query distances`;
      out.push(finding('extraction', 'prada', 1 - p.w, 1 - c.pradaThreshold, { detail }));
      const conc = p.degenerate ? MAX_CONCENTRATION : Math.min(MAX_CONCENTRATION, p.mean / p.std);
      out.push(finding('extraction', 'concentration', conc, c.maxConcentration, { detail: `nearest-query distances ${p.mean.toPrecision(3)} ± ${p.std.toPrecision(3)}` }));
    }
    out.push(finding('extraction', 'volume', state.times.length, c.volumeMax, { detail: `${state.times.length} queries in ${c.volumeWindowMs / 1000}s` }));
    share(out, 'near_duplicate', state.nearDup, c.nearDuplicateShare, c.minWindow, 'near-duplicates of earlier queries');
    share(out, 'low_confidence', state.lowConf, c.lowConfidenceShare, c.minWindow, `answers below ${c.lowConfidence} confidence`);
    share(out, 'out_of_profile', state.outOfProfile, c.outOfProfileShare, c.minWindow, 'queries outside the model profile');
    // Volume is left out: a busy, honest client is not suspicious for being busy.
    state.suspicion = Math.max(0, ...out.filter((f) => f.signal !== 'volume' && f.threshold).map((f) => f.score / f.threshold!));
    return out;
  }

  /** PRADA's per-query step; returns d_min (undefined for a class's first query and for exact repeats). */
  private prada(state: ExtractionState, q: ExtractionQuery): number | undefined {
    const c = this.config;
    const g: GrowingSet | undefined = state.classes[q.predicted];
    if (!g || g.members.length === 0) {
      state.classes[q.predicted] = { members: [Float32Array.from(q.x)], memberDists: [0], memberSeq: [state.queries], threshold: g?.threshold ?? 0 };
      return undefined;
    }
    if (q.x.length !== g.members[0].length) throw new Error(`ExtractionDetector: query has ${q.x.length} features, earlier ones ${g.members[0].length}`);
    const dMin = minDistance(q.x, g.members);
    // Departure from the reference: an exact repeat (a client retry, a cache miss) tells an extractor
    // nothing new (the model is deterministic), yet a few zeros skew W enough to flag benign clients
    // that resend inputs. Repeats stay out of D, G_c and the near-duplicate share; volume counts them.
    if (dMin === 0) return undefined;
    state.dists.push(dMin);
    state.distClasses.push(q.predicted);
    if (state.dists.length > c.maxDistances) {
      state.dists.shift();
      state.distClasses.shift();
    }
    if (dMin > g.threshold) {
      g.members.push(Float32Array.from(q.x));
      g.memberDists.push(dMin);
      g.memberSeq.push(state.queries);
      g.threshold = Math.max(g.threshold, meanMinusStd(g.memberDists));
    }
    if (++state.sinceTest >= c.checkEvery) {
      const d = usableDistances(state, c.outlierStd);
      if (d.length >= c.minQueries) {
        state.sinceTest = 0;
        let mean = 0;
        for (const v of d) mean += v;
        mean /= d.length;
        let ss = 0;
        for (const v of d) ss += (v - mean) ** 2;
        const std = Math.sqrt(ss / d.length);
        // A point mass is as far from normal as a sample gets (scipy would call it W = 1): identical
        // distances come from a mechanical sweep, never from natural inputs.
        const degenerate = std < 1e-12 * Math.max(1, mean);
        state.prada = { w: degenerate ? 0 : shapiroWilk(d).w, n: d.length, degenerate, mean, std };
      }
    }
    return dMin;
  }
}

/** D restricted as the reference does: classes with enough distances, outliers beyond 3 std dropped. */
function usableDistances(state: ExtractionState, outlierStd: number): number[] {
  const perClass = new Map<number, number>();
  for (const k of state.distClasses) perClass.set(k, (perClass.get(k) ?? 0) + 1);
  const d = state.dists.filter((_, i) => (perClass.get(state.distClasses[i]) ?? 0) >= MIN_CLASS_DISTANCES);
  if (d.length === 0) return d;
  const mean = d.reduce((s, v) => s + v, 0) / d.length;
  const std = Math.sqrt(d.reduce((s, v) => s + (v - mean) ** 2, 0) / d.length);
  return std === 0 ? d : d.filter((v) => Math.abs(v - mean) < outlierStd * std);
}

/**
 * Minimum L2 distance from x to the members. Runs on the gateway after every answer, over up to
 * maxSamplesPerPrincipal vectors, so it is a flat Float32Array loop with no allocation, and it
 * abandons a member as soon as the partial sum exceeds the best so far (most members are far).
 */
export function minDistance(x: Float32Array, members: readonly Float32Array[]): number {
  const n = x.length;
  let best = Infinity;
  for (let m = 0; m < members.length; m++) {
    const y = members[m];
    let s = 0;
    let i = 0;
    for (; i < n; i++) {
      const d = x[i] - y[i];
      s += d * d;
      if ((i & 31) === 31 && s >= best) break;
    }
    if (i === n && s < best) {
      best = s;
      // An exact repeat: nothing can be nearer.
      if (best === 0) break;
    }
  }
  return Math.sqrt(best);
}

function meanMinusStd(v: readonly number[]): number {
  const mean = v.reduce((s, x) => s + x, 0) / v.length;
  return mean - Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
}

function push(window: number[], flag: number, size: number): void {
  window.push(flag);
  if (window.length > size) window.splice(0, window.length - size);
}

function share(out: Finding[], signal: string, window: readonly number[], threshold: number, minWindow: number, what: string): void {
  if (window.length < minWindow) return;
  let hits = 0;
  for (const f of window) hits += f;
  out.push(finding('extraction', signal, hits / window.length, threshold, { detail: `${hits}/${window.length} recent ${what}` }));
}
