/** The one error type of the audit writer; its parts throw it too, so it lives apart from AuditLog. */

export type AuditErrorKind =
  /** The log cannot be opened (corrupt tail, truncated, wrong key, another writer…). */
  | 'open'
  /** Records could not be written: `append` rejected them and the log is unhealthy. */
  | 'write'
  /** `append` was called while the log is unhealthy or closed. */
  | 'unavailable'
  /** A checkpoint could not be written (records still are). */
  | 'checkpoint'
  /** Retention could not remove files (they stay; nothing is lost). */
  | 'retention'
  /** A record was refused before any write: not an audit record. */
  | 'invalid';

export class AuditError extends Error {
  constructor(
    readonly kind: AuditErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AuditError';
  }
}

/** Why the writer will not open a log (kind 'open'). */
export function refuse(message: string): AuditError {
  return new AuditError('open', `refusing to open the audit log: ${message}`);
}
