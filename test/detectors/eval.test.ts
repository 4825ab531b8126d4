import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ClientRun } from '../../tools/detectors-eval/extraction-eval.js';
import type { BlackBoxResult } from '../../tools/detectors-eval/black-box-eval.js';
import type { DetectionRow } from '../../tools/detectors-eval/white-box-eval.js';
import type { AdaptiveRow } from '../../tools/detectors-eval/adaptive-eval.js';
import type { SpreadRun } from '../../tools/detectors-eval/extraction-budget-eval.js';
import { runNode } from '../helpers/run-node.js';

interface Report {
  fpr: { combined: number };
  variations: { calibratedOn: string[]; rows: { name: string; accuracy: number; fpr: number }[] };
  white: DetectionRow[];
  adaptive: { rows: AdaptiveRow[]; stolenAgreement: number };
  spread: { runs: SpreadRun[]; benignFlagged: string[] };
  black: BlackBoxResult;
  extraction: ClientRun[];
}

// `npm run eval:detectors`, as a user runs it, on the shipped mnist model and its calibrated
// thresholds. Quality is asserted with a margin under what was measured (the thresholds are held
// to 5% FPR on benign variations, which costs white-box detection: 82% at the lowest; every
// extraction attacker within 500 queries, no benign client flagged);
// the evaluation is seeded, so a drop below the margin is a real regression. The adaptive attacks
// are asserted to work (a broken attack would make the detectors look better than they are), on 30
// inputs instead of 50 to save CI time. Its timing and cost figures are printed, never asserted
// (so its throughput runs last a second each here; `npm run eval:detectors` gives them five).
test('the detector evaluation meets its targets on mnist, with a margin', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-eval-test-'));
  try {
    const file = join(dir, 'eval.json');
    const ran = await runNode(['dist/tools/detectors-eval/run-eval.js', '--json', file], { EVAL_ADAPTIVE: '30', EVAL_COST_SECONDS: '1' });
    assert.equal(ran.code, 0, ran.stderr);
    for (const line of ran.stdout.trimEnd().split('\n')) t.diagnostic(line);
    const r = JSON.parse(await readFile(file, 'utf8')) as Report;
    assert.ok(r.fpr.combined <= 0.06, `false-positive rate ${r.fpr.combined} on held-out inputs calibration never saw`);
    // Benign variation: every variation the thresholds were held to stays near the target on inputs calibration never saw.
    assert.ok(r.variations.calibratedOn.length >= 3, `calibrated on ${r.variations.calibratedOn.join(', ')}`);
    for (const v of r.variations.rows.filter((x) => x.name === 'none' || r.variations.calibratedOn.includes(x.name))) assert.ok(v.fpr <= 0.06, `${v.name}: ${v.fpr} flagged`);
    assert.equal(r.white.length, 7);
    for (const row of r.white) {
      assert.ok(row.successes >= row.attacked / 2, `${row.attack}: the attack fooled the model on ${row.successes}/${row.attacked}`);
      // Thresholds held to 5% on benign variations too are higher: 82-99% measured (detectors/README.md).
      assert.ok(row.detection.combined >= 0.78, `${row.attack}: combined detection ${row.detection.combined}`);
      assert.ok(row.auc.combined >= 0.95, `${row.attack}: combined ROC-AUC ${row.auc.combined}`);
    }
    const [minimal, bpdaFixed, bpdaRandom, eot, transferFixed, transferEot] = r.adaptive.rows;
    assert.equal(r.adaptive.rows.length, 6);
    for (const row of [minimal, bpdaFixed, bpdaRandom, eot]) assert.ok(row.successes >= 0.8 * row.attacked, `${row.attack}: fooled ${row.successes}/${row.attacked}`);
    for (const row of [transferFixed, transferEot]) assert.ok(row.successes >= row.attacked / 2, `${row.attack}: transferred ${row.successes}/${row.attacked}`);
    // The measured weakness stays measured: BPDA walks past fixed squeezers, and the detectors make it pay several times the L2.
    assert.ok(bpdaFixed.detection <= 0.2, `BPDA vs fixed squeezers detected ${bpdaFixed.detection}`);
    assert.ok(bpdaFixed.medianL2 >= 2.5 * minimal.medianL2, `L2 ${bpdaFixed.medianL2} vs ${minimal.medianL2} undefended`);
    assert.ok(bpdaRandom.detection >= 0.2, `randomised squeezers caught ${bpdaRandom.detection} of the BPDA that assumes fixed ones`);
    assert.ok(r.adaptive.stolenAgreement >= 0.9, `the stolen model agrees on ${r.adaptive.stolenAgreement}`);
    // Extraction that adapts: each attacker flagged or stopped before its copy agrees on 90%; knockoff and rotating stopped.
    assert.equal(r.spread.runs.length, 3);
    for (const run of r.spread.runs) assert.ok(Math.min(run.agreementAtFlag ?? 1, run.agreementAtEnd) < 0.9, `${run.attacker}: copy agrees on ${run.agreementAtFlag} at the flag, ${run.agreementAtEnd} at the end`);
    assert.ok(r.spread.runs.slice(0, 2).every((run) => run.stoppedAt !== null && run.answered < run.sent / 4), 'knockoff and rotating attackers are stopped');
    assert.deepEqual(r.spread.benignFlagged, [], 'benign clients flagged by budgets or extraction');
    assert.ok(r.black.successes >= r.black.attacked / 2, `SimBA through the gateway fooled the model on ${r.black.successes}/${r.black.attacked}`);
    assert.ok(r.black.flaggedBy.combined >= 0.8 * r.black.successes, `the gateway flagged ${r.black.flaggedBy.combined}/${r.black.successes} black-box adversarial examples`);
    for (const c of r.extraction.filter((x) => x.kind === 'attacker')) assert.ok(c.flaggedAt !== null && c.flaggedAt <= 500, `${c.client}: flagged at ${c.flaggedAt}`);
    const benign = r.extraction.filter((x) => x.kind === 'benign');
    assert.ok(benign.length >= 20);
    assert.deepEqual(benign.filter((c) => c.flaggedAt !== null).map((c) => `${c.client}: ${c.signal}`), [], 'benign clients flagged');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
