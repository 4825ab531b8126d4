/** AuditLog's options, status and events: the shapes the gateway sees. */
import type { KeyObject } from 'node:crypto';
import type { AuditError } from './audit-error.js';
import type { ChainMode, Checkpoint } from './chain.js';
import type { LostRecords } from './log-files.js';
import type { RetentionPolicy } from './retention.js';

/** Every option is required: the defaults are the config schema's (config/schema.ts, mapped by config/audit-options.ts). */
export interface AuditLogOptions {
  /** The log directory (created 0700 if missing). Holds the log files, checkpoints.jsonl and writer.lock. */
  dir: string;
  /** This replica's name, written into every record (`replica`); absent with one replica. */
  replica?: string;
  /** Chain records with HMAC-SHA256 under this key instead of plain sha256 (and sign checkpoints with it when there is no signingKey). */
  hmacKey: Buffer | undefined;
  /** Ed25519 private key that signs checkpoints. */
  signingKey: KeyObject | undefined;
  /** Start a new file before one would grow past this. */
  maxFileBytes: number;
  /** Write a checkpoint after this many records or this long, whichever comes first (only when records were added). */
  checkpointEvery: { records: number; ms: number };
  /** While unhealthy, how often to try writing again. */
  retryMs: number;
  /** How often to check that the current file is still the one on disk (not removed, replaced or truncated); at most 10 s, as it also touches the lock. */
  watchMs: number;
  /** An append not written within this long fails (and the log turns unhealthy until a write succeeds): a disk that hangs (fsfreeze, a dead NFS server) must not hang every request. */
  appendTimeoutMs: number;
  /** Remove the oldest sealed files, already covered by a checkpoint, past an age or a total size (retention.ts); each removal is recorded (`audit.retention`) before the files go. Neither bound: off. */
  retention: RetentionPolicy;
}

/** What the `'recovered'` event carries (the same goes into the `audit.recovered` record). */
export interface AuditRecovery {
  failed_since: string;
  recovered_at: string;
  error: string;
  /** Appends refused while the log was unhealthy (the gateway answered 503 for them). */
  rejected_appends: number;
  attempts: number;
  /** Records that had been written but are gone from disk (the file was removed, replaced or truncated). */
  lost?: LostRecords;
}

export interface AuditLogStatus {
  healthy: boolean;
  dir: string;
  mode: ChainMode;
  checkpoint_signature: 'ed25519' | 'hmac-sha256' | 'none';
  /** Last seq written (0 for an empty log) and its hash. */
  seq: number;
  head_hash: string | null;
  file: string | null;
  last_checkpoint_seq: number;
  failed_since: string | null;
  rejected_since_failure: number;
}

export interface AuditLogEvents {
  error: [AuditError];
  checkpoint: [Checkpoint];
  recovered: [AuditRecovery];
}

/** Throws a RangeError for options no log can run with. */
export function checkOptions(opts: AuditLogOptions): void {
  const { maxFileBytes, checkpointEvery: every, retention: r } = opts;
  if (!(maxFileBytes >= 256)) throw new RangeError('maxFileBytes must be at least 256');
  if (!(every?.records >= 1) || !(every.ms >= 10)) throw new RangeError('checkpointEvery needs records >= 1 and ms >= 10');
  if (!(opts.retryMs > 0) || !(opts.watchMs > 0) || !(opts.appendTimeoutMs > 0)) throw new RangeError('retryMs, watchMs and appendTimeoutMs must be > 0');
  if (opts.hmacKey && opts.hmacKey.length < 16) throw new RangeError('hmacKey must be at least 16 bytes (32 recommended)');
  if (r && ((r.maxAgeMs !== undefined && !(r.maxAgeMs > 0)) || (r.maxBytes !== undefined && !(r.maxBytes > 0)))) throw new RangeError('retention needs maxAgeMs > 0 and maxBytes > 0 when given');
}
