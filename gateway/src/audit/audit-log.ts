/**
 * The audit log writer: one per log directory, one per process. Records are chained (each
 * carries the hash of the one before), appended as canonical JSON lines, rotated across files,
 * and periodically sealed by signed checkpoints. See README.md in this folder.
 *
 * Here: the queue and its group commit, health, failure and recovery, the deadline watchdog.
 * The files are log-files.ts (over append-file.ts), the lock writer-lock.ts, opening
 * chain-resume.ts, rotation segment-plan.ts, checkpoints and retention checkpointer.ts.
 */
import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { AuditError } from './audit-error.js';
import { checkOptions, type AuditLogEvents, type AuditLogOptions, type AuditLogStatus, type AuditRecovery } from './audit-log-types.js';
import type { AdminAuditRecord, AuditRecord } from './audit-record.js';
import { canonicalEntries, type Entries } from './canonical.js';
import { chainMode, checkpointSigner, sealRecord, type ChainMode, type CheckpointSigner } from './chain.js';
import { resumeChain } from './chain-resume.js';
import { Checkpointer, type CheckpointHost } from './checkpointer.js';
import { LogFiles, type LostRecords } from './log-files.js';
import { recordEntries } from './record-entries.js';
import { retentionEnabled } from './retention.js';
import { planSegments } from './segment-plan.js';
import { WriterLock } from './writer-lock.js';

export { AuditError, type AuditErrorKind } from './audit-error.js';
export type { AuditLogOptions, AuditLogStatus, AuditRecovery } from './audit-log-types.js';
export type { Checkpoint, CheckpointFile, StoredAuditRecord } from './chain.js';
export type { RetentionPolicy } from './retention.js';

interface Pending {
  entries: Entries;
  /** performance.now() when it was appended, for the deadline. */
  at: number;
  resolve: () => void;
  reject: (err: Error) => void;
  /** The writer's own record (audit.recovered, audit.retention): not counted as a rejected append. */
  internal?: boolean;
}

interface Failure {
  since: Date;
  error: Error;
  rejected: number;
  attempts: number;
  lost?: LostRecords;
}

const noop = () => {};

export class AuditLog extends EventEmitter<AuditLogEvents> {
  readonly dir: string;
  readonly mode: ChainMode;
  private readonly signer: CheckpointSigner;
  private seq = 0;
  private head: string | null = null;
  // Set by open(), before the log is handed out.
  private files!: LogFiles;
  private checkpoints!: Checkpointer;
  private lock!: WriterLock;
  private queue: Pending[] = [];
  /** The batch being written right now (its appends are still waiting). */
  private writing: Pending[] | null = null;
  private flushScheduled = false;
  private chainTail: Promise<void> = Promise.resolve();
  private _healthy = true;
  private failure: Failure | null = null;
  private closing = false;
  private closePromise: Promise<void> | null = null;
  private readonly timers: NodeJS.Timeout[] = [];
  private retryTimer: NodeJS.Timeout | null = null;
  /** performance.now() when the log last handed the disk an operation or saw one complete, for the deadline. */
  private diskActivityAt = -Infinity;

  private constructor(private readonly opts: AuditLogOptions) {
    super();
    this.dir = opts.dir;
    this.mode = chainMode(opts.hmacKey);
    this.signer = checkpointSigner(opts.signingKey, opts.hmacKey);
    checkOptions(opts);
  }

  /**
   * Opens the log in `opts.dir`, continuing the chain already there (seq and prev from the last
   * record of the newest file). Refuses, with an AuditError of kind 'open', a log whose tail is
   * corrupt, that was written in another chain mode or with another HMAC key, whose last
   * checkpoint lies beyond its end (truncated), or that another live writer holds.
   */
  static async open(opts: AuditLogOptions): Promise<AuditLog> {
    const log = new AuditLog(opts);
    await mkdir(opts.dir, { recursive: true, mode: 0o700 });
    const lock = await WriterLock.acquire(opts.dir);
    try {
      const resumed = await resumeChain(opts.dir, { mode: log.mode, hmacKey: opts.hmacKey, signer: log.signer });
      log.seq = resumed.seq;
      log.head = resumed.head;
      log.files = await LogFiles.open(opts.dir, resumed, (e) => log.report(e));
      const retention = retentionEnabled(opts.retention) ? { ...opts.retention } : undefined;
      log.checkpoints = new Checkpointer({ dir: opts.dir, every: { ...opts.checkpointEvery }, signer: log.signer, hmacKey: opts.hmacKey, retention }, resumed.checkpoint, log.files, log.checkpointHost());
    } catch (err) {
      await lock.release();
      if (err instanceof AuditError) throw err;
      throw new AuditError('open', `cannot open the audit log in ${opts.dir}: ${(err as Error).message}`, { cause: err });
    }
    log.lock = lock;
    log.timers.push(setInterval(() => log.checkpoints.tick(), opts.checkpointEvery.ms).unref());
    // Checked from setImmediate, after the loop's I/O phase: when a busy event loop runs this timer
    // late, a write that finished meanwhile has its callback run first (see checkDeadline).
    log.timers.push(setInterval(() => setImmediate(() => log.checkDeadline()), Math.max(10, Math.min(250, opts.appendTimeoutMs / 4))).unref());
    const watch = () => {
      lock.touch();
      void log.enqueue(() => log.watch()).catch((err: Error) => log.fail(err, []));
    };
    log.timers.push(setInterval(watch, Math.min(opts.watchMs, 10_000)).unref());
    return log;
  }

  /** False from a failed write until a later write succeeds; while false, `append` rejects at once. */
  get healthy(): boolean {
    return this._healthy;
  }

  status(): AuditLogStatus {
    return {
      healthy: this._healthy,
      dir: this.dir,
      mode: this.mode,
      checkpoint_signature: this.signer.alg,
      seq: this.seq,
      head_hash: this.head,
      file: this.files.name,
      last_checkpoint_seq: this.checkpoints.seq,
      failed_since: this.failure?.since.toISOString() ?? null,
      rejected_since_failure: this.failure?.rejected ?? 0,
    };
  }

  /**
   * Appends one record. Resolves once its line has been handed to the OS (no fsync per record),
   * rejects if it cannot be written, or at once while the log is unhealthy or closing. Records
   * are written in call order; appends made while a write is in flight go out together in one.
   */
  append(record: AuditRecord): Promise<void> {
    if (this.closing) return Promise.reject(new AuditError('unavailable', 'the audit log is closed'));
    if (!this._healthy) {
      const f = this.failure!;
      f.rejected++;
      return Promise.reject(new AuditError('unavailable', `the audit log cannot be written since ${f.since.toISOString()} (${f.error.message}); failing closed`, { cause: f.error }));
    }
    let entries: Entries;
    try {
      entries = recordEntries(this.opts.replica === undefined ? record : { ...record, replica: this.opts.replica });
    } catch (err) {
      return Promise.reject(new AuditError('invalid', `not an audit record: ${(err as Error).message}`, { cause: err }));
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ entries, at: performance.now(), resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        this.enqueue(() => this.flushLoop()).catch((err: Error) => {
          this.flushScheduled = false;
          this.fail(err, []);
        });
      }
    });
  }

  /** Writes what is queued, a final checkpoint, and releases the directory. Rejects if the log ends unhealthy or the checkpoint cannot be written. */
  close(): Promise<void> {
    if (this.closePromise) return this.closePromise;
    this.closing = true;
    for (const t of this.timers) clearInterval(t);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.closePromise = this.enqueue(async () => {
      const problems: Error[] = [];
      const err = await this.checkpoints.final();
      if (err) problems.push(err);
      if (this.failure) problems.push(new AuditError('write', `the audit log closed unhealthy: failing since ${this.failure.since.toISOString()} (${this.failure.error.message})`, { cause: this.failure.error }));
      await this.files.close().catch((err: Error) => problems.push(err));
      await this.checkpoints.close();
      await this.lock.release();
      if (problems.length) throw problems[0];
    });
    return this.closePromise;
  }

  /** Every write, checkpoint, check and recovery runs here, one at a time, in order. */
  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.chainTail.then(task);
    this.chainTail = run.then(noop, noop);
    return run;
  }

  /** Group commit: whatever was appended while the last write was in flight goes out in the next. */
  private async flushLoop(): Promise<void> {
    for (;;) {
      if (this.queue.length === 0) {
        this.flushScheduled = false;
        return;
      }
      const batch = this.queue;
      this.queue = [];
      this.writing = batch;
      this.diskActivityAt = performance.now();
      try {
        await this.writeBatch(batch);
      } catch (err) {
        // not expected (writeBatch handles write errors itself), but never leave an append hanging
        this.fail(err as Error, batch);
      } finally {
        this.writing = null;
      }
      this.diskActivityAt = performance.now();
      await this.checkpoints.afterWrite();
    }
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    // Sealed first, in order: each line chains from the one before, whichever file it lands in.
    const first = this.seq + 1;
    const lines: string[] = [];
    const hashes: string[] = [];
    let prev = this.head;
    for (let i = 0; i < batch.length; i++) {
      const { line, hash } = sealRecord(batch[i].entries, first + i, prev, this.opts.hmacKey);
      lines.push(line + '\n');
      hashes.push(hash);
      prev = hash;
    }
    const segments = planSegments(lines.map((l) => Buffer.byteLength(l)), this.files.size, this.opts.maxFileBytes);
    for (const { startsFile, from, to } of segments) {
      try {
        await this.files.write(Buffer.from(lines.slice(from, to).join('')), first + from, first + to - 1, startsFile, () => (this.diskActivityAt = performance.now()));
      } catch (err) {
        this.fail(err as Error, batch.slice(from));
        return;
      }
      this.seq = first + to - 1;
      this.head = hashes[to - 1];
      for (let i = from; i < to; i++) batch[i].resolve();
    }
  }

  /** Writes a record of the writer's own (audit.recovered, audit.retention) now, ahead of the queue; true once written. */
  private async writeOwn(record: AdminAuditRecord): Promise<boolean> {
    let written = false;
    await this.writeBatch([{ entries: canonicalEntries(this.opts.replica === undefined ? record : { ...record, replica: this.opts.replica }), at: performance.now(), resolve: () => (written = true), reject: noop, internal: true }]);
    return written;
  }

  /** What the checkpointer reads and calls of the writer. */
  private checkpointHost(): CheckpointHost {
    return {
      seq: () => this.seq,
      head: () => this.head,
      healthy: () => this._healthy,
      closing: () => this.closing,
      enqueue: (task) => this.enqueue(task),
      writeOwn: (record) => this.writeOwn(record),
      fail: (err) => this.fail(err, []),
      emitCheckpoint: (cp) => this.emit('checkpoint', cp),
      report: (err) => this.report(err),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Failure and recovery

  /**
   * The deadline watchdog: an append older than appendTimeoutMs means the disk hangs. Its
   * appends (and those queued behind it) are rejected now; the write itself cannot be taken
   * back, so it may still land later. The log stays unhealthy (appends rejected at once) until
   * the recovery, queued behind the hung write, succeeds.
   */
  private checkDeadline(): void {
    if (!this._healthy || this.closing) return;
    const oldest = this.writing?.[0]?.at ?? this.queue[0]?.at;
    const limit = this.opts.appendTimeoutMs;
    // The disk hangs when an operation given to it has not completed for the whole deadline. Judging by the
    // appends' age alone would blame the disk for a stalled event loop: 16 large bodies parsed back
    // to back once held the loop 3 s, and every append queued meanwhile failed closed though each
    // write took a millisecond once it ran.
    if (oldest === undefined || performance.now() - Math.max(oldest, this.diskActivityAt) <= limit) return;
    const waiting = [...(this.writing ?? []), ...this.queue];
    this.queue = [];
    const err = new Error(`a write has not completed within ${limit} ms (is the disk hung or frozen?)`);
    this.failure = { since: new Date(), error: err, rejected: waiting.filter((p) => !p.internal).length, attempts: 0 };
    this._healthy = false;
    const e = new AuditError('write', `audit log ${this.files.path ?? this.dir}: ${err.message}; ${this.failure.rejected} record(s) rejected; failing closed until a write succeeds`, { cause: err });
    for (const p of waiting) p.reject(e);
    this.report(e);
    // Not fail(): the hung write still owns the descriptor; recovery runs after it returns.
    this.scheduleRecovery();
  }

  private fail(err: Error, rejected: Pending[], lost?: LostRecords): void {
    const queued = this.queue;
    this.queue = [];
    const all = [...rejected, ...queued];
    const counted = all.filter((p) => !p.internal).length;
    if (!this.failure) this.failure = { since: new Date(), error: err, rejected: 0, attempts: 0 };
    else this.failure.error = err;
    this.failure.rejected += counted;
    if (lost) this.failure.lost = lost;
    this._healthy = false;
    const where = this.files.path ?? this.dir;
    const code = (err as NodeJS.ErrnoException).code;
    const e = new AuditError(
      'write',
      `audit log ${where}: ${code ? `${code}: ` : ''}${err.message}; ${counted} record(s) rejected${lost ? `; records ${lost.first_seq}..${lost.last_seq} are gone from disk (${lost.reason})` : ''}; failing closed until a write succeeds`,
      { cause: err },
    );
    for (const p of all) p.reject(e);
    this.files.release(code === 'EBADF');
    this.report(e);
    this.scheduleRecovery();
  }

  private scheduleRecovery(): void {
    if (this.retryTimer || this.closing) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.enqueue(() => this.recover()).catch((err: Error) => this.fail(err, []));
    }, this.opts.retryMs); // not unref'd: while failing, the log keeps trying until close()
  }

  private async recover(): Promise<void> {
    if (this._healthy || this.closing || !this.failure) return;
    const failure = this.failure;
    failure.attempts++;
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 }); // it may have been removed
      const lost = await this.files.reopen(this.seq);
      if (lost && !failure.lost) failure.lost = lost;
    } catch (err) {
      this.fail(err as Error, []);
      return;
    }
    const info: AuditRecovery = {
      failed_since: failure.since.toISOString(),
      recovered_at: new Date().toISOString(),
      error: failure.error.message,
      rejected_appends: failure.rejected,
      attempts: failure.attempts,
      ...(failure.lost ? { lost: failure.lost } : {}),
    };
    const record: AdminAuditRecord = { type: 'admin', time: info.recovered_at, event: 'audit.recovered', principal: 'vigil', outcome: 'ok', detail: { ...info } };
    if (!(await this.writeOwn(record))) return; // fail() reported it and scheduled the next attempt
    this._healthy = true;
    this.failure = null;
    this.emit('recovered', info);
  }

  private async watch(): Promise<void> {
    if (!this._healthy || this.closing) return;
    const changed = await this.files.check(this.seq);
    if (changed) this.fail(changed.error, [], changed.lost);
  }

  private report(err: AuditError): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else process.stderr.write(`vigil audit: ${err.message}\n`);
  }
}
