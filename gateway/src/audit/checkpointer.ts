/**
 * Signed checkpoints, and the retention that runs after them. A checkpoint is written every
 * `every.records` records or `every.ms`, whichever comes first (only when records were added),
 * and on close; each names the one before (prev_checkpoint) and lists only the files new or grown
 * since. Retention removes files only once a record and a checkpoint document the removal.
 */
import { stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { AppendFile, syncDir } from './append-file.js';
import { AuditError } from './audit-error.js';
import type { AdminAuditRecord } from './audit-record.js';
import { canonicalJson } from './canonical.js';
import { CHECKPOINT_FILE, checkpointHash, readLastLine, recomputeHash, safeEqual, signCheckpoint, type Checkpoint, type CheckpointFile, type CheckpointSigner } from './chain.js';
import type { ResumedCheckpoint } from './chain-resume.js';
import type { LogFiles } from './log-files.js';
import { extendPrefix, filesToRemove, type RemovedPrefix, type RetainedFile, type RetentionPolicy } from './retention.js';

/** What the checkpointer needs of the writer. */
export interface CheckpointHost {
  /** The last seq written and its hash. */
  seq(): number;
  head(): string | null;
  healthy(): boolean;
  closing(): boolean;
  /** Runs a task in the writer's queue (after the writes before it). */
  enqueue(task: () => Promise<void>): Promise<void>;
  /** Appends a record of the writer's own (not through `append`); true once it is written. */
  writeOwn(record: AdminAuditRecord): Promise<boolean>;
  /** The log could not be synced: the writer fails as for a failed write. */
  fail(err: Error): void;
  emitCheckpoint(cp: Checkpoint): void;
  report(err: AuditError): void;
}

export interface CheckpointerOptions {
  dir: string;
  every: { records: number; ms: number };
  signer: CheckpointSigner;
  hmacKey: Buffer | undefined;
  retention: RetentionPolicy | undefined;
}

export class Checkpointer {
  private readonly file: AppendFile;
  /** The seq the last checkpoint covers. */
  private covered: number;
  /** checkpointHash() of the last checkpoint made (the next one's prev_checkpoint). */
  private head: string | null;
  /** What this writer's checkpoints have listed of each file (its last_seq): the next lists only changes. */
  private readonly listed = new Map<string, number>();
  private removed: RemovedPrefix | null;
  private scheduled = false;

  constructor(
    private readonly opts: CheckpointerOptions,
    resumed: ResumedCheckpoint,
    private readonly files: LogFiles,
    private readonly host: CheckpointHost,
  ) {
    this.file = AppendFile.closed(join(opts.dir, CHECKPOINT_FILE));
    this.covered = resumed.seq;
    this.head = resumed.hash;
    this.removed = resumed.removed;
    // Sealed files the last checkpoint covers were listed, final, by the checkpoints before: the
    // first checkpoint of this writer lists only the rest (however many files the log holds).
    for (const f of files.list.slice(0, -1)) if (f.last_seq <= this.covered) this.listed.set(f.name, f.last_seq);
  }

  /** The seq the last checkpoint covers. */
  get seq(): number {
    return this.covered;
  }

  /** The every.ms timer: a checkpoint (then retention) when records were added since the last. */
  tick(): void {
    const host = this.host;
    if (this.scheduled || host.closing() || !host.healthy() || host.seq() === this.covered) return;
    this.scheduled = true;
    void host
      .enqueue(async () => {
        this.scheduled = false;
        if (host.healthy() && host.seq() !== this.covered && (await this.checkpoint()) === null) await this.retain();
      })
      .catch((err: Error) => host.report(new AuditError('checkpoint', `checkpoint failed: ${err.message}`, { cause: err })));
  }

  /** After a group commit: a checkpoint (then retention) once every.records were added. */
  async afterWrite(): Promise<void> {
    if (this.host.healthy() && this.host.seq() - this.covered >= this.opts.every.records && (await this.checkpoint()) === null) await this.retain();
  }

  /** On close: the final checkpoint, when records were added since the last; its error, if any. */
  async final(): Promise<AuditError | null> {
    return this.host.seq() !== this.covered ? this.checkpoint() : null;
  }

  close(): Promise<void> {
    return this.file.close();
  }

  /** Writes and emits a checkpoint of what is written now; returns the error if it could not be written. */
  private async checkpoint(): Promise<AuditError | null> {
    // A checkpoint must never claim records that a power cut could take back.
    try {
      await this.files.sync();
    } catch (err) {
      this.host.fail(err as Error);
      return new AuditError('checkpoint', `no checkpoint: the log could not be synced (${(err as Error).message})`, { cause: err });
    }
    // Only what changed since the checkpoint before: a line stays small however many files the log has had.
    const files: CheckpointFile[] = this.files.list.filter((f) => this.listed.get(f.name) !== f.last_seq).map((f) => ({ name: f.name, first_seq: f.first_seq, last_seq: f.last_seq }));
    const cp = signCheckpoint(
      {
        type: 'checkpoint',
        seq: this.host.seq(),
        head_hash: this.host.head(),
        prev_checkpoint: this.head,
        files,
        ...(this.removed ? { removed: { ...this.removed } } : {}),
        time: new Date().toISOString(),
      },
      this.opts.signer,
    );
    this.covered = cp.seq;
    // Linked to what was emitted, written or not: shipped copies stay one unbroken chain, and a
    // local file that missed one shows the gap.
    this.head = checkpointHash(cp);
    for (const f of files) this.listed.set(f.name, f.last_seq);
    const line = Buffer.from(canonicalJson(cp) + '\n');
    let error: AuditError | null = null;
    try {
      // Opened on first use, and again after a failed write (which cuts off its partial line).
      if (!this.file.isOpen) await this.file.reopen(false);
      await this.file.append(line);
    } catch (err) {
      await this.file.close();
      this.listed.clear(); // the file lacks this one's list: the next checkpoint lists every file again
      error = new AuditError('checkpoint', `${this.file.path}: checkpoint at seq ${cp.seq} not written (${(err as Error).message}); truncation of the log's tail cannot be detected past the previous one`, { cause: err });
      this.host.report(error);
    }
    try {
      this.host.emitCheckpoint(cp);
    } catch (err) {
      process.stderr.write(`vigil audit: a 'checkpoint' listener threw: ${(err as Error).message}\n`);
    }
    return error;
  }

  /**
   * Removes the oldest sealed files past the retention policy, always in this order: the
   * `audit.retention` record (which files, and the removed prefix with its last hash), a
   * checkpoint carrying the removed prefix (it also syncs the record to disk), then the files.
   * A crash in between leaves files that were to go, which the next run takes; never a file gone
   * without its record, which is what `vigil audit verify` reports as tampering.
   */
  private async retain(): Promise<void> {
    const { retention, dir } = this.opts;
    if (!retention || !this.host.healthy() || this.host.closing()) return;
    const { files: chosen, reasons } = filesToRemove(this.files.list, retention, this.covered, Date.now());
    if (chosen.length === 0) return;
    let lastHash: string;
    try {
      const gone: RetainedFile[] = [];
      for (const f of chosen) {
        try {
          f.bytes = (await stat(join(dir, f.name))).size;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          gone.push(f);
        }
      }
      if (gone.length > 0) {
        // Not ours to document: forget them, and say so (verify reports them as deleted).
        for (const f of gone) this.forget(f);
        throw new Error(`${gone.map((f) => f.name).join(', ')} had already gone from ${dir}, not removed by retention`);
      }
      lastHash = await this.lastHashOf(chosen);
    } catch (err) {
      this.host.report(new AuditError('retention', `retention removed nothing: ${(err as Error).message}`, { cause: err }));
      return;
    }
    const prefix = extendPrefix(this.removed, chosen, lastHash);
    const policy = { ...(retention.maxAgeMs !== undefined ? { max_age_ms: retention.maxAgeMs } : {}), ...(retention.maxBytes !== undefined ? { max_bytes: retention.maxBytes } : {}) };
    const record: AdminAuditRecord = {
      type: 'admin',
      time: new Date().toISOString(),
      event: 'audit.retention',
      principal: 'vigil',
      outcome: 'ok',
      detail: { files: chosen.map((f) => ({ name: f.name, first_seq: f.first_seq, last_seq: f.last_seq, bytes: f.bytes })), ...prefix, reasons, policy },
    };
    if (!(await this.host.writeOwn(record))) return; // fail() reported it
    this.removed = prefix;
    if ((await this.checkpoint()) !== null) return; // the files stay until a checkpoint holds the removal
    for (const f of chosen) {
      try {
        await unlink(join(dir, f.name));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          this.host.report(new AuditError('retention', `retention could not remove ${f.name} (${(err as Error).message}); it stays, and the next run tries again`, { cause: err }));
          break;
        }
      }
      this.forget(f);
    }
    await syncDir(dir);
  }

  /** The hash of the last record of `files` (a prefix about to go), checked against its content. */
  private async lastHashOf(files: RetainedFile[]): Promise<string> {
    const through = files[files.length - 1].last_seq;
    const holder = [...files].reverse().find((f) => f.last_seq >= f.first_seq);
    if (!holder) {
      if (this.removed && this.removed.through_seq === through) return this.removed.last_hash;
      throw new Error(`${files.map((f) => f.name).join(', ')} hold no record`);
    }
    const path = join(this.opts.dir, holder.name);
    const tail = await readLastLine(path);
    let rec: Record<string, unknown> | null = null;
    try {
      rec = tail ? (JSON.parse(tail.line) as Record<string, unknown>) : null;
    } catch {
      rec = null;
    }
    const hash = rec?.hash;
    if (!tail || !rec || rec.seq !== through || typeof hash !== 'string' || !safeEqual(recomputeHash(tail.line, rec, this.opts.hmacKey).hash, hash)) {
      throw new Error(`the last record of ${path} is not seq ${through} matching its hash: it was changed; run \`vigil audit verify ${this.opts.dir}\``);
    }
    return hash;
  }

  private forget(f: RetainedFile): void {
    this.files.forget(f);
    this.listed.delete(f.name);
  }
}
