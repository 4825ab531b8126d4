// `npm run eval:detectors`: how well vigil's detectors work on the bundled mnist model, measured
// end to end and reproducibly (every random choice is seeded). Prints one report of tables;
// `--json FILE` also writes the figures (the test in test/detectors/eval.test.ts asserts on them).
//   EVAL_SAMPLES (200), EVAL_ADAPTIVE (50), EVAL_EOT_DRAWS (8), EVAL_BLACKBOX (20), EVAL_BENIGN (25),
//   EVAL_EXTRACTION_QUERIES (3000), EVAL_COST_SECONDS (5) scale it.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { modelConfigSchema } from '../../serving/src/model-config.js';
import { importOnnxWeights } from '../train/onnx-import.js';
import { loadYamlWithSchema } from '../../oip/src/yaml-with-schema.js';
import { calibrationThresholds, MIN_VARIATION_ACCURACY, variedRows } from '../calibration/calibrate-model.js';
import { VARIATIONS, type Variation } from '../calibration/variations.js';
import { loadHeldoutFile, OfflineScorer, splitHeldout } from '../calibration/offline-scorer.js';
import { adaptiveEval } from './adaptive-eval.js';
import { blackBoxEval } from './black-box-eval.js';
import { costEval } from './cost-eval.js';
import { extractionEval } from './extraction-eval.js';
import { extractionSpreadEval } from './extraction-budget-eval.js';
import { loadPolicyFile } from '../../policies/src/index.js';
import { flagged, whiteBoxEval, type Thresholds } from './white-box-eval.js';

const DIR = 'models/mnist/1';
const env = (k: string, d: number) => Number(process.env[k] ?? d);
const jsonOut = process.argv.includes('--json') ? process.argv[process.argv.indexOf('--json') + 1] : undefined;
const started = performance.now();
const pct = (x: number) => (Number.isNaN(x) ? '–' : `${(x * 100).toFixed(1)}%`);
const f3 = (x: number) => (Number.isNaN(x) ? '–' : x.toFixed(3));
const out: string[] = [];
const say = (line = '') => {
  out.push(line);
  console.log(line);
};

const config = await loadYamlWithSchema(join(DIR, 'model.yaml'), modelConfigSchema);
const t = { profile: config.detectors.profile?.threshold, squeeze: config.detectors.squeeze?.threshold };
if (t.profile === undefined || t.squeeze === undefined) throw new Error(`${DIR}/model.yaml has no calibrated thresholds: run npx vigil detectors calibrate --model mnist --fpr 0.05`);
const thresholds = { profile: t.profile, squeeze: t.squeeze };
const weights = importOnnxWeights(await readFile(join(DIR, 'model.onnx')));
const heldout = await loadHeldoutFile(DIR, config.heldout!);
const { calibration, evaluation } = splitHeldout(heldout);
const scorer = await OfflineScorer.open(config, DIR);

say('# vigil detector evaluation: mnist (784-128-10 MLP)');
say();
say(`Thresholds from model.yaml (calibrated on held-out inputs 1-1000 for a joint false-positive rate of ${config.detectors.squeeze?.calibration?.fpr ?? '?'}): profile ${thresholds.profile}, squeeze ${thresholds.squeeze} (squeezers: ${config.detectors.squeeze?.squeezers.join(', ')}).`);
const clean = await scorer.score(evaluation.map((i) => Float32Array.from(heldout.inputs[i])));
const fpr = {
  profile: clean.filter((s) => s.profile > thresholds.profile).length / clean.length,
  squeeze: clean.filter((s) => s.squeeze > thresholds.squeeze).length / clean.length,
  combined: clean.filter((s) => flagged(s, thresholds)).length / clean.length,
};
say(`False-positive rate on the ${clean.length} held-out inputs calibration never saw: profile ${pct(fpr.profile)}, squeeze ${pct(fpr.squeeze)}, combined ${pct(fpr.combined)}.`);
say();

// Benign variation: what real clients send that the held-out set does not show.
const image = config.detectors.squeeze?.image;
const range = config.inputs[0].range ?? [0, 1];
const calibratedOn = (config.detectors.squeeze?.calibration?.variations ?? []) as Variation[];
const rowsOf = variedRows(heldout, image, range);
say(`## Benign variation (the held-out half calibration never saw, varied; thresholds held to ${pct(config.detectors.squeeze?.calibration?.fpr ?? NaN)} on: held-out${calibratedOn.map((v) => `, ${v}`).join('')})`);
say();
say('| variation | model accuracy | flagged: profile | squeeze | combined | held to the target |');
say('|---|---|---|---|---|---|');
const variationFpr: { name: string; accuracy: number; fpr: number }[] = [];
for (const [n, v] of [null, ...VARIATIONS].entries()) {
  const scored = await scorer.score(rowsOf(evaluation, v, 300 + n));
  const accuracy = scored.filter((s, k) => s.predicted === heldout.labels[evaluation[k]]).length / scored.length;
  const rate = (f: (s: (typeof scored)[number]) => boolean) => scored.filter(f).length / scored.length;
  const combined = rate((s) => flagged(s, thresholds));
  variationFpr.push({ name: v ?? 'none', accuracy, fpr: combined });
  say(`| ${v ?? 'none (as held out)'} | ${pct(accuracy)} | ${pct(rate((s) => s.profile > thresholds.profile))} | ${pct(rate((s) => s.squeeze > thresholds.squeeze))} | **${pct(combined)}** | ${v === null || calibratedOn.includes(v) ? 'yes' : `no (model under ${pct(MIN_VARIATION_ACCURACY)} on the calibration half)`} |`);
}
say();

// The fixed (deterministic) squeezers, calibrated here the same way, for the adaptive rows' baseline.
const targetFpr = config.detectors.squeeze?.calibration?.fpr ?? 0.05;
const fixedThresholds = (await calibrationThresholds(scorer, heldout, calibration, { fpr: targetFpr, detectors: ['profile', 'squeeze'], tried: calibratedOn, image, range, randomize: false })).thresholds as unknown as Thresholds;
const fixedFpr = (await scorer.score(rowsOf(evaluation, null, 2), false)).filter((s) => flagged(s, fixedThresholds)).length / evaluation.length;

const white = await whiteBoxEval(weights, heldout, evaluation, scorer, clean, thresholds, env('EVAL_SAMPLES', 200));
say('## White-box attacks (gradients from the shipped weights; only successful adversarial examples count)');
say();
say('| attack | success | detected: profile | squeeze | combined | ROC-AUC: profile | squeeze | combined |');
say('|---|---|---|---|---|---|---|---|');
for (const r of white) {
  say(`| ${r.attack} | ${r.successes}/${r.attacked} (${pct(r.successes / r.attacked)}) | ${pct(r.detection.profile)} | ${pct(r.detection.squeeze)} | **${pct(r.detection.combined)}** | ${f3(r.auc.profile)} | ${f3(r.auc.squeeze)} | ${f3(r.auc.combined)} |`);
}
say();

const adaptiveSettings = { samples: env('EVAL_ADAPTIVE', 50), steps: 100, draws: env('EVAL_EOT_DRAWS', 8), stolenQueries: 3000 };
const adaptive = await adaptiveEval(weights, heldout, evaluation, scorer, { fixed: fixedThresholds, randomised: thresholds }, adaptiveSettings);
say(`## Adaptive white-box attacks (BPDA through the squeezers, staying under the profile threshold; ${adaptiveSettings.steps} DDN steps, L2)`);
say();
say(`Randomised squeezers (shipped): squeeze threshold ${thresholds.squeeze}, combined FPR ${pct(fpr.combined)}. Fixed squeezers, calibrated here the same way: squeeze threshold ${fixedThresholds.squeeze.toFixed(5)}, combined FPR ${pct(fixedFpr)}. The stolen model agrees with the served one on ${pct(adaptive.stolenAgreement)} of the held-out inputs.`);
say();
say('| attack | scored with | success | evaded both detectors | detected | median L2 |');
say('|---|---|---|---|---|---|');
for (const r of adaptive.rows) say(`| ${r.attack} | ${r.squeezers} squeezers | ${r.successes}/${r.attacked} | ${r.evaded} | **${pct(r.detection)}** | ${r.medianL2.toFixed(2)} |`);
say();

const black = await blackBoxEval(weights, heldout, evaluation, { samples: env('EVAL_BLACKBOX', 20), maxQueries: 1000 });
say('## Black-box attack through the public endpoint (SimBA, pixel basis, L∞ ε 0.3, ≤ 1000 queries; the attacker sees only the returned probabilities)');
say();
say('| attack | success | mean queries (rows) | mean HTTP requests | flagged by the gateway: profile | squeeze | combined |');
say('|---|---|---|---|---|---|---|');
const bb = (n: number) => (black.successes ? n / black.successes : NaN);
say(`| SimBA ε=0.3 | ${black.successes}/${black.attacked} (${pct(black.successes / black.attacked)}) | ${black.meanQueries.toFixed(0)} | ${black.meanRequests.toFixed(0)} | ${pct(bb(black.flaggedBy.profile))} | ${pct(bb(black.flaggedBy.squeeze))} | **${pct(bb(black.flaggedBy.combined))}** |`);
say();

const budget = 500;
const extraction = await extractionEval(weights, heldout, scorer, thresholds.profile, { benign: env('EVAL_BENIGN', 25), budget });
const benign = extraction.filter((r) => r.kind === 'benign');
say(`## Extraction: synthetic attackers vs ${benign.length} benign clients replaying 100-300 held-out digits each (budget ${budget} queries)`);
say();
say('| client | queries until flagged | first signal |');
say('|---|---|---|');
for (const r of extraction.filter((x) => x.kind === 'attacker')) say(`| ${r.client} | ${r.flaggedAt ?? `not within ${budget}`} | ${r.signal ?? '–'} |`);
const benignFlagged = benign.filter((r) => r.flaggedAt !== null);
say(`| benign clients flagged | ${benignFlagged.length} of ${benign.length} (${benign.reduce((a, r) => a + r.queries, 0)} queries) | ${benignFlagged.map((r) => r.signal).join(', ') || '–'} |`);
say();
const policy = await loadPolicyFile('policies/vigil-policy.yaml');
const spread = await extractionSpreadEval(weights, heldout, evaluation, config, scorer, policy.detectors, { queries: env('EVAL_EXTRACTION_QUERIES', 3000) });
const b = config.detectors.budget;
say(`## Extraction that adapts: real data, many principals (extraction detector + budgets of ${b?.principal ?? '–'} per principal, ${b?.owner ?? '–'} per owner, ${b?.source ?? '–'} per source, ${b?.model ?? '–'} per model a day; the bundled policy's actions; after 25 benign clients)`);
say();
say('| attacker | answered | first flagged at | signal | stopped at | stolen copy agrees: at the flag | with all it got |');
say('|---|---|---|---|---|---|---|');
for (const r of spread.runs) say(`| ${r.attacker} | ${r.answered}/${r.sent} | ${r.flaggedAt ?? '–'} | ${r.signal ?? '–'} | ${r.stoppedAt ?? '–'} | ${r.agreementAtFlag === null ? '–' : pct(r.agreementAtFlag)} | ${pct(r.agreementAtEnd)} |`);
say(`| benign clients flagged (budgets and extraction together) | ${spread.benignFlagged.length} of 25 | | ${spread.benignFlagged.join(', ') || '–'} | | | |`);
say();
await scorer.close();

const cost = await costEval(heldout, { seconds: env('EVAL_COST_SECONDS', 5), connections: 16 });
say('## Cost: gateway throughput (full security chain, mnist batch 1, 16 connections), detectors turned on one by one');
say();
say('| detectors on | req/s | vs none |');
say('|---|---|---|');
for (const r of cost) say(`| ${r.detectors} | ${r.rps.toFixed(0)} | ×${r.ratio.toFixed(2)} |`);
say();

const whiteMin = Math.min(...white.map((r) => r.detection.combined));
const spreadHeld = spread.runs.every((r) => Math.min(r.agreementAtFlag ?? 1, r.agreementAtEnd) < 0.9);
const heldVariations = variationFpr.filter((v) => v.name === 'none' || calibratedOn.includes(v.name as Variation));
const worstVariation = Math.max(...heldVariations.map((v) => v.fpr));
const [, fixedBpda, , eot] = adaptive.rows;
const l2Ratio = eot.medianL2 / fixedBpda.medianL2;
const attackersFlagged = extraction.filter((r) => r.kind === 'attacker').every((r) => r.flaggedAt !== null && r.flaggedAt <= budget);
say('## Targets');
say();
say(`- combined detection ≥ 90% at ≤ 5% FPR for every white-box attack: lowest ${pct(whiteMin)} at ${pct(fpr.combined)} → ${whiteMin >= 0.9 && fpr.combined <= 0.05 ? 'met' : 'NOT met'}`);
say(`- ≤ 5% FPR on each benign variation the model classifies with ≥ 95% accuracy: ${heldVariations.map((v) => `${v.name} ${pct(v.fpr)}`).join(', ')} → ${worstVariation <= 0.05 ? 'met' : 'NOT met'}`);
say(`- adaptive BPDA + EOT against randomised squeezers detected ≥ 50%, or needing ≥ 2× the L2 it needs against fixed ones: detected ${pct(eot.detection)}, L2 ×${l2Ratio.toFixed(2)} → ${eot.detection >= 0.5 || l2Ratio >= 2 ? 'met' : 'NOT met'}`);
say(`- every adaptive extraction attacker (knockoff, rotating, Sybil) flagged or stopped before its copy agrees on 90%, no benign client flagged: ${spread.runs.map((r) => pct(Math.min(r.agreementAtFlag ?? 1, r.agreementAtEnd))).join(', ')}; ${spread.benignFlagged.length} benign flagged → ${spreadHeld && spread.benignFlagged.length === 0 ? 'met' : 'NOT met'}`);
say(`- every synthetic extraction attacker flagged within ${budget} queries, no benign client flagged: ${attackersFlagged && benignFlagged.length === 0 ? 'met' : 'NOT met'}`);
say(`- evaluation time: ${((performance.now() - started) / 1000).toFixed(0)} s`);

if (jsonOut) await writeFile(jsonOut, JSON.stringify({ thresholds, fpr, fixed: { thresholds: fixedThresholds, fpr: fixedFpr }, variations: { calibratedOn, rows: variationFpr }, white, adaptive, black, extraction, spread, cost }, null, 2));
