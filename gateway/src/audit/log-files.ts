/**
 * The log's files on disk: the one records go to now, rotation to the next, and the list in
 * chain order that checkpoints and retention read. After a failure, the current file is
 * continued only if it is still the one written; else it is left as evidence and the chain
 * continues in a new file.
 */
import { join } from 'node:path';
import { AppendFile, syncDir } from './append-file.js';
import { AuditError } from './audit-error.js';
import { logFileName } from './chain.js';
import type { ResumedLog } from './chain-resume.js';
import type { RetainedFile } from './retention.js';

/** Records that had been written but are gone from disk (the file was removed, replaced or truncated). */
export interface LostRecords {
  file: string;
  first_seq: number;
  last_seq: number;
  reason: string;
}

interface Current {
  name: string;
  firstSeq: number;
  file: AppendFile;
}

export class LogFiles {
  private current: Current | null = null;
  /** Every file of the log on disk, in chain order; the current file last. */
  readonly list: RetainedFile[];

  private constructor(
    readonly dir: string,
    list: RetainedFile[],
    private readonly report: (err: AuditError) => void,
  ) {
    this.list = list;
  }

  /** The files a resumed log has, the newest opened to continue. */
  static async open(dir: string, resumed: ResumedLog, report: (err: AuditError) => void): Promise<LogFiles> {
    const files = new LogFiles(dir, resumed.files, report);
    const cur = resumed.current;
    if (cur) files.current = { name: cur.name, firstSeq: cur.firstSeq, file: await AppendFile.open(cur.path, false) };
    return files;
  }

  /** The current file's name and path, while there is one (also when its descriptor was lost). */
  get name(): string | null {
    return this.current?.name ?? null;
  }
  get path(): string | null {
    return this.current?.file.path ?? null;
  }
  /** Bytes in the current file, or null when the next record starts a new one. */
  get size(): number | null {
    return this.current?.file.size ?? null;
  }

  /** Writes records firstSeq..lastSeq (`buf`), in a new file when `startsFile`. */
  async write(buf: Buffer, firstSeq: number, lastSeq: number, startsFile: boolean, progress: () => void): Promise<void> {
    if (startsFile) await this.start(firstSeq);
    if (!this.current) throw new Error('the audit file is not open');
    await this.current.file.append(buf, progress);
    const entry = this.list[this.list.length - 1];
    entry.last_seq = lastSeq;
    entry.bytes += buf.length;
  }

  /** fdatasync of the current file (nothing when none is open). */
  async sync(): Promise<void> {
    if (this.current?.file.isOpen) await this.current.file.sync();
  }

  /** Syncs and closes the current file; rejects when the sync fails. */
  async close(): Promise<void> {
    const f = this.current?.file;
    if (!f?.isOpen) return;
    try {
      await f.sync();
    } finally {
      await f.close();
    }
  }

  /** After a failed write: the descriptor is let go (`closed`: it is gone already). */
  release(closed: boolean): void {
    this.current?.file.release(closed);
  }

  /**
   * Reopens the current file after a failure, or decides that the next record starts a new one.
   * Returns the records lost (up to `seq`) when the file was removed, replaced or truncated.
   */
  async reopen(seq: number): Promise<LostRecords | undefined> {
    const cur = this.current;
    if (!cur) return undefined;
    const change = await cur.file.reopen(true);
    if (!change) return undefined;
    // Gone, replaced, truncated, or holding bytes the writer did not write: leave it as evidence
    // for `vigil audit verify`, and continue the chain in a new file.
    this.current = null;
    return change.lost && seq >= cur.firstSeq ? { file: cur.name, first_seq: cur.firstSeq, last_seq: seq, reason: change.reason } : undefined;
  }

  /** Catches what no write() reports: the current file removed, replaced or truncated underneath. */
  async check(seq: number): Promise<{ error: Error; lost?: LostRecords } | null> {
    const cur = this.current;
    if (!cur || !cur.file.isOpen) return null;
    const change = await cur.file.check();
    if (!change) return null;
    const lost = change.lost && seq >= cur.firstSeq ? { file: cur.name, first_seq: cur.firstSeq, last_seq: seq, reason: change.reason } : undefined;
    return { error: new Error(`${cur.file.path}: ${change.reason}`), lost };
  }

  /** Drops a file from the list (removed by retention, or found gone); the current file stays. */
  forget(f: RetainedFile): void {
    const i = this.list.indexOf(f);
    if (i >= 0 && f !== this.list[this.list.length - 1]) this.list.splice(i, 1);
  }

  /** Rotation: a new file for records from `firstSeq`; the old one is synced before it is let go. */
  private async start(firstSeq: number): Promise<void> {
    const created = new Date();
    const name = logFileName(firstSeq, created);
    const file = await AppendFile.create(join(this.dir, name));
    const old = this.current?.file;
    this.current = { name, firstSeq, file };
    this.list.push({ name, first_seq: firstSeq, last_seq: firstSeq - 1, bytes: 0, created });
    if (old?.isOpen) {
      try {
        await old.sync();
      } catch (err) {
        this.report(new AuditError('write', `${old.path}: fdatasync at rotation failed (${(err as Error).message}); its records may not be on disk`, { cause: err }));
      }
      await old.close();
    }
    await syncDir(this.dir);
  }
}
