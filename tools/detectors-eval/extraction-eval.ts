import type { MlpWeights } from '../train/mlp.js';
import { argmax, forward } from '../train/mlp.js';
import { mulberry32, randomInt } from '../train/prng.js';
import { ExtractionDetector, MemoryExtractionStore } from '../../detectors/src/extraction/index.js';
import type { Heldout, OfflineScorer } from '../calibration/offline-scorer.js';
import { jacobianAttacker, noiseProber, uniformAttacker } from './attacks/extraction-clients.js';

export interface ClientRun {
  client: string;
  kind: 'attacker' | 'benign';
  queries: number;
  /** 1-based query at which the first anomalous signal appeared, or null. */
  flaggedAt: number | null;
  signal: string | null;
}

/**
 * Synthetic extraction attackers against benign clients replaying held-out digits, through the
 * extraction detector with the gateway's defaults. One query a second for everyone, so volume
 * never decides: the point is whether the pattern gives an attacker away.
 */
export async function extractionEval(weights: MlpWeights, heldout: Heldout, scorer: OfflineScorer, profileThreshold: number, opts: { benign: number; budget: number }): Promise<ClientRun[]> {
  const oracle = (x: Float32Array) => {
    const p = forward(weights, x);
    const k = argmax(p);
    return { predicted: k, confidence: p[k] };
  };
  async function play(client: string, kind: ClientRun['kind'], next: () => Float32Array, queries: number): Promise<ClientRun> {
    let t = 0;
    const detector = new ExtractionDetector(new MemoryExtractionStore(), {}, () => t);
    for (let q = 1; q <= queries; q++) {
      t += 1000;
      const x = next();
      const findings = await detector.observe(client, { x, ...oracle(x), outOfProfile: scorer.profileScore(x) > profileThreshold });
      const hit = findings.find((f) => f.verdict === 'anomalous');
      if (hit) return { client, kind, queries, flaggedAt: q, signal: hit.signal };
    }
    return { client, kind, queries, flaggedAt: null, signal: null };
  }
  const runs: ClientRun[] = [];
  const label = (x: Float32Array) => oracle(x).predicted;
  const attackers: [string, () => () => Float32Array][] = [
    ['Jacobian augmentation (Papernot; λ 0.1)', () => jacobianAttacker(101, heldout.inputs, label, 0.1)],
    ['Jacobian augmentation (Papernot; λ 0.3)', () => jacobianAttacker(102, heldout.inputs, label, 0.3)],
    ['random synthetic queries (uniform)', () => uniformAttacker(103, heldout.features)],
    ['noise prober (σ 0.05 around one digit)', () => noiseProber(104, heldout.inputs[17])],
  ];
  for (const [name, make] of attackers) runs.push(await play(name, 'attacker', make(), opts.budget));
  for (let c = 0; c < opts.benign; c++) {
    const rng = mulberry32(5000 + c);
    const n = 100 + randomInt(rng, 201);
    runs.push(await play(`benign ${c + 1}`, 'benign', () => Float32Array.from(heldout.inputs[randomInt(rng, heldout.inputs.length)]), n));
  }
  return runs;
}
