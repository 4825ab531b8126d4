/**
 * AuditLog.open's options from the config's `audit` section. The schema holds every default
 * (AuditLog has none), so the gateway, the tests and the benchmarks run the same numbers.
 */
import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import type { AuditLogOptions } from '../audit/audit-log.js';
import type { VigilConfig } from './schema.js';

/** `keys`: as read from audit.hmac_key_file and audit.signing_key_file (undefined when unset). */
export function auditLogOptions(audit: VigilConfig['audit'], keys: { hmacKey: Buffer | undefined; signingKey: KeyObject | undefined }, replica?: string): AuditLogOptions {
  return {
    // Each replica keeps its own chain (its own writer lock and checkpoints) beside the others'.
    dir: replica ? join(audit.dir, replica) : audit.dir,
    replica,
    hmacKey: keys.hmacKey,
    signingKey: keys.signingKey,
    maxFileBytes: audit.max_file_bytes,
    checkpointEvery: { records: audit.checkpoint_every_records, ms: audit.checkpoint_every_ms },
    retryMs: audit.retry_ms,
    watchMs: audit.watch_ms,
    appendTimeoutMs: audit.append_timeout_ms,
    retention: {
      maxAgeMs: audit.retention.max_age_days === undefined ? undefined : audit.retention.max_age_days * 86_400_000,
      maxBytes: audit.retention.max_bytes,
    },
  };
}
