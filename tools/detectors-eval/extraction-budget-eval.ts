import { budgetDetector } from '../../detectors/src/budget/budget-detector.js';
import { MemoryBudgetStore } from '../../detectors/src/budget/budget-store.js';
import type { ModelFacts, PreparedDetector } from '../../detectors/src/detector.js';
import { ExtractionDetector, MemoryExtractionStore, extractionKey } from '../../detectors/src/extraction/index.js';
import type { Finding } from '../../detectors/src/finding.js';
import type { DetectorActions } from '../../policies/src/index.js';
import { actionOf } from '../../gateway/src/screening/verdicts.js';
import type { ModelConfig } from '../../serving/src/model-config.js';
import { signatureOf } from '../../serving/src/model-config.js';
import type { Heldout, OfflineScorer } from '../calibration/offline-scorer.js';
import { argmax, forward, type MlpWeights } from '../train/mlp.js';
import { mulberry32, randomInt } from '../train/prng.js';
import { agreement, attackerDigits, trainStolen } from './adaptive-eval.js';
import { jacobianAttacker } from './attacks/extraction-clients.js';
import { vary, type Variation } from '../calibration/variations.js';

/** One caller as the detectors key it. */
interface Caller {
  principal: string;
  owner?: string;
  source: string;
}

export interface SpreadRun {
  attacker: string;
  /** Queries sent, and how many were answered (the rest refused). */
  sent: number;
  answered: number;
  /** Answered queries when a detector first flagged any of its callers, and the signal. */
  flaggedAt: number | null;
  signal: string | null;
  /** Answered queries when the policy first refused one (block or quarantine). */
  stoppedAt: number | null;
  /** The stolen model's agreement with the served one: trained on what was answered by the first flag, and on everything answered. */
  agreementAtFlag: number | null;
  agreementAtEnd: number;
}

/**
 * Extraction attackers who adapt, against the extraction detector and the query budgets as the
 * gateway runs them (the bounded memory stores, the model's budgets, the bundled policy's
 * actions), with 25 benign clients' traffic first. A knockoff attacker sends real digits from one
 * principal; a rotating one spreads them over 70 API keys of one owner, taking turns (more
 * principals than the extraction state holds), after 25 benign clients, most of them sending
 * varied digits (shifted, blurred, thicker or thinner strokes, binarised, faint); a Sybil attacker runs Jacobian augmentation
 * clipped to the training profile from 20 principals with 20 addresses and nothing in common. For
 * each: when it was flagged and stopped, and how good a copy of the model it got.
 */
export async function extractionSpreadEval(
  weights: MlpWeights,
  heldout: Heldout,
  evaluation: number[],
  config: ModelConfig,
  scorer: OfflineScorer,
  actions: DetectorActions,
  opts: { queries: number },
): Promise<{ runs: SpreadRun[]; benignFlagged: string[] }> {
  const facts: ModelFacts = { dir: '.', signature: signatureOf(config), features: heldout.features, ranges: new Map([[config.inputs[0].name, config.inputs[0].range ?? [0, 1]]]) };
  const unseen = evaluation.map((i) => heldout.inputs[i]);
  const profileThreshold = config.detectors.profile?.threshold ?? Infinity;

  /** One gateway's worth of state; plays queries through it as the answer phase would. */
  async function gateway() {
    const extraction = new ExtractionDetector(new MemoryExtractionStore({ maxPrincipals: 64, maxSamplesPerPrincipal: 256 }), {}, () => now);
    const budget = (await budgetDetector.prepare(config.detectors.budget, facts, { extraction: new MemoryExtractionStore(), budget: new MemoryBudgetStore() })) as PreparedDetector | null;
    const quarantined = new Set<string>();
    let now = 0;
    /** Answers one query (true) or refuses it; `onFinding` hears every anomalous finding. */
    return async (c: Caller, x: Float32Array, onFinding: (f: Finding, refused: boolean) => void): Promise<boolean> => {
      now += 60_000 / 550; // 550 rows a minute: under the volume signal's 600
      if (quarantined.has(c.principal)) return false;
      const p = forward(weights, x);
      const top = argmax(p);
      const findings = await extraction.observe(extractionKey(c.principal, 'mnist/1'), { x, predicted: top, confidence: p[top], outOfProfile: scorer.profileScore(x) > profileThreshold });
      if (budget) {
        const batch = { features: x.length, rows: [x] };
        findings.push(...(await budget.inspect({ batch, bodyBytes: 0, caller: c.principal, owner: c.owner, source: c.source, model: 'mnist/1' })).findings);
      }
      let refused = false;
      for (const f of findings.filter((g) => g.verdict === 'anomalous')) {
        const rule = (actions as unknown as Record<string, Parameters<typeof actionOf>[1] & {}>)[f.detector];
        const action = actionOf(f, rule);
        const refuses = rule.mode === 'enforce' && (action === 'block' || action === 'quarantine');
        if (refuses && action === 'quarantine') quarantined.add(c.principal);
        refused ||= refuses;
        onFinding(f, refuses);
      }
      return !refused;
    };
  }

  // Benign clients replay held-out digits; most of them vary them as their own users would (a
  // pen, a camera, a canvas), each client one way.
  const image = config.detectors.squeeze?.image;
  const range = config.inputs[0].range ?? [0, 1];
  const ways: (Variation | null)[] = [null, 'shift_1', 'shift_2', 'blur', 'thick_pen', 'thin_pen', 'binarised', 'faint'];
  const benignClients = Array.from({ length: 25 }, (_, c) => {
    const rng = mulberry32(5000 + c);
    const way = image ? ways[c % ways.length] : null;
    const row = () => {
      const x = heldout.inputs[randomInt(rng, heldout.inputs.length)];
      return way ? vary(way, x, image!, rng, range) : Float32Array.from(x);
    };
    return { caller: { principal: `user:benign-${c}${way ? `-${way}` : ''}`, source: `10.2.0.${c}` }, rows: Array.from({ length: 100 + randomInt(rng, 201) }, row) };
  });
  async function benignTraffic(send: Awaited<ReturnType<typeof gateway>>, flagged: Set<string>) {
    for (const { caller, rows } of benignClients) for (const x of rows) await send(caller, x, () => flagged.add(caller.principal));
  }

  const benignFlagged = new Set<string>();
  await benignTraffic(await gateway(), benignFlagged);

  const label = (x: Float32Array) => argmax(forward(weights, x));
  const profile = scorer.profile;
  const clip = (x: Float32Array) => Float32Array.from(x, (v, i) => Math.min(profile.max[i], Math.max(profile.min[i], v)));
  const attackers: [string, (q: number) => Caller, () => Float32Array][] = [];
  const knockoff = attackerDigits(0, opts.queries);
  attackers.push(['knockoff: real digits, one principal', () => ({ principal: 'user:knockoff', source: '10.0.0.1' }), () => knockoff.shift()!]);
  const rotating = attackerDigits(opts.queries, opts.queries);
  attackers.push(['rotating: real digits, 70 API keys of one owner taking turns', (q) => ({ principal: `key:rot-${q % 70}`, owner: 'mallory-inc', source: '10.0.0.2' }), () => rotating.shift()!]);
  const sybil = Array.from({ length: 20 }, (_, i) => jacobianAttacker(700 + i, heldout.inputs, label, 0.1));
  attackers.push(['Sybil: Jacobian augmentation clipped to the profile, 20 principals and addresses', (q) => ({ principal: `user:sybil-${q % 20}`, source: `10.1.0.${q % 20}` }), (() => {
    let q = 0;
    return () => clip(sybil[q++ % 20]());
  })()]);

  const runs: SpreadRun[] = [];
  for (const [name, callerOf, next] of attackers) {
    const send = await gateway();
    await benignTraffic(send, new Set());
    const answered: Float32Array[] = [];
    let flaggedAt: number | null = null;
    let signal: string | null = null;
    let stoppedAt: number | null = null;
    for (let q = 0; q < opts.queries; q++) {
      const x = next();
      const ok = await send(callerOf(q), x, (f, refused) => {
        if (flaggedAt === null) [flaggedAt, signal] = [answered.length, `${f.detector}:${f.signal}`];
        if (refused && stoppedAt === null) stoppedAt = answered.length;
      });
      if (ok) answered.push(x);
    }
    // Flagged before it had 10 answers: a copy is no better than chance (one class in ten).
    const atFlag = flaggedAt === null ? null : flaggedAt < 10 ? 0.1 : agreement(weights, trainStolen(weights, answered.slice(0, flaggedAt)), unseen);
    runs.push({ attacker: name, sent: opts.queries, answered: answered.length, flaggedAt, signal, stoppedAt, agreementAtFlag: atFlag, agreementAtEnd: agreement(weights, trainStolen(weights, answered), unseen) });
  }
  return { runs, benignFlagged: [...benignFlagged] };
}
