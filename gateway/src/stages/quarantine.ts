import type { Logger } from 'pino';
import type { RequestContext } from '../context.js';
import type { PolicySource } from '../policy-port.js';
import { storeFailed } from '../stores/store-failure.js';
import { VigilError } from '../errors.js';
import type { Quarantine } from '../screening/quarantine.js';
import { callerKey } from '../screening/verdicts.js';
import { refuse, type Stage } from '../stage.js';

/** quarantine stage (right after authenticate): a principal a detector quarantined is refused everything until its time is up. */
export function createQuarantineStage(quarantine: Quarantine, deps?: { policy: PolicySource; log: Logger }): Stage {
  return {
    name: 'quarantine',
    async run(ctx: RequestContext) {
      let entry;
      try {
        entry = await quarantine.check(callerKey(ctx));
      } catch (err) {
        if (!deps) throw err;
        return storeFailed(ctx, deps.policy, deps.log, 'quarantine', err);
      }
      if (!entry) return;
      const seconds = entry.secondsLeft;
      return refuse(
        new VigilError('PRINCIPAL_QUARANTINED', `this caller is quarantined after a detector finding (${entry.reason}); retry in ${seconds} s`, { 'retry-after': String(seconds) }),
        `quarantine:${entry.reason}`,
      );
    },
  };
}
