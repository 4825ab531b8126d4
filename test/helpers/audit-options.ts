import type { AuditLogOptions } from '../../gateway/src/audit/audit-log.js';
import { auditLogOptions } from '../../gateway/src/config/audit-options.js';
import { configSchema } from '../../gateway/src/config/schema.js';

/** The config schema's audit defaults, as AuditLog.open's options (no keys). */
const DEFAULTS = auditLogOptions(configSchema.parse({}).audit, { hmacKey: undefined, signingKey: undefined });

/**
 * AuditLog.open's options for a log in `dir`: the config schema's defaults, then `overrides`.
 * An override left undefined keeps the default, so optional test parameters pass straight through.
 */
export function auditOptions(dir: string, overrides: Partial<AuditLogOptions> = {}): AuditLogOptions {
  const out: AuditLogOptions = { ...DEFAULTS, checkpointEvery: { ...DEFAULTS.checkpointEvery }, retention: { ...DEFAULTS.retention }, dir };
  for (const [key, value] of Object.entries(overrides)) if (value !== undefined) Object.assign(out, { [key]: value });
  return out;
}
