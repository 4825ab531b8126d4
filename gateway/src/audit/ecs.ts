import { isIP } from 'node:net';
import type { StoredAuditRecord } from './chain.js';

/**
 * One audit record in the Elastic Common Schema (ECS 8), as a SIEM ingests it: `@timestamp`,
 * `event.*` (kind, category, type, action, outcome, reason), `user.name`, `source.ip`, `http.*`,
 * `rule.name`, `trace.id`. Nothing is lost: the record itself, as written and chained, rides
 * along under `vigil` (so a SIEM finding can be traced back to the line `vigil audit verify` checks).
 */
export function toEcs(rec: StoredAuditRecord): Record<string, unknown> {
  const base = { '@timestamp': rec.time, ecs: { version: '8.11.0' }, observer: { product: 'vigil', type: 'gateway' }, vigil: rec };
  switch (rec.type) {
    case 'request': {
      const auth = rec.rule === 'stage:authenticate';
      const type = rec.decision === 'allow' ? ['allowed', 'access'] : rec.decision === 'invalid' ? ['error'] : ['denied'];
      return {
        ...base,
        event: {
          kind: 'event',
          category: auth ? ['authentication'] : ['web'],
          type: auth ? ['start', ...type] : type,
          action: rec.action ?? 'unknown',
          outcome: rec.status < 400 ? 'success' : 'failure',
          id: rec.request_id,
          ...(rec.code ? { reason: rec.code } : {}),
          duration: Math.round(rec.latency_ms * 1e6),
        },
        user: { name: rec.principal, ...(rec.claimed ? { claimed: rec.claimed } : {}) },
        // A strict ECS mapping refuses anything but an IP in source.ip ('unknown' when the socket was gone).
        source: isIP(rec.source) ? { ip: rec.source } : { address: rec.source },
        http: { request: { method: rec.method, bytes: rec.bytes_in, ...(rec.client_request_id ? { id: rec.client_request_id } : {}) }, response: { status_code: rec.status, bytes: rec.bytes_out } },
        ...(rec.rule ? { rule: { name: rec.rule } } : {}),
        ...(rec.trace_id ? { trace: { id: rec.trace_id } } : {}),
        labels: { decision: rec.decision, ...(rec.model ? { model: rec.model } : {}), ...(rec.version ? { model_version: rec.version } : {}) },
      };
    }
    case 'admin':
      return {
        ...base,
        event: { kind: 'event', category: ['configuration'], type: ['change'], action: rec.event, outcome: rec.outcome === 'ok' ? 'success' : 'failure' },
        user: { name: rec.principal },
      };
    case 'alert':
      return {
        ...base,
        event: { kind: 'alert', category: ['intrusion_detection'], type: ['indicator'], action: `alert:${rec.rule}`, severity: rec.severity === 'critical' ? 73 : 47 },
        rule: { name: rec.rule },
        labels: rec.labels,
      };
    default:
      return { ...base, event: { kind: 'event' } };
  }
}
