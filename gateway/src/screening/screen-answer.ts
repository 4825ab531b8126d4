import type { Finding } from '../../../detectors/src/finding.js';
import type { PoolScreenReport } from '../../../detectors/src/squeeze/pool-screen.js';
import type { TargetContext } from '../context.js';
import { VigilError } from '../errors.js';
import type { FailedStore } from '../stores/store-failure.js';
import { sourceKey } from '../auth/auth-failure-throttle.js';
import { callerKey } from './verdicts.js';

/** The answer-phase detectors that keep state in a shared store, and which store. */
const STATEFUL: Record<string, FailedStore | undefined> = { extraction: 'extraction', budget: 'budget' };

/** A detector whose shared store failed: the stage applies on_store_failure to it, and keeps the others' findings. */
export interface FailedDetector {
  store: FailedStore;
  err: unknown;
}

/**
 * The findings on a pool's successful answer, before it is sent: every pool-phase and
 * answer-phase detector the model enables (squeeze, extraction, budget), in registry order, given
 * the report the pool computed in the same run. A pool that should have reported and did not
 * fails the request closed: an unscreened answer never leaves. A detector whose store fails is
 * named in `failed`; the other detectors still run and their findings count.
 */
export async function screenAnswer(ctx: TargetContext, header: string | undefined): Promise<{ findings: Finding[]; failed: FailedDetector[] }> {
  const { screening, model, version } = ctx.target;
  if (!screening.pool) return { findings: [], failed: [] };
  const screen = ctx.screen;
  const batch = screen?.batch ?? null;
  const report = parseReport(header, batch?.rows.length ?? -1, screening.pool.squeezers.length > 0);
  const inspection = {
    bodyBytes: ctx.body?.raw.length ?? 0,
    batch,
    caller: callerKey(ctx),
    owner: ctx.principal?.owner,
    source: sourceKey(ctx.source),
    model: `${model}/${version}`,
    report,
    flaggedRows: screen?.flaggedRows,
  };
  const findings: Finding[] = [];
  const failed: FailedDetector[] = [];
  for (const detector of screening.answer) {
    screen?.ran.push(detector.name);
    try {
      findings.push(...(await detector.inspect(inspection)).findings);
    } catch (err) {
      // Only a detector with a shared store can fail for want of it; anything else is a fault (500).
      const store = STATEFUL[detector.name];
      if (err instanceof VigilError || !store) throw err;
      failed.push({ store, err });
    }
  }
  return { findings, failed };
}

/** The pool's report, checked whole: anything short of a full, well-typed report fails the request closed. */
function parseReport(header: string | undefined, rows: number, squeeze: boolean): PoolScreenReport {
  let report: Partial<PoolScreenReport> | null = null;
  try {
    if (typeof header === 'string') report = JSON.parse(header) as Partial<PoolScreenReport> | null;
  } catch {
    report = null;
  }
  const numbers = (v: unknown): v is number[] => Array.isArray(v) && v.length === rows && v.every((x) => typeof x === 'number' && Number.isFinite(x));
  const ok =
    rows > 0 &&
    typeof report === 'object' &&
    report !== null &&
    numbers(report.top) &&
    report.top.every((k) => Number.isInteger(k) && k >= 0) &&
    numbers(report.conf) &&
    (!squeeze || (numbers(report.squeeze) && Array.isArray(report.by) && report.by.length === rows && report.by.every((b) => typeof b === 'string')));
  if (!ok) throw new VigilError('POOL_ERROR', 'the model pool did not report its screening of this request');
  return report as PoolScreenReport;
}
