import type { StoredAuditRecord } from '../../gateway/src/audit/audit-log.js';
import { queryAudit } from '../../gateway/src/audit/query.js';

/** Every record of the audit log in `dir`, oldest first. */
export async function auditRecords(dir: string): Promise<StoredAuditRecord[]> {
  const out: StoredAuditRecord[] = [];
  for await (const r of queryAudit(dir)) out.push(r);
  return out;
}
