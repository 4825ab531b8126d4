import { VigilError } from '../errors.js';
import { refuse, type Stage } from '../stage.js';

/**
 * audit-health stage (with `audit.on_failure: fail_closed`): while the audit log cannot be
 * written, a request is refused before anything runs for it. Checking only when the answer is
 * recorded let inferences run on a pool and then be refused (5 of 5, with the audit disk full).
 * The liveness probe passes: it must not depend on the audit disk.
 */
export function createAuditHealthStage(audit: { readonly healthy: boolean }): Stage {
  return {
    name: 'audit-health',
    run(ctx) {
      if (audit.healthy || ctx.req.url === '/v2/health/live') return;
      return refuse(new VigilError('AUDIT_UNAVAILABLE', 'the audit log cannot be written; vigil fails closed', { 'retry-after': '5' }), 'stage:audit-health');
    },
  };
}
