import { finding, type Finding } from '../../../detectors/src/finding.js';
import type { PoolScreenReport } from '../../../detectors/src/squeeze/pool-screen.js';
import type { RequestContext } from '../context.js';
import { VigilError } from '../errors.js';
import type { PolicySource } from '../policy-port.js';
import type { ModelScreening } from './model-screening.js';
import type { Quarantine } from './quarantine.js';
import { applyFindings, callerKey } from './verdicts.js';

/** One answered row, as the extraction detector sees it. */
export interface AnsweredRow {
  x: Float32Array;
  predicted: number;
  confidence: number;
  outOfProfile: boolean;
}

/** The gateway's view of the extraction detector: per principal and model, over answered rows. */
export interface ExtractionPort {
  observe(principal: string, model: string, rows: AnsweredRow[], screening: ModelScreening): Promise<Finding[]>;
}

/**
 * Screening of a pool's successful answer, before it is sent: the squeeze score the pool computed
 * in the same run, and the caller's query pattern (extraction). A pool that should have reported
 * and did not fails the request closed: an unscreened answer never leaves.
 */
export function createAnswerScreen(policy: PolicySource, quarantine: Quarantine, extraction: ExtractionPort | undefined) {
  return async function screenAnswer(ctx: RequestContext, header: string | string[] | undefined): Promise<void> {
    const target = ctx.target;
    if (target?.status !== 'serving' || !target.screening.pool) return;
    const { screening } = target;
    const rows = ctx.screen?.batch?.rows;
    const report = parseReport(header, rows?.length ?? -1, screening.squeeze !== undefined);
    ctx.screen?.ran.push(...(screening.squeeze ? (['squeeze'] as const) : []), ...(screening.extraction && extraction ? (['extraction'] as const) : []));
    const findings: Finding[] = [];
    if (screening.squeeze && report.squeeze && report.by) {
      let item = 0;
      for (let r = 1; r < report.squeeze.length; r++) if (report.squeeze[r] > report.squeeze[item]) item = r;
      findings.push(finding('squeeze', report.by[item], report.squeeze[item], screening.squeeze.threshold, { item }));
    }
    if (screening.extraction && extraction && rows && ctx.principal) {
      const scores = ctx.screen?.profileScores;
      const answered = rows.map((x, r): AnsweredRow => ({
        x,
        predicted: report.top[r],
        confidence: report.conf[r],
        outOfProfile: scores !== undefined && screening.profile !== undefined && screening.profile.isAnomalous(scores[r]),
      }));
      findings.push(...(await extraction.observe(callerKey(ctx), `${target.model}/${target.version}`, answered, screening)));
    }
    await applyFindings(ctx, findings, policy.current().detectors, quarantine);
  };
}

/** The pool's report, checked whole: anything short of a full, well-typed report fails the request closed. */
function parseReport(header: string | string[] | undefined, rows: number, squeeze: boolean): PoolScreenReport {
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
