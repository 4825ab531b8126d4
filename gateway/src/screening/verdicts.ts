import type { Finding } from '../../../detectors/src/finding.js';
import { DETECTOR_REGISTRY, type RegisteredDetector } from '../../../detectors/src/registry.js';
import type { DetectorActions } from '../../../policies/src/index.js';
import type { RequestContext } from '../context.js';
import { VigilError, type ErrorCode } from '../errors.js';
import type { Quarantine } from './quarantine.js';
import { refuse, type Refusal } from '../stage.js';
import type { RecordedFinding } from './recorded-finding.js';

// A detector whose refusalCode is not in the catalogue fails to compile here.
const REFUSAL = new Map<string, { code: ErrorCode; message: string }>(
  DETECTOR_REGISTRY.map((d: RegisteredDetector) => [d.name, { code: d.refusalCode satisfies ErrorCode, message: d.refusalMessage }]),
);
type DetectorRule = { mode: 'enforce' | 'shadow'; action: 'allow' | 'flag' | 'block' | 'quarantine'; min_rows?: number; min_fraction?: number };

/**
 * What an anomalous finding does: the rule's action, but a block or quarantine needs the rule's
 * share of the request's distinct rows to be anomalous (one odd row in a batch of fifty is
 * flagged, not refused), and `min_rows` of them, or all of them when the request has fewer (a
 * one-row request's one anomalous row is refused). Findings that do not count rows always qualify;
 * a finding's ceiling caps what it may do.
 */
export function actionOf(f: Finding, rule: DetectorRule | undefined): RecordedFinding['action'] {
  if (f.verdict === 'clean') return 'none';
  const action = rule?.action ?? 'flag';
  if (f.ceiling === 'flag' && (action === 'block' || action === 'quarantine')) return 'flag';
  if (f.ceiling === 'block' && action === 'quarantine') return 'block';
  if ((action !== 'block' && action !== 'quarantine') || f.rows === undefined || !f.of) return action;
  const enough = f.rows >= Math.min(rule?.min_rows ?? 1, f.of) && f.rows / f.of >= (rule?.min_fraction ?? 0);
  return enough ? action : 'flag';
}

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
 * only recorded. A quarantine that cannot be stored still refuses this request (as a block): its
 * failure goes to `onStoreFailure` (on_store_failure's refusal, first), and no other finding's
 * refusal is lost to it; without a handler it throws.
 */
export async function findingVerdicts(
  ctx: RequestContext,
  findings: Finding[],
  actions: DetectorActions | undefined,
  quarantine: Quarantine,
  onStoreFailure?: (err: unknown) => Refusal,
): Promise<Refusal[]> {
  const failures: Refusal[] = [];
  const screen = (ctx.screen ??= { batch: null, findings: [], ran: [] });
  const quarantines: Refusal[] = [];
  const blocks: Refusal[] = [];
  for (const f of findings) {
    const rule = (actions as Record<string, DetectorRule | undefined> | undefined)?.[f.detector];
    const mode = rule?.mode ?? 'shadow';
    ctx.modes[`detector:${f.detector}`] = mode;
    const action = actionOf(f, rule);
    screen.findings.push({ ...f, mode, action });
    if (action !== 'block' && action !== 'quarantine') continue;
    // A finding of a detector the registry does not know is refused as an internal fault: fail closed.
    const { code, message } = REFUSAL.get(f.detector) ?? { code: 'INTERNAL_ERROR' as const, message: `no refusal is registered for detector ${f.detector}` };
    const by = `detector:${f.detector}`;
    const block = () => blocks.push(refuse(new VigilError(code, `${message} (${f.signal}${f.detail ? `: ${f.detail}` : ''})`), by, mode));
    if (action === 'quarantine' && actions) {
      const seconds = actions.quarantine_seconds;
      try {
        if (mode === 'enforce') await quarantine.add(callerKey(ctx), seconds, `${f.detector}:${f.signal}`);
      } catch (err) {
        if (!onStoreFailure) throw err;
        failures.push(onStoreFailure(err));
        block();
        continue;
      }
      quarantines.push(refuse(new VigilError('PRINCIPAL_QUARANTINED', `${message}; this caller is quarantined for ${seconds} s`, { 'retry-after': String(seconds) }), by, mode));
    } else {
      block();
    }
  }
  return [...failures, ...quarantines, ...blocks];
}
