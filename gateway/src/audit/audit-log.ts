/**
 * The audit log writer: one per log directory, one per process. Records are chained (each
 * carries the hash of the one before), appended as canonical JSON lines, rotated across files,
 * and periodically sealed by signed checkpoints. See README.md in this folder.
 */
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import { mkdir, readFile, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { AdminAuditRecord, AuditRecord } from './audit-record.js';
import { canonicalEntries, canonicalJson, type Entries } from './canonical.js';
import { MAX_LINE_BYTES } from './bounds.js';
import {
  CHAIN_KEYS,
  CHECKPOINT_FILE,
  LOCK_FILE,
  RECORD_TYPES,
  TornTailError,
  chainMode,
  checkpointHash,
  checkpointPayload,
  checkpointSigner,
  listLogFiles,
  logFileName,
  modeOfHash,
  readLastLine,
  recomputeHash,
  safeEqual,
  sealRecord,
  signCheckpoint,
  type ChainMode,
  type Checkpoint,
  type CheckpointFile,
  type CheckpointSigner,
} from './chain.js';
import { extendPrefix, filesToRemove, retentionEnabled, type RemovedPrefix, type RetainedFile, type RetentionPolicy } from './retention.js';

export type { Checkpoint, CheckpointFile, StoredAuditRecord } from './chain.js';
export type { RetentionPolicy } from './retention.js';

export interface AuditLogOptions {
  /** The log directory (created 0700 if missing). Holds the log files, checkpoints.jsonl and writer.lock. */
  dir: string;
  /** Chain records with HMAC-SHA256 under this key instead of plain sha256 (and sign checkpoints with it when there is no signingKey). */
  hmacKey?: Buffer;
  /** Start a new file before one would grow past this. Default 64 MiB. */
  maxFileBytes?: number;
  /** Write a checkpoint after this many records or this long, whichever comes first (only when records were added). Default 1000 records / 60 s. */
  checkpointEvery?: { records: number; ms: number };
  /** Ed25519 private key that signs checkpoints. */
  signingKey?: KeyObject;
  /** While unhealthy, how often to try writing again. Default 1000 ms. */
  retryMs?: number;
  /** How often to check that the current file is still the one on disk (not removed, replaced or truncated). Default 1000 ms. */
  watchMs?: number;
  /**
   * An append not written within this long fails (and the log turns unhealthy until a write
   * succeeds): a disk that hangs (fsfreeze, a dead NFS server) must not hang every request.
   * Default 2000 ms.
   */
  appendTimeoutMs?: number;
  /**
   * Remove the oldest sealed files, already covered by a checkpoint, past an age or a total size
   * (retention.ts); each removal is recorded (`audit.retention`) before the files go. Off by default.
   */
  retention?: RetentionPolicy;
}

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

/** What the `'recovered'` event carries (the same goes into the `audit.recovered` record). */
export interface AuditRecovery {
  failed_since: string;
  recovered_at: string;
  error: string;
  /** Appends refused while the log was unhealthy (the gateway answered 503 for them). */
  rejected_appends: number;
  attempts: number;
  /** Records that had been written but are gone from disk (the file was removed, replaced or truncated). */
  lost?: { file: string; first_seq: number; last_seq: number; reason: string };
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

interface AuditLogEvents {
  error: [AuditError];
  checkpoint: [Checkpoint];
  recovered: [AuditRecovery];
}

interface Pending {
  entries: Entries;
  /** performance.now() when it was appended, for the deadline. */
  at: number;
  resolve: () => void;
  reject: (err: Error) => void;
  /** The writer's own record (audit.recovered): not counted as a rejected append. */
  internal?: boolean;
}

interface CurrentFile {
  name: string;
  path: string;
  fd: number;
  /** Bytes of complete records written (what the file must hold). */
  size: number;
  firstSeq: number;
  ino: number;
  dev: number;
  /** A write to it failed midway: bytes past `size` are ours and may be cut off. */
  partial: boolean;
}

interface Failure {
  since: Date;
  error: Error;
  rejected: number;
  attempts: number;
  lost?: AuditRecovery['lost'];
}

const { O_WRONLY, O_APPEND, O_CREAT, O_EXCL } = fs.constants;
const noop = () => {};

export class AuditLog extends EventEmitter<AuditLogEvents> {
  readonly dir: string;
  readonly mode: ChainMode;
  private readonly hmacKey: Buffer | undefined;
  private readonly maxFileBytes: number;
  private readonly every: { records: number; ms: number };
  private readonly signer: CheckpointSigner;
  private readonly retryMs: number;
  private readonly appendTimeoutMs: number;
  /** The batch being written right now (its appends are still waiting). */
  private writing: Pending[] | null = null;
  private readonly checkpointPath: string;
  private readonly lockPath: string;

  private seq = 0;
  private head: string | null = null;
  private file: CurrentFile | null = null;
  /** Every file of the log on disk, in chain order; the current file last. */
  private readonly files: RetainedFile[] = [];
  private queue: Pending[] = [];
  private flushScheduled = false;
  private chainTail: Promise<void> = Promise.resolve();
  private _healthy = true;
  private failure: Failure | null = null;
  private closing = false;
  private closePromise: Promise<void> | null = null;
  private checkpointSeq = 0;
  private checkpointScheduled = false;
  /** checkpointHash() of the last checkpoint made (the next one's prev_checkpoint). */
  private checkpointHead: string | null = null;
  /** What this writer's checkpoints have listed of each file (its last_seq): the next lists only changes. */
  private readonly listed = new Map<string, number>();
  private readonly retention: RetentionPolicy | undefined;
  private removed: RemovedPrefix | null = null;
  private cpFd = -1;
  private cpSize = 0;
  private cpPartial = false;
  private readonly timers: NodeJS.Timeout[] = [];
  /** performance.now() when the log last handed the disk an operation or saw one complete, for the deadline. */
  private diskActivityAt = -Infinity;
  private retryTimer: NodeJS.Timeout | null = null;

  private constructor(opts: AuditLogOptions) {
    super();
    this.dir = opts.dir;
    this.hmacKey = opts.hmacKey;
    this.mode = chainMode(opts.hmacKey);
    this.maxFileBytes = opts.maxFileBytes ?? 64 * 1024 * 1024;
    this.every = opts.checkpointEvery ?? { records: 1000, ms: 60_000 };
    this.signer = checkpointSigner(opts.signingKey, opts.hmacKey);
    this.retryMs = opts.retryMs ?? 1000;
    this.appendTimeoutMs = opts.appendTimeoutMs ?? 2000;
    this.retention = retentionEnabled(opts.retention) ? { ...opts.retention } : undefined;
    this.checkpointPath = join(opts.dir, CHECKPOINT_FILE);
    this.lockPath = join(opts.dir, LOCK_FILE);
    if (!(this.maxFileBytes >= 256)) throw new RangeError('maxFileBytes must be at least 256');
    if (!(this.every.records >= 1) || !(this.every.ms >= 10)) throw new RangeError('checkpointEvery needs records >= 1 and ms >= 10');
    if (opts.hmacKey && opts.hmacKey.length < 16) throw new RangeError('hmacKey must be at least 16 bytes (32 recommended)');
    const r = this.retention;
    if (r && ((r.maxAgeMs !== undefined && !(r.maxAgeMs > 0)) || (r.maxBytes !== undefined && !(r.maxBytes > 0)))) throw new RangeError('retention needs maxAgeMs > 0 and maxBytes > 0 when given');
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
    await acquireLock(log.lockPath, opts.dir);
    try {
      await log.resume();
    } catch (err) {
      if (log.file && log.file.fd >= 0) await closeFd(log.file.fd).catch(noop);
      await unlink(log.lockPath).catch(noop);
      openDirs.delete(resolve(opts.dir));
      if (err instanceof AuditError) throw err;
      throw new AuditError('open', `cannot open the audit log in ${opts.dir}: ${(err as Error).message}`, { cause: err });
    }
    log.timers.push(setInterval(() => log.checkpointTimer(), log.every.ms).unref());
    // Checked from setImmediate, after the loop's I/O phase: when a busy event loop runs this timer
    // late, a write that finished meanwhile has its callback run first (see checkDeadline).
    log.timers.push(setInterval(() => setImmediate(() => log.checkDeadline()), Math.max(10, Math.min(250, log.appendTimeoutMs / 4))).unref());
    const watchMs = Math.min(opts.watchMs ?? 1000, 10_000);
    let touching = false;
    log.timers.push(
      setInterval(() => {
        const now = new Date();
        // "this writer is alive"; one touch at a time, so a hung disk holds one thread, not one a second.
        if (!touching) {
          touching = true;
          utimes(log.lockPath, now, now).catch(noop).finally(() => (touching = false));
        }
        void log.enqueue(() => log.watch()).catch((err: Error) => log.fail(err, []));
      }, watchMs).unref(),
    );
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
      file: this.file?.name ?? null,
      last_checkpoint_seq: this.checkpointSeq,
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
      entries = snapshot(record);
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
      if (this.seq !== this.checkpointSeq) {
        const err = await this.checkpoint();
        if (err) problems.push(err);
      }
      if (this.failure) problems.push(new AuditError('write', `the audit log closed unhealthy: failing since ${this.failure.since.toISOString()} (${this.failure.error.message})`, { cause: this.failure.error }));
      if (this.file && this.file.fd >= 0) {
        await fdatasync(this.file.fd).catch((err: Error) => problems.push(err));
        await closeFd(this.file.fd).catch(noop);
        this.file.fd = -1;
      }
      if (this.cpFd >= 0) await closeFd(this.cpFd).catch(noop);
      this.cpFd = -1;
      await unlink(this.lockPath).catch(noop);
      openDirs.delete(resolve(this.dir));
      if (problems.length) throw problems[0];
    });
    return this.closePromise;
  }

  // -------------------------------------------------------------------------------------------
  // Opening

  private async resume(): Promise<void> {
    const files = await listLogFiles(this.dir);
    let last: { seq: number; hash: string } | null = null;
    for (let i = files.length - 1; i >= 0 && !last; i--) {
      const f = files[i];
      let tail: { line: string } | null;
      try {
        tail = await readLastLine(f.path);
      } catch (err) {
        if (err instanceof TornTailError) throw refuse(`${err.message}: the log's tail is corrupt (a write cut short, or an edit). Run \`vigil audit verify ${this.dir}\`; the writer will not start a new chain over it`);
        throw err;
      }
      if (!tail) continue;
      last = this.checkTail(f.path, tail.line);
      if (last.seq < f.firstSeq) throw refuse(`${f.path}: its last record has seq ${last.seq}, before the file's first seq ${f.firstSeq}; run \`vigil audit verify ${this.dir}\``);
    }
    if (last) {
      this.seq = last.seq;
      this.head = last.hash;
    }
    for (let i = 0; i < files.length; i++) {
      const next = files[i + 1];
      const { size } = await stat(files[i].path);
      this.files.push({ name: files[i].name, first_seq: files[i].firstSeq, last_seq: next ? next.firstSeq - 1 : Math.max(this.seq, files[i].firstSeq - 1), bytes: size, created: files[i].created });
    }
    const newest = files[files.length - 1];
    if (newest && newest.firstSeq <= this.seq + 1) {
      const fd = await openFd(newest.path, O_WRONLY | O_APPEND);
      const st = await fstat(fd);
      this.file = { name: newest.name, path: newest.path, fd, size: st.size, firstSeq: newest.firstSeq, ino: st.ino, dev: st.dev, partial: false };
    } else if (newest) {
      throw refuse(`${newest.path} starts at seq ${newest.firstSeq} but the log ends at seq ${this.seq}; run \`vigil audit verify ${this.dir}\``);
    }
    await this.resumeCheckpoints();
    // Sealed files the last checkpoint covers were listed, final, by the checkpoints before: the
    // first checkpoint of this writer lists only the rest (however many files the log holds).
    for (const f of this.files.slice(0, -1)) if (f.last_seq <= this.checkpointSeq) this.listed.set(f.name, f.last_seq);
  }

  private checkTail(path: string, line: string): { seq: number; hash: string } {
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw refuse(`${path}: the last line is not JSON: the log's tail is corrupt. Run \`vigil audit verify ${this.dir}\``);
    }
    const seq = rec?.seq;
    const hash = rec?.hash;
    if (typeof rec !== 'object' || rec === null || !Number.isSafeInteger(seq) || (seq as number) < 1 || typeof hash !== 'string') {
      throw refuse(`${path}: the last line is not a chained audit record (no seq/hash): the log's tail is corrupt. Run \`vigil audit verify ${this.dir}\``);
    }
    const mode = modeOfHash(hash);
    if (mode !== this.mode) {
      throw refuse(
        mode === 'hmac-sha256'
          ? `${path}: the log is chained with an HMAC key but none was given; configure the same key (a log keeps one mode)`
          : mode === 'sha256'
            ? `${path}: the log is chained with plain sha256 but an HMAC key was given; to start using a key, start a new audit directory`
            : `${path}: the last record's hash ${JSON.stringify(hash)} is malformed: the log's tail is corrupt`,
      );
    }
    if (!safeEqual(recomputeHash(line, rec, this.hmacKey).hash, hash)) {
      throw refuse(
        `${path}: the last record (seq ${seq}) does not match its hash: it was edited${this.hmacKey ? ', or the log was written with another HMAC key' : ''}. Run \`vigil audit verify ${this.dir}\``,
      );
    }
    return { seq: seq as number, hash };
  }

  private async resumeCheckpoints(): Promise<void> {
    let tail: { line: string } | null;
    try {
      tail = await readLastLine(this.checkpointPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      if (err instanceof TornTailError) throw refuse(`${err.message}: the checkpoint file's tail is corrupt; run \`vigil audit verify ${this.dir}\``);
      throw err;
    }
    if (!tail) return;
    let cp: Checkpoint;
    try {
      cp = JSON.parse(tail.line) as Checkpoint;
      this.checkpointHead = checkpointHash(cp);
    } catch {
      throw refuse(`${this.checkpointPath}: the last checkpoint is not JSON; run \`vigil audit verify ${this.dir}\``);
    }
    if (!Number.isSafeInteger(cp?.seq)) throw refuse(`${this.checkpointPath}: the last checkpoint has no seq; run \`vigil audit verify ${this.dir}\``);
    if (cp.seq > this.seq) {
      throw refuse(`the last checkpoint (${cp.time}) says the log held ${cp.seq} records but it ends at seq ${this.seq}: the log was truncated. Run \`vigil audit verify ${this.dir}\``);
    }
    if (cp.seq === this.seq && cp.head_hash !== this.head) {
      throw refuse(`the last checkpoint (${cp.time}) says record ${cp.seq} hashed to ${cp.head_hash} but it hashes to ${this.head}: the log's tail was rewritten. Run \`vigil audit verify ${this.dir}\``);
    }
    this.checkpointSeq = cp.seq;
    const r = cp.removed;
    // Carried on into later retention records only when this writer's own key signed it: an
    // edited checkpoint must not make retention vouch for files someone else removed.
    const ours = cp.sig?.alg === this.signer.alg && cp.sig.key_id === this.signer.keyId && cp.sig.value === this.signer.sign(checkpointPayload(cp));
    if (r && ours && Number.isSafeInteger(r.from_seq) && Number.isSafeInteger(r.through_seq) && typeof r.last_hash === 'string') this.removed = { from_seq: r.from_seq, through_seq: r.through_seq, last_hash: r.last_hash };
  }

  // -------------------------------------------------------------------------------------------
  // Writing

  /** Every write, checkpoint, check and recovery runs here, one at a time, in order. */
  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.chainTail.then(task);
    this.chainTail = run.then(noop, noop);
    return run;
  }

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
      if (this._healthy && this.seq - this.checkpointSeq >= this.every.records && (await this.checkpoint()) === null) await this.retain();
    }
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    interface Segment {
      startsFile: boolean;
      firstSeq: number;
      lastSeq: number;
      lastHash: string;
      text: string;
      bytes: number;
      items: Pending[];
    }
    const segments: Segment[] = [];
    let seg: Segment | null = null;
    let seq = this.seq;
    let prev = this.head;
    let size = this.file?.size ?? 0;
    let needFile = this.file === null;
    for (const item of batch) {
      seq++;
      const { line, hash } = sealRecord(item.entries, seq, prev, this.hmacKey);
      const text = line + '\n';
      const bytes = Buffer.byteLength(text);
      if (needFile || (size > 0 && size + bytes > this.maxFileBytes)) {
        seg = { startsFile: true, firstSeq: seq, lastSeq: seq, lastHash: hash, text: '', bytes: 0, items: [] };
        segments.push(seg);
        size = 0;
        needFile = false;
      } else if (!seg) {
        seg = { startsFile: false, firstSeq: seq, lastSeq: seq, lastHash: hash, text: '', bytes: 0, items: [] };
        segments.push(seg);
      }
      seg.text += text;
      seg.bytes += bytes;
      seg.items.push(item);
      seg.lastSeq = seq;
      seg.lastHash = hash;
      size += bytes;
      prev = hash;
    }
    for (let s = 0; s < segments.length; s++) {
      const segment = segments[s];
      try {
        if (segment.startsFile) await this.startFile(segment.firstSeq);
        const file = this.file!;
        if (file.fd < 0) throw new Error('the audit file is not open');
        await this.writeAll(file, Buffer.from(segment.text));
      } catch (err) {
        this.fail(err as Error, segments.slice(s).flatMap((x) => x.items));
        return;
      }
      this.seq = segment.lastSeq;
      this.head = segment.lastHash;
      this.file!.size += segment.bytes;
      const entry = this.files[this.files.length - 1];
      entry.last_seq = segment.lastSeq;
      entry.bytes += segment.bytes;
      for (const item of segment.items) item.resolve();
    }
  }

  private async writeAll(file: CurrentFile, buf: Buffer): Promise<void> {
    let off = 0;
    try {
      while (off < buf.length) {
        const n = await writeFd(file.fd, buf, off, buf.length - off);
        this.diskActivityAt = performance.now();
        if (n <= 0) throw new Error('write() wrote nothing');
        off += n;
      }
    } catch (err) {
      if (off > 0) file.partial = true;
      throw err;
    }
  }

  private async startFile(firstSeq: number): Promise<void> {
    const created = new Date();
    const name = logFileName(firstSeq, created);
    const path = join(this.dir, name);
    const fd = await openFd(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL, 0o600);
    const st = await fstat(fd);
    const old = this.file;
    this.file = { name, path, fd, size: 0, firstSeq, ino: st.ino, dev: st.dev, partial: false };
    this.files.push({ name, first_seq: firstSeq, last_seq: firstSeq - 1, bytes: 0, created });
    if (old && old.fd >= 0) {
      const fdOld = old.fd;
      old.fd = -1;
      try {
        await fdatasync(fdOld);
      } catch (err) {
        this.report(new AuditError('write', `${old.path}: fdatasync at rotation failed (${(err as Error).message}); its records may not be on disk`, { cause: err }));
      }
      await closeFd(fdOld).catch(noop);
    }
    await fsyncDir(this.dir);
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
    // The disk hangs when an operation given to it has not completed for the whole deadline. Judging by the
    // appends' age alone would blame the disk for a stalled event loop: 16 large bodies parsed back
    // to back once held the loop 3 s, and every append queued meanwhile failed closed though each
    // write took a millisecond once it ran.
    if (oldest === undefined || performance.now() - Math.max(oldest, this.diskActivityAt) <= this.appendTimeoutMs) return;
    const waiting = [...(this.writing ?? []), ...this.queue];
    this.queue = [];
    const err = new Error(`a write has not completed within ${this.appendTimeoutMs} ms (is the disk hung or frozen?)`);
    this.failure = { since: new Date(), error: err, rejected: waiting.filter((p) => !p.internal).length, attempts: 0 };
    this._healthy = false;
    const e = new AuditError('write', `audit log ${this.file?.path ?? this.dir}: ${err.message}; ${this.failure.rejected} record(s) rejected; failing closed until a write succeeds`, { cause: err });
    for (const p of waiting) p.reject(e);
    this.report(e);
    // Not fail(): the hung write still owns the descriptor; recovery runs after it returns.
    this.scheduleRecovery();
  }

  private fail(err: Error, rejected: Pending[], lost?: AuditRecovery['lost']): void {
    const queued = this.queue;
    this.queue = [];
    const all = [...rejected, ...queued];
    const counted = all.filter((p) => !p.internal).length;
    if (!this.failure) this.failure = { since: new Date(), error: err, rejected: 0, attempts: 0 };
    else this.failure.error = err;
    this.failure.rejected += counted;
    if (lost) this.failure.lost = lost;
    this._healthy = false;
    const where = this.file ? this.file.path : this.dir;
    const code = (err as NodeJS.ErrnoException).code;
    const e = new AuditError(
      'write',
      `audit log ${where}: ${code ? `${code}: ` : ''}${err.message}; ${counted} record(s) rejected${lost ? `; records ${lost.first_seq}..${lost.last_seq} are gone from disk (${lost.reason})` : ''}; failing closed until a write succeeds`,
      { cause: err },
    );
    for (const p of all) p.reject(e);
    if (this.file && this.file.fd >= 0) {
      if (code !== 'EBADF') fs.close(this.file.fd, noop);
      this.file.fd = -1;
    }
    this.report(e);
    this.scheduleRecovery();
  }

  private scheduleRecovery(): void {
    if (this.retryTimer || this.closing) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.enqueue(() => this.recover()).catch((err: Error) => this.fail(err, []));
    }, this.retryMs); // not unref'd: while failing, the log keeps trying until close()
  }

  private async recover(): Promise<void> {
    if (this._healthy || this.closing || !this.failure) return;
    const failure = this.failure;
    failure.attempts++;
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 }); // it may have been removed
      await this.reopenCurrentFile();
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
    let written = false;
    await this.writeBatch([{ entries: canonicalEntries(record), at: performance.now(), resolve: () => (written = true), reject: noop, internal: true }]);
    if (!written) return; // fail() reported it and scheduled the next attempt
    this._healthy = true;
    this.failure = null;
    this.emit('recovered', info);
  }

  /** Reopens the current file after a failure, or decides the next record starts a new one. */
  private async reopenCurrentFile(): Promise<void> {
    const cur = this.file;
    if (!cur) return;
    if (cur.fd >= 0) {
      await closeFd(cur.fd).catch(noop);
      cur.fd = -1;
    }
    let st: fs.Stats | null = null;
    try {
      st = await stat(cur.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const same = st !== null && st.ino === cur.ino && st.dev === cur.dev;
    if (same && (st!.size === cur.size || (st!.size > cur.size && cur.partial))) {
      const fd = await openFd(cur.path, O_WRONLY | O_APPEND);
      try {
        if (st!.size > cur.size) await ftruncateFd(fd, cur.size); // the rejected batch's partial line
      } catch (err) {
        await closeFd(fd).catch(noop);
        throw err;
      }
      cur.fd = fd;
      cur.partial = false;
      return;
    }
    // Gone, replaced, truncated, or holding bytes the writer did not write: leave it as evidence
    // for `vigil audit verify`, and continue the chain in a new file.
    if (!this.failure!.lost && (!same || st!.size < cur.size) && this.seq >= cur.firstSeq) {
      const reason = !st ? 'the file was removed' : !same ? 'the file was replaced' : `the file was truncated from ${cur.size} to ${st.size} bytes`;
      this.failure!.lost = { file: cur.name, first_seq: cur.firstSeq, last_seq: this.seq, reason };
    }
    this.file = null;
  }

  /** Catches what no write() reports: the current file removed, replaced or truncated underneath. */
  private async watch(): Promise<void> {
    const cur = this.file;
    if (!this._healthy || this.closing || !cur || cur.fd < 0) return;
    let reason: string | null = null;
    try {
      const held = await fstat(cur.fd);
      if (held.ino !== cur.ino || held.dev !== cur.dev) reason = 'the writer’s file descriptor no longer refers to its file (closed underneath?)';
    } catch (err) {
      reason = `the writer’s file descriptor failed (${(err as Error).message})`;
    }
    if (!reason) {
      try {
        const st = await stat(cur.path);
        if (st.ino !== cur.ino || st.dev !== cur.dev) reason = 'the file was replaced';
        else if (st.size < cur.size) reason = `the file was truncated from ${cur.size} to ${st.size} bytes`;
        else if (st.size > cur.size) reason = `the file grew by ${st.size - cur.size} bytes the writer did not write`;
      } catch (err) {
        reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'the file was removed' : `the file cannot be checked (${(err as Error).message})`;
      }
    }
    if (!reason) return;
    const lost = /removed|replaced|truncated/.test(reason) && this.seq >= cur.firstSeq ? { file: cur.name, first_seq: cur.firstSeq, last_seq: this.seq, reason } : undefined;
    this.fail(new Error(`${cur.path}: ${reason}`), [], lost);
  }

  private report(err: AuditError): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else process.stderr.write(`vigil audit: ${err.message}\n`);
  }

  // -------------------------------------------------------------------------------------------
  // Checkpoints

  private checkpointTimer(): void {
    if (this.checkpointScheduled || this.closing || !this._healthy || this.seq === this.checkpointSeq) return;
    this.checkpointScheduled = true;
    void this.enqueue(async () => {
      this.checkpointScheduled = false;
      if (this._healthy && this.seq !== this.checkpointSeq && (await this.checkpoint()) === null) await this.retain();
    }).catch((err: Error) => this.report(new AuditError('checkpoint', `checkpoint failed: ${err.message}`, { cause: err })));
  }

  /** Writes and emits a checkpoint of what is written now; returns the error if it could not be written. */
  private async checkpoint(): Promise<AuditError | null> {
    // A checkpoint must never claim records that a power cut could take back.
    if (this.file && this.file.fd >= 0) {
      try {
        await fdatasync(this.file.fd);
      } catch (err) {
        this.fail(err as Error, []);
        return new AuditError('checkpoint', `no checkpoint: the log could not be synced (${(err as Error).message})`, { cause: err });
      }
    }
    // Only what changed since the checkpoint before: a line stays small however many files the log has had.
    const files: CheckpointFile[] = this.files.filter((f) => this.listed.get(f.name) !== f.last_seq).map((f) => ({ name: f.name, first_seq: f.first_seq, last_seq: f.last_seq }));
    const cp = signCheckpoint(
      {
        type: 'checkpoint',
        seq: this.seq,
        head_hash: this.head,
        prev_checkpoint: this.checkpointHead,
        files,
        ...(this.removed ? { removed: { ...this.removed } } : {}),
        time: new Date().toISOString(),
      },
      this.signer,
    );
    const line = canonicalJson(cp);
    this.checkpointSeq = cp.seq;
    // Linked to what was emitted, written or not: shipped copies stay one unbroken chain, and a
    // local file that missed one shows the gap.
    this.checkpointHead = checkpointHash(cp);
    for (const f of files) this.listed.set(f.name, f.last_seq);
    let error: AuditError | null = null;
    try {
      if (this.cpFd < 0) {
        this.cpFd = await openFd(this.checkpointPath, O_WRONLY | O_APPEND | O_CREAT, 0o600);
        const { size } = await fstat(this.cpFd);
        // A checkpoint line cut short by an earlier failed write is ours to drop.
        if (this.cpPartial && size > this.cpSize) await ftruncateFd(this.cpFd, this.cpSize);
        else this.cpSize = size;
        this.cpPartial = false;
      }
      const buf = Buffer.from(line + '\n');
      let off = 0;
      try {
        while (off < buf.length) {
          const n = await writeFd(this.cpFd, buf, off, buf.length - off);
          if (n <= 0) throw new Error('write() wrote nothing');
          off += n;
        }
      } finally {
        if (off > 0 && off < buf.length) this.cpPartial = true;
      }
      this.cpSize += buf.length;
    } catch (err) {
      if (this.cpFd >= 0) await closeFd(this.cpFd).catch(noop);
      this.cpFd = -1;
      this.listed.clear(); // the file lacks this one's list: the next checkpoint lists every file again
      error = new AuditError('checkpoint', `${this.checkpointPath}: checkpoint at seq ${cp.seq} not written (${(err as Error).message}); truncation of the log's tail cannot be detected past the previous one`, {
        cause: err,
      });
      this.report(error);
    }
    try {
      this.emit('checkpoint', cp);
    } catch (err) {
      process.stderr.write(`vigil audit: a 'checkpoint' listener threw: ${(err as Error).message}\n`);
    }
    return error;
  }

  // -------------------------------------------------------------------------------------------
  // Retention

  /**
   * Removes the oldest sealed files past the retention policy, always in this order: the
   * `audit.retention` record (which files, and the removed prefix with its last hash), a
   * checkpoint carrying the removed prefix (it also syncs the record to disk), then the files.
   * A crash in between leaves files that were to go, which the next run takes; never a file gone
   * without its record, which is what `vigil audit verify` reports as tampering.
   */
  private async retain(): Promise<void> {
    if (!this.retention || !this._healthy || this.closing) return;
    const { files: chosen, reasons } = filesToRemove(this.files, this.retention, this.checkpointSeq, Date.now());
    if (chosen.length === 0) return;
    let lastHash: string;
    try {
      const gone: RetainedFile[] = [];
      for (const f of chosen) {
        try {
          f.bytes = (await stat(join(this.dir, f.name))).size;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          gone.push(f);
        }
      }
      if (gone.length > 0) {
        // Not ours to document: forget them, and say so (verify reports them as deleted).
        for (const f of gone) this.forgetFile(f);
        throw new Error(`${gone.map((f) => f.name).join(', ')} had already gone from ${this.dir}, not removed by retention`);
      }
      lastHash = await this.lastHashOf(chosen);
    } catch (err) {
      this.report(new AuditError('retention', `retention removed nothing: ${(err as Error).message}`, { cause: err }));
      return;
    }
    const prefix = extendPrefix(this.removed, chosen, lastHash);
    const policy = { ...(this.retention.maxAgeMs !== undefined ? { max_age_ms: this.retention.maxAgeMs } : {}), ...(this.retention.maxBytes !== undefined ? { max_bytes: this.retention.maxBytes } : {}) };
    const record: AdminAuditRecord = {
      type: 'admin',
      time: new Date().toISOString(),
      event: 'audit.retention',
      principal: 'vigil',
      outcome: 'ok',
      detail: { files: chosen.map((f) => ({ name: f.name, first_seq: f.first_seq, last_seq: f.last_seq, bytes: f.bytes })), ...prefix, reasons, policy },
    };
    let written = false;
    await this.writeBatch([{ entries: canonicalEntries(record), at: performance.now(), resolve: () => (written = true), reject: noop, internal: true }]);
    if (!written) return; // fail() reported it
    this.removed = prefix;
    if ((await this.checkpoint()) !== null) return; // the files stay until a checkpoint holds the removal
    for (const f of chosen) {
      try {
        await unlink(join(this.dir, f.name));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          this.report(new AuditError('retention', `retention could not remove ${f.name} (${(err as Error).message}); it stays, and the next run tries again`, { cause: err }));
          break;
        }
      }
      this.forgetFile(f);
    }
    await fsyncDir(this.dir);
  }

  /** The hash of the last record of `files` (a prefix about to go), checked against its content. */
  private async lastHashOf(files: RetainedFile[]): Promise<string> {
    const through = files[files.length - 1].last_seq;
    const holder = [...files].reverse().find((f) => f.last_seq >= f.first_seq);
    if (!holder) {
      if (this.removed && this.removed.through_seq === through) return this.removed.last_hash;
      throw new Error(`${files.map((f) => f.name).join(', ')} hold no record`);
    }
    const path = join(this.dir, holder.name);
    const tail = await readLastLine(path);
    let rec: Record<string, unknown> | null = null;
    try {
      rec = tail ? (JSON.parse(tail.line) as Record<string, unknown>) : null;
    } catch {
      rec = null;
    }
    const hash = rec?.hash;
    if (!tail || !rec || rec.seq !== through || typeof hash !== 'string' || !safeEqual(recomputeHash(tail.line, rec, this.hmacKey).hash, hash)) {
      throw new Error(`the last record of ${path} is not seq ${through} matching its hash: it was changed; run \`vigil audit verify ${this.dir}\``);
    }
    return hash;
  }

  private forgetFile(f: RetainedFile): void {
    const i = this.files.indexOf(f);
    if (i >= 0 && f !== this.files[this.files.length - 1]) this.files.splice(i, 1);
    this.listed.delete(f.name);
  }
}

/** Validates a record and snapshots it as canonical entries (later changes to the object do not leak in). */
function snapshot(record: AuditRecord): Entries {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) throw new TypeError('a record must be an object');
  const r = record as unknown as Record<string, unknown>;
  if (typeof r.type !== 'string' || !RECORD_TYPES.has(r.type)) throw new TypeError(`type must be one of ${[...RECORD_TYPES].join(', ')}, not ${JSON.stringify(r.type)}`);
  if (typeof r.time !== 'string' || Number.isNaN(Date.parse(r.time))) throw new TypeError(`time must be an ISO 8601 string, not ${JSON.stringify(r.time)}`);
  for (const k of CHAIN_KEYS) if (k in r) throw new TypeError(`"${k}" is set by the writer`);
  const entries = canonicalEntries(r);
  // Readers skip longer lines as not written by the writer; seq, prev and hash add under 256 bytes.
  let chars = 256;
  for (const e of entries) chars += e[1].length + 1;
  if (chars * 3 > MAX_LINE_BYTES) {
    let bytes = 256;
    for (const e of entries) bytes += Buffer.byteLength(e[1]) + 1;
    if (bytes > MAX_LINE_BYTES) throw new TypeError(`the record would be a line of ${bytes} bytes or more; at most ${MAX_LINE_BYTES}`);
  }
  return entries;
}

function refuse(message: string): AuditError {
  return new AuditError('open', `refusing to open the audit log: ${message}`);
}

/** Directories this process has open: a lock naming our own pid is ours only if listed here. */
const openDirs = new Set<string>();
/** A lock whose writer has not touched it for this long is stale (writers touch it every second or so). */
const LOCK_STALE_MS = 30_000;

async function acquireLock(path: string, dir: string): Promise<void> {
  const me = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  const key = resolve(dir);
  for (let attempt = 0; ; attempt++) {
    try {
      if (openDirs.has(key)) throw refuse(`${dir} is already open in this process (pid ${process.pid}); one log has one writer`);
      await writeFile(path, JSON.stringify(me) + '\n', { flag: 'wx', mode: 0o600 });
      openDirs.add(key);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
    }
    type Holder = { pid?: unknown; host?: unknown; since?: unknown };
    let holder: Holder | null = null;
    let age = Infinity;
    try {
      age = Date.now() - (await stat(path)).mtimeMs;
      holder = JSON.parse(await readFile(path, 'utf8')) as Holder;
    } catch {
      holder = null; // unreadable or half-written: treat as stale
    }
    if (holder && age < LOCK_STALE_MS) {
      const pid = typeof holder.pid === 'number' ? holder.pid : NaN;
      if (holder.host !== me.host) {
        throw refuse(`${path}: the directory is held by a writer on host ${String(holder.host)} (pid ${String(holder.pid)}), alive ${Math.round(age / 1000)} s ago; one log has one writer`);
      }
      // Our own pid but not open here: a previous incarnation (a restarted container reuses pids).
      if (pid !== process.pid && alive(pid)) {
        throw refuse(`${dir} is held by another audit writer (pid ${pid}, since ${String(holder.since)}); one log has one writer`);
      }
    }
    await unlink(path).catch(noop); // its writer died without closing
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// Callback fs calls wrapped by hand: cheaper than fs.promises' FileHandle on the hot path.
function writeFd(fd: number, buf: Buffer, off: number, len: number): Promise<number> {
  return new Promise((resolve, reject) => fs.write(fd, buf, off, len, null, (err, n) => (err ? reject(err) : resolve(n))));
}
function openFd(path: string, flags: number, mode?: number): Promise<number> {
  return new Promise((resolve, reject) => fs.open(path, flags, mode, (err, fd) => (err ? reject(err) : resolve(fd))));
}
function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (err) => (err ? reject(err) : resolve())));
}
function fstat(fd: number): Promise<fs.Stats> {
  return new Promise((resolve, reject) => fs.fstat(fd, (err, st) => (err ? reject(err) : resolve(st))));
}
function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}
function ftruncateFd(fd: number, len: number): Promise<void> {
  return new Promise((resolve, reject) => fs.ftruncate(fd, len, (err) => (err ? reject(err) : resolve())));
}
async function fsyncDir(dir: string): Promise<void> {
  try {
    const fd = await openFd(dir, fs.constants.O_RDONLY);
    await new Promise<void>((resolve) => fs.fsync(fd, () => resolve()));
    await closeFd(fd);
  } catch {
    // best effort: not every filesystem lets a directory be synced
  }
}
