import type { RequestContext } from '../context.js';
import { VigilError } from '../errors.js';
import type { Quarantine } from '../screening/quarantine.js';
import { callerKey } from '../screening/verdicts.js';

/** quarantine stage (right after authenticate): a principal a detector quarantined is refused everything until its time is up. */
export function createQuarantineStage(quarantine: Quarantine) {
  return async function quarantined(ctx: RequestContext): Promise<void> {
    const entry = await quarantine.check(callerKey(ctx));
    if (!entry) return;
    ctx.refusedBy = `quarantine:${entry.reason}`;
    const seconds = entry.secondsLeft;
    throw new VigilError('PRINCIPAL_QUARANTINED', `this caller is quarantined after a detector finding (${entry.reason}); retry in ${seconds} s`, { 'retry-after': String(seconds) });
  };
}
