import type { StoredAuditRecord } from '../../gateway/src/audit/audit-log.js';
import type { RequestAuditRecord } from '../../gateway/src/audit/audit-record.js';
import { queryAudit } from '../../gateway/src/audit/query.js';

/** Every record of the audit log in `dir`, oldest first. */
export async function auditRecords(dir: string): Promise<StoredAuditRecord[]> {
  const out: StoredAuditRecord[] = [];
  for await (const r of queryAudit(dir)) out.push(r);
  return out;
}

/** A plausible allowed inference's audit record (seq and hashes are the log's to add), with overrides. */
export function requestRecord(o: Partial<RequestAuditRecord> = {}): RequestAuditRecord {
  return {
    type: 'request',
    time: new Date().toISOString(),
    request_id: 'req-0',
    client_request_id: null,
    trace_id: null,
    principal: 'user:alice',
    auth_method: 'jwt',
    source: '10.0.0.7',
    method: 'POST',
    action: 'infer',
    model: 'mnist',
    version: '1',
    decision: 'allow',
    rule: 'grant:analysts',
    code: null,
    modes: { authorization: 'enforce' },
    shadow_denials: [],
    status: 200,
    latency_ms: 2.5,
    bytes_in: 3200,
    bytes_out: 120,
    batch: 1,
    ...o,
  };
}
