import type { Finding } from '../../../detectors/src/finding.js';
import type { PoolScreenReport } from '../../../detectors/src/squeeze/pool-screen.js';
import type { TargetContext } from '../context.js';
import { VigilError } from '../errors.js';
import { sourceKey } from '../auth/auth-failure-throttle.js';
import { callerKey } from './verdicts.js';

/**
 * The findings on a pool's successful answer, before it is sent: every pool-phase and
 * answer-phase detector the model enables (squeeze, extraction), in registry order, given the
 * report the pool computed in the same run. A pool that should have reported and did not fails
 * the request closed: an unscreened answer never leaves.
 */
export async function screenAnswer(ctx: TargetContext, header: string | undefined): Promise<Finding[]> {
  const { screening, model, version } = ctx.target;
  if (!screening.pool) return [];
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
  for (const detector of screening.answer) {
    screen?.ran.push(detector.name);
    findings.push(...(await detector.inspect(inspection)).findings);
  }
  return findings;
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
