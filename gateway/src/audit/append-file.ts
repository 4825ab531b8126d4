/**
 * A file only ever appended to, by one writer: each log file and checkpoints.jsonl. It counts the
 * bytes of its whole writes, so a write cut short (ENOSPC midway, an I/O error) leaves bytes past
 * that count that are ours to cut off when the file is opened again. One partial-write path for
 * records and checkpoints alike.
 */
import * as fs from 'node:fs';
import { stat } from 'node:fs/promises';

const { O_WRONLY, O_APPEND, O_CREAT, O_EXCL } = fs.constants;
const noop = () => {};

/** How the file on disk differs from what this writer wrote to it. */
export interface FileChange {
  reason: string;
  /** Records written to it are gone from disk (removed, replaced, truncated). */
  lost: boolean;
  /** It holds more than the writer's whole writes: a partial line of ours, or someone else's bytes. */
  grew?: boolean;
}

export class AppendFile {
  /** -1 while closed. */
  private fd = -1;
  /** Bytes of whole writes: what the file must hold. */
  size = 0;
  /** A write failed midway: bytes past `size` are ours and may be cut off. */
  private partial = false;
  private ino = 0;
  private dev = 0;

  private constructor(readonly path: string) {}

  /** A new file (it must not exist yet), 0600. */
  static async create(path: string): Promise<AppendFile> {
    const f = new AppendFile(path);
    await f.openFd(O_CREAT | O_EXCL);
    return f;
  }

  /** An existing file (`create`: made if missing), continued at its end. */
  static async open(path: string, create: boolean): Promise<AppendFile> {
    const f = new AppendFile(path);
    await f.openFd(create ? O_CREAT : 0);
    return f;
  }

  /** Not opened yet: the first `reopen` opens it (checkpoints.jsonl is opened on first use). */
  static closed(path: string): AppendFile {
    return new AppendFile(path);
  }

  get isOpen(): boolean {
    return this.fd >= 0;
  }

  /** Writes all of `buf` at the end; `progress` runs after each write() the OS completes. */
  async append(buf: Buffer, progress: () => void = noop): Promise<void> {
    if (this.fd < 0) throw new Error('the audit file is not open');
    let off = 0;
    try {
      while (off < buf.length) {
        const n = await writeFd(this.fd, buf, off, buf.length - off);
        progress();
        if (n <= 0) throw new Error('write() wrote nothing');
        off += n;
      }
    } catch (err) {
      if (off > 0) this.partial = true;
      throw err;
    }
    this.size += buf.length;
  }

  sync(): Promise<void> {
    return fdatasync(this.fd);
  }

  /** Closes it (errors ignored: nothing more is written through this descriptor). */
  async close(): Promise<void> {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    await closeFd(fd).catch(noop);
  }

  /** Lets go of the descriptor after a failed write without waiting; `closed`: it is gone already (EBADF), and its number may be another file's now. */
  release(closed: boolean): void {
    if (this.fd < 0) return;
    if (!closed) fs.close(this.fd, noop);
    this.fd = -1;
  }

  /**
   * Opens the file again after a failed write, cutting off the partial line that write left.
   * `sameFile`: only while the path still holds the file this wrote, as it wrote it; else
   * returns how it changed and stays closed (the caller leaves it as evidence). Otherwise the
   * file is created if missing and continued as it is.
   */
  async reopen(sameFile: boolean): Promise<FileChange | null> {
    await this.close();
    if (sameFile) {
      const change = this.changeOf(await statOrNull(this.path));
      if (change && !(change.grew && this.partial)) return change;
    }
    await this.openFd(sameFile ? 0 : O_CREAT);
    return null;
  }

  /** What no write() reports: the file removed, replaced or truncated underneath, or grown by another writer. */
  async check(): Promise<FileChange | null> {
    try {
      const held = await fstat(this.fd);
      if (held.ino !== this.ino || held.dev !== this.dev) return { reason: 'the writer’s file descriptor no longer refers to its file (closed underneath?)', lost: false };
    } catch (err) {
      return { reason: `the writer’s file descriptor failed (${(err as Error).message})`, lost: false };
    }
    let st: fs.Stats | null;
    try {
      st = await statOrNull(this.path);
    } catch (err) {
      return { reason: `the file cannot be checked (${(err as Error).message})`, lost: false };
    }
    return this.changeOf(st);
  }

  private changeOf(st: fs.Stats | null): FileChange | null {
    if (!st) return { reason: 'the file was removed', lost: true };
    if (st.ino !== this.ino || st.dev !== this.dev) return { reason: 'the file was replaced', lost: true };
    if (st.size < this.size) return { reason: `the file was truncated from ${this.size} to ${st.size} bytes`, lost: true };
    if (st.size > this.size) return { reason: `the file grew by ${st.size - this.size} bytes the writer did not write`, lost: false, grew: true };
    return null;
  }

  private async openFd(flags: number): Promise<void> {
    const fd = await openFd(this.path, O_WRONLY | O_APPEND | flags, 0o600);
    try {
      const st = await fstat(fd);
      if (this.partial && st.size > this.size) await ftruncateFd(fd, this.size); // the failed write's partial line
      else this.size = st.size;
      this.ino = st.ino;
      this.dev = st.dev;
    } catch (err) {
      await closeFd(fd).catch(noop);
      throw err;
    }
    this.fd = fd;
    this.partial = false;
  }
}

async function statOrNull(path: string): Promise<fs.Stats | null> {
  try {
    return await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Syncs a directory, so that a file created or removed in it stays so across a power cut. */
export async function syncDir(dir: string): Promise<void> {
  try {
    const fd = await openFd(dir, fs.constants.O_RDONLY);
    await new Promise<void>((resolve) => fs.fsync(fd, () => resolve()));
    await closeFd(fd);
  } catch {
    // best effort: not every filesystem lets a directory be synced
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
