import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import {
  EXTRACTION_DEFAULTS,
  ExtractionDetector,
  MemoryExtractionStore,
  extractionKey,
  minDistance,
  type ExtractionQuery,
} from '../../detectors/src/extraction/index.js';
import type { Finding } from '../../detectors/src/finding.js';
import { argmax, forward, type MlpWeights } from '../../tools/train/mlp.js';
import { importOnnxWeights } from '../../tools/train/onnx-import.js';
import { mulberry32, randomInt, type Rng } from '../../tools/train/prng.js';
import { loadHeldout, type Heldout } from '../helpers/heldout.js';
import { jacobianAttacker, noiseProber, normal, uniformAttacker } from '../../tools/detectors-eval/attacks/extraction-clients.js';

// Calibration of the detector's defaults on the real MNIST model: benign clients replay held-out
// digits; synthetic attackers must be flagged within BUDGET queries. Queries arrive one a second
// for everyone, so volume never decides these cases (it has its own test).

const BUDGET = 500;
const FEATURES = 784;
let weights: MlpWeights;
let heldout: Heldout;

before(() => {
  weights = importOnnxWeights(readFileSync('models/mnist/1/model.onnx'));
  heldout = loadHeldout('mnist');
});

function answer(x: Float32Array): ExtractionQuery {
  const p = forward(weights, x);
  const k = argmax(p);
  return { x, predicted: k, confidence: p[k] };
}

interface Run {
  /** 1-based query at which some signal was first anomalous, or -1. */
  flaggedAt: number;
  firstSignal?: string;
  /** Lowest W PRADA reported (1 if it never tested). */
  minW: number;
  /** Highest score per signal. */
  worst: Record<string, number>;
  /** First anomalous query per signal. */
  firstBy: Record<string, number>;
}

async function play(next: (q: number) => Float32Array, queries: number): Promise<Run> {
  let t = 0;
  const detector = new ExtractionDetector(new MemoryExtractionStore(), {}, () => t);
  const run: Run = { flaggedAt: -1, minW: 1, worst: {}, firstBy: {} };
  for (let q = 0; q < queries; q++) {
    t += 1000;
    for (const f of await detector.observe('client', answer(next(q)))) {
      run.worst[f.signal] = Math.max(run.worst[f.signal] ?? -Infinity, f.score);
      if (f.signal === 'prada') run.minW = Math.min(run.minW, 1 - f.score);
      if (f.verdict !== 'anomalous') continue;
      run.firstBy[f.signal] ??= q + 1;
      if (run.flaggedAt < 0) {
        run.flaggedAt = q + 1;
        run.firstSignal = f.signal;
      }
    }
  }
  return run;
}

describe('ExtractionDetector on the MNIST model', () => {
  async function benign(label: string, seed: number, draw: (rng: Rng) => number[]): Promise<void> {
    let falsePositives = 0;
    let minW = 1;
    const worst: Record<string, number> = {};
    for (let client = 0; client < 30; client++) {
      const order = draw(mulberry32(seed + client));
      const run = await play((q) => Float32Array.from(heldout.inputs[order[q]]), order.length);
      if (run.flaggedAt > 0) falsePositives++;
      minW = Math.min(minW, run.minW);
      for (const [s, v] of Object.entries(run.worst)) worst[s] = Math.max(worst[s] ?? -Infinity, v);
    }
    const rounded = JSON.stringify(worst, (_, v) => (typeof v === 'number' ? Number(v.toPrecision(3)) : v));
    console.log(`benign ${label}: ${falsePositives}/30 flagged; min PRADA W ${minW.toFixed(4)} (δ ${EXTRACTION_DEFAULTS.pradaThreshold}); worst scores ${rounded}`);
    assert.equal(falsePositives, 0);
    assert.ok(minW < 1, 'PRADA tested the benign clients');
  }

  it('never flags 30 benign clients replaying 200 distinct held-out digits each', async () => {
    await benign('200 distinct', 1000, (rng) => {
      const picks = new Set<number>();
      while (picks.size < 200) picks.add(randomInt(rng, heldout.inputs.length));
      return [...picks];
    });
  });

  it('never flags 30 benign clients sending 100-300 digits drawn with replacement (repeats included)', async () => {
    await benign('100-300 with replacement', 2000, (rng) => Array.from({ length: 100 + randomInt(rng, 201) }, () => randomInt(rng, heldout.inputs.length)));
  });

  const attackers: [string, () => (q: number) => Float32Array][] = [
    ['uniform random queries in [0,1]^784', () => uniformAttacker(7, FEATURES)],
    ['noise prober (one digit + N(0, 0.05²), clamped)', () => noiseProber(8, heldout.inputs[17])],
    ['Jacobian augmentation (Papernot, λ = 0.1, softmax substitute)', () => jacobianAttacker(9, heldout.inputs, (x) => answer(x).predicted)],
  ];
  for (const [name, make] of attackers) {
    it(`flags ${name} within ${BUDGET} queries`, async () => {
      const run = await play(make(), BUDGET);
      console.log(`${name}: flagged after ${run.flaggedAt} queries by '${run.firstSignal}'; first alarm per signal ${JSON.stringify(run.firstBy)}; min W ${run.minW.toFixed(4)}`);
      assert.ok(run.flaggedAt > 0 && run.flaggedAt <= BUDGET, `not flagged within ${BUDGET}: ${JSON.stringify(run.worst)}`);
    });
  }
});

describe('ExtractionDetector signals', () => {
  const signal = (fs: Finding[], s: string) => fs.find((f) => f.signal === s);

  it('volume: counts queries in the sliding window of the injected clock', async () => {
    let t = 0;
    const d = new ExtractionDetector(new MemoryExtractionStore(), { volumeMax: 5, volumeWindowMs: 1000 }, () => t);
    const q = (): ExtractionQuery => ({ x: Float32Array.of(t), predicted: 0, confidence: 0.99 });
    let fs: Finding[] = [];
    for (let i = 0; i < 6; i++) fs = await d.observe('k', q());
    assert.deepEqual([signal(fs, 'volume')?.score, signal(fs, 'volume')?.verdict], [6, 'anomalous']);
    t = 1500;
    fs = await d.observe('k', q());
    assert.deepEqual([signal(fs, 'volume')?.score, signal(fs, 'volume')?.verdict], [1, 'clean']);
  });

  it('prada: reports 1 − W against 1 − δ, and treats identical distances as a sweep', async () => {
    // One-hot vectors: every d_min is exactly √2; W is undefined for a point mass, the detector calls it 0.
    const d = new ExtractionDetector(new MemoryExtractionStore(), { minQueries: 100 });
    let fs: Finding[] = [];
    for (let i = 0; i < 120; i++) {
      const x = new Float32Array(FEATURES);
      x[i] = 1;
      fs = await d.observe('k', { x, predicted: 3, confidence: 0.99 });
    }
    const p = signal(fs, 'prada')!;
    assert.equal(p.score, 1);
    assert.ok(Math.abs((p.threshold ?? Number.NaN) - (1 - EXTRACTION_DEFAULTS.pradaThreshold)) < 1e-12);
    assert.equal(p.verdict, 'anomalous');
    assert.equal(signal(fs, 'near_duplicate')?.verdict, 'clean');
  });

  it('prada appears only once enough distances exist, then holds its last verdict between tests', async () => {
    const d = new ExtractionDetector(new MemoryExtractionStore(), { minQueries: 30, checkEvery: 10 });
    const rng = mulberry32(3);
    const seen: boolean[] = [];
    for (let i = 0; i < 45; i++) {
      const fs = await d.observe('k', { x: Float32Array.from({ length: 8 }, () => normal(rng)), predicted: 0, confidence: 0.9 });
      seen.push(signal(fs, 'prada') !== undefined);
    }
    // Query 1 has no distance; distances 1..29 are too few; the test runs at distance 30 (query 31).
    assert.equal(seen.indexOf(true), 30);
    assert.ok(seen.slice(30).every(Boolean));
  });

  it('exact repeats (retries; they teach an extractor nothing) stay out of D and the near-duplicate share', async () => {
    const store = new MemoryExtractionStore();
    const d = new ExtractionDetector(store, { volumeMax: 20 });
    const x = Float32Array.from({ length: FEATURES }, (_, i) => (i % 7) / 7);
    let fs: Finding[] = [];
    for (let i = 0; i < 30; i++) fs = await d.observe('k', { x, predicted: 1, confidence: 0.95 });
    await store.update('k', (s) => assert.equal(s.dists.length, 0));
    assert.equal(signal(fs, 'near_duplicate'), undefined, 'no near-duplicate verdict from repeats alone');
    assert.equal(signal(fs, 'volume')?.verdict, 'anomalous', 'a flood of repeats is still a flood');
  });

  it('low_confidence and out_of_profile: shares of the recent window', async () => {
    const d = new ExtractionDetector(new MemoryExtractionStore(), { minWindow: 10, window: 20 });
    const rng = mulberry32(4);
    let fs: Finding[] = [];
    for (let i = 0; i < 9; i++) fs = await d.observe('k', { x: Float32Array.from({ length: 4 }, rng), predicted: 0, confidence: 0.5 });
    assert.equal(signal(fs, 'low_confidence'), undefined, 'no verdict before minWindow');
    assert.equal(signal(fs, 'out_of_profile'), undefined, 'no profile verdicts given');
    for (let i = 0; i < 20; i++) {
      fs = await d.observe('k', { x: Float32Array.from({ length: 4 }, rng), predicted: 0, confidence: i % 2 ? 0.5 : 0.99, outOfProfile: i % 4 === 0 });
    }
    assert.deepEqual([signal(fs, 'low_confidence')?.score, signal(fs, 'low_confidence')?.verdict], [0.5, 'anomalous']);
    assert.deepEqual([signal(fs, 'out_of_profile')?.score, signal(fs, 'out_of_profile')?.verdict], [0.25, 'clean']);
  });
});

describe('MemoryExtractionStore', () => {
  it('evicts the least recently updated key beyond maxPrincipals', async () => {
    const store = new MemoryExtractionStore({ maxPrincipals: 2 });
    const [a, b, c] = ['alice', 'bob', 'carol'].map((p) => extractionKey(p, 'mnist'));
    await store.update(a, (s) => void (s.queries = 1));
    await store.update(b, (s) => void (s.queries = 1));
    await store.update(a, () => undefined);
    await store.update(c, (s) => void (s.queries = 1));
    assert.equal(await store.size(), 2);
    assert.equal(await store.update(a, (s) => s.queries), 1);
    assert.equal(await store.update(b, (s) => s.queries), 0, 'bob was evicted and starts afresh');
    assert.ok(store.evictions() >= 1, 'and the eviction was counted');
  });

  it('evicts the least suspicious of the least recent first: a history close to an alarm outlives a clean one', async () => {
    const store = new MemoryExtractionStore({ maxPrincipals: 2 });
    const [a, b, c] = ['mallory', 'bob', 'carol'].map((p) => extractionKey(p, 'mnist'));
    await store.update(a, (s) => void ((s.queries = 90), (s.suspicion = 0.9)));
    await store.update(b, (s) => void ((s.queries = 5), (s.suspicion = 0.1)));
    await store.update(c, (s) => void (s.queries = 1));
    assert.equal(store.evictions(), 1);
    assert.equal(await store.update(a, (s) => s.queries), 90, 'the older but suspicious history was kept');
    assert.equal(await store.update(b, (s) => s.queries), 0, 'the clean one went');
  });

  it('keeps at most maxSamplesPerPrincipal vectors, dropping the oldest, and plain data', async () => {
    const store = new MemoryExtractionStore({ maxSamplesPerPrincipal: 5 });
    const d = new ExtractionDetector(store);
    for (let i = 0; i < 12; i++) {
      const x = new Float32Array(16);
      x[i] = 10 + i; // ever further apart: every query joins its growing set
      await d.observe('k', { x, predicted: i % 2, confidence: 0.9 });
    }
    await store.update('k', (s) => {
      assert.deepEqual(Object.values(s.classes).map((g) => g.memberSeq), [[9, 11], [8, 10, 12]]);
      assert.deepEqual(structuredClone(s), s);
    });
  });

  it('minDistance matches a plain L2 minimum', () => {
    const rng = mulberry32(5);
    const vec = () => Float32Array.from({ length: 100 }, rng);
    const members = Array.from({ length: 50 }, vec);
    const x = vec();
    const naive = Math.min(...members.map((m) => Math.sqrt(m.reduce((s, v, i) => s + (v - x[i]) ** 2, 0))));
    assert.ok(Math.abs(minDistance(x, members) - naive) < 1e-9);
  });
});
