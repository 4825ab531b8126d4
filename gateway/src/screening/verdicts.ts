import type { DetectorName, Finding } from '../../../detectors/src/finding.js';
import type { DetectorActions } from '../../../policies/src/index.js';
import type { RequestContext } from '../context.js';
import { VigilError, type ErrorCode } from '../errors.js';
import type { Quarantine } from './quarantine.js';
import { refuse, type Refusal } from '../stage.js';

const REFUSAL: Record<DetectorName, { code: ErrorCode; message: string }> = {
  structural: { code: 'STRUCTURAL_CHECK_FAILED', message: 'the request fails a structural check for this model' },
  profile: { code: 'INPUT_OUT_OF_DISTRIBUTION', message: "the input is far outside the model's training distribution" },
  squeeze: { code: 'ADVERSARIAL_INPUT', message: "the model's answer is unstable under feature squeezing: the input looks adversarial" },
  extraction: { code: 'EXTRACTION_SUSPECTED', message: 'the query pattern of this caller looks like model extraction or probing' },
};

/** The key of a caller (quarantine, extraction state, alerts): anonymous callers are told apart by address, as in the limits. */
export function callerKey(ctx: RequestContext): string {
  const p = ctx.principal;
  if (!p) return `unauthenticated@${ctx.source}`;
  return p.method === 'anonymous' ? `${p.id}@${ctx.source}` : p.id;
}

/**
 * Records findings on the request and turns each anomalous one into what the policy says, in the
 * detector's mode: flag records (and counts, and feeds the alerts, at the request's end); block
 * refuses with the detector's code; quarantine refuses and quarantines this principal for
 * `quarantine_seconds` (only in enforce mode). Every quarantine is applied, even behind an earlier
 * block: the caller must not escape it because another detector refused the same request first;
 * and a quarantine's refusal comes first. Without a policy section (test doubles) every finding is
 * only recorded.
 */
export async function findingVerdicts(ctx: RequestContext, findings: Finding[], actions: DetectorActions | undefined, quarantine: Quarantine): Promise<Refusal[]> {
  const screen = (ctx.screen ??= { batch: null, findings: [], ran: [] });
  const quarantines: Refusal[] = [];
  const blocks: Refusal[] = [];
  for (const f of findings) {
    const rule = actions?.[f.detector];
    const mode = rule?.mode ?? 'shadow';
    ctx.modes[`detector:${f.detector}`] = mode;
    const action = f.verdict === 'clean' ? 'none' : (rule?.action ?? 'flag');
    screen.findings.push({ ...f, mode, action });
    if (action !== 'block' && action !== 'quarantine') continue;
    const { code, message } = REFUSAL[f.detector];
    const by = `detector:${f.detector}`;
    if (action === 'quarantine' && actions) {
      const seconds = actions.quarantine_seconds;
      if (mode === 'enforce') await quarantine.add(callerKey(ctx), seconds, `${f.detector}:${f.signal}`);
      quarantines.push(refuse(new VigilError('PRINCIPAL_QUARANTINED', `${message}; this caller is quarantined for ${seconds} s`, { 'retry-after': String(seconds) }), by, mode));
    } else {
      blocks.push(refuse(new VigilError(code, `${message} (${f.signal}${f.detail ? `: ${f.detail}` : ''})`), by, mode));
    }
  }
  return [...quarantines, ...blocks];
}
