import { spawn } from 'node:child_process';
import { chownSync, closeSync, linkSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { LISTEN_FD_ENV } from '../worker/worker-spec.js';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { Socket } from 'node:net';
import { holdWatchPipe } from './child-process-launcher.js';
import type { ExitStatus, LaunchedProcess, Launcher, LaunchSpec } from './launcher.js';
import { bwrapArgs, dropPrivileges } from './sandbox/bwrap.js';
import type { CgroupHost, WorkerCgroup } from './sandbox/cgroups.js';

/** The status the cgroup-joining shell exits with when the kernel refuses the move. */
const CGROUP_JOIN_FAILED = 125;
const INFO_FD = 4;
/** Files passed by descriptor start here (after the seccomp pipe). */
const FIRST_FILE_FD = 6;
const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));
const SECCOMP_FD = 5;

/**
 * Starts each worker inside bubblewrap (bwrap.ts says what it sees) and, where cgroups can be
 * made, in a cgroup of its own with the pool's limits. The process joins its cgroup before it
 * execs bwrap (a shell writes its own pid to cgroup.procs, then execs), so not one instruction
 * of the worker runs outside its limits. The worker's pid, for metrics and signals, is the one
 * bwrap reports on its info fd, not bwrap's own.
 */
export class SandboxLauncher implements Launcher {
  private starts = 0;

  constructor(
    private readonly bwrap: string,
    private readonly cgroups: CgroupHost | undefined,
    /** A compiled seccomp filter (seccomp.ts), handed to bwrap on a pipe; absent: none. */
    private readonly seccomp: Buffer | undefined,
    /**
     * The unprivileged account workers run as when the gateway is root (bwrapArgs says why and
     * how): a sandbox never runs its worker as root.
     */
    private readonly user?: { uid: number; gid: number },
  ) {}

  launch(spec: LaunchSpec): LaunchedProcess {
    const view = spec.sandbox ?? { readOnly: [], writable: [] };
    let cgroup: WorkerCgroup | undefined;
    let cgroupError: string | undefined;
    if (this.cgroups) {
      try {
        // A fresh cgroup per start: a late cleanup of the last one can never remove this one.
        cgroup = this.cgroups.create(`${spec.id.replace(/[^A-Za-z0-9_.-]/g, '_')}.${this.starts++}`, spec.sandbox?.resources ?? {});
      } catch (err) {
        cgroupError = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      }
    }
    if (cgroupError) return failed(`ECGROUP (${cgroupError})`);
    const ooms = cgroup?.oomKills() ?? 0;
    // The model file is opened here and passed by descriptor: the worker needs no path to it,
    // nor (dropped to another user) the right to read it.
    const passed = Object.entries(view.files ?? {});
    const fds: number[] = [];
    try {
      if (this.user) for (const dir of view.writable) chownSync(dir, this.user.uid, this.user.gid);
      for (const [, path] of passed) fds.push(openSync(path, 'r'));
    } catch (err) {
      for (const fd of fds) closeSync(fd);
      cgroup?.remove();
      return failed(`EOPEN (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    const fileEnv: Record<string, string> = Object.fromEntries(passed.map(([name], i) => [name, String(FIRST_FILE_FD + i)]));
    let listening: ReturnType<typeof listenFor> | undefined;
    if (view.listen) {
      try {
        listening = listenFor(view.listen);
      } catch (err) {
        for (const fd of fds) closeSync(fd);
        cgroup?.remove();
        return failed(`ELISTEN (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
      fileEnv[LISTEN_FD_ENV] = String(FIRST_FILE_FD + fds.length);
      fds.push(listening.fd);
    }
    const drop = this.user ? dropPrivileges(this.user) : [];
    const sandbox = [this.bwrap, ...bwrapArgs(view, { info: INFO_FD, seccomp: this.seccomp ? SECCOMP_FD : undefined }, this.user), ...drop, spec.command, ...spec.args];
    const command = cgroup ? '/bin/sh' : sandbox[0];
    const args = cgroup
      ? ['-c', `IFS=:; for f in $VIGIL_CGROUP_PROCS; do echo $$ > "$f" || exit ${CGROUP_JOIN_FAILED}; done; unset VIGIL_CGROUP_PROCS IFS; exec "$@"`, 'vigil-sandbox', ...sandbox]
      : sandbox.slice(1);
    const env = { ...spec.env, ...fileEnv, ...(cgroup ? { VIGIL_CGROUP_PROCS: cgroup.procsFiles.join(':') } : {}) };
    const child = spawn(command, args, {
      env,
      // 3: the watch pipe (bwrap passes it through: the worker exits when the gateway dies);
      // 4: bwrap's info (the worker's pid); 5: the seccomp program.
      stdio: ['ignore', 'inherit', 'inherit', 'pipe', 'pipe', this.seccomp ? 'pipe' : 'ignore', ...fds],
      detached: true,
    });
    for (const fd of fds.slice(0, listening ? -1 : undefined)) closeSync(fd);
    listening?.release();
    holdWatchPipe((child.stdio as unknown as Socket[])[3]);
    if (this.seccomp) {
      const pipe = (child.stdio as unknown as Writable[])[SECCOMP_FD];
      // bwrap reads the program once and closes its end; a bwrap that dies first must not make
      // the write an uncaught error in the gateway.
      pipe.on('error', () => undefined);
      pipe.end(this.seccomp);
    }
    // bwrap runs a reaper as pid 1 of the new namespace and the worker as its child: the info fd
    // names the reaper; the worker is the reaper's one child.
    let reaperPid: number | undefined;
    let workerPid: number | undefined;
    readInfo((child.stdio as unknown as Readable[])[INFO_FD], (pid) => (reaperPid = pid));
    const worker = () => (workerPid ??= reaperPid === undefined ? undefined : childOf(reaperPid));
    const exited = new Promise<ExitStatus>((resolve) => {
      child.once('exit', (code, signal) => {
        const oom = cgroup !== undefined && cgroup.oomKills() > ooms;
        // The last processes of the namespace may take a moment to be reaped: try again once.
        cgroup?.remove();
        if (cgroup) setTimeout(() => cgroup.remove(), 1_000).unref();
        if (code === CGROUP_JOIN_FAILED && cgroup) return resolve({ code: null, signal: null, spawnError: 'ECGROUP (could not join its cgroup)' });
        // bwrap exits 128+N when the worker died of signal N: report the signal, as a plain child's.
        const died = code !== null && code > 128 ? SIGNAL_NAMES.get(code - 128) : undefined;
        resolve(died ? { code: null, signal: died, oom } : { code, signal, oom });
      });
      child.once('error', (err: NodeJS.ErrnoException) => {
        cgroup?.remove();
        resolve({ code: null, signal: null, spawnError: err.code ?? err.message });
      });
    });
    return {
      get pid() {
        return worker() ?? child.pid;
      },
      exited,
      kill: (signal) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        // The worker itself gets the signal (a graceful SIGTERM reaches it); bwrap follows it
        // out. Killing bwrap instead would only SIGKILL the worker (--die-with-parent).
        const pid = worker();
        if (pid !== undefined) {
          try {
            process.kill(pid, signal);
            return;
          } catch {
            // gone already: fall through to bwrap
          }
        }
        child.kill(signal);
      },
    };
  }
}

/**
 * The worker's listening socket, made here and passed by descriptor, so the worker needs no
 * writable directory on the host (where it could fill the disk, or swap its socket for a link to
 * another pool's). `release` closes the gateway's copy without removing the socket file: libuv
 * unlinks a pipe's path when it closes its handle, so the path is kept by a second link that
 * takes its place again. (Node offers no other way to make a listening Unix socket to hand over.)
 */
function listenFor(path: string): { fd: number; release(): void } {
  rmSync(path, { force: true });
  const server = createServer();
  server.listen(path); // binds and listens at once for a path; nothing is accepted before release
  const handle = (server as unknown as { _handle: { fd: number; close(): void } | null })._handle;
  if (!handle || !(handle.fd >= 0)) throw new Error('no listening descriptor');
  return {
    fd: handle.fd,
    release() {
      const keep = `${path}.keep`;
      rmSync(keep, { force: true });
      linkSync(path, keep);
      handle.close();
      renameSync(keep, path);
    },
  };
}

/** The one child of a process, from /proc (undefined until it has forked it). */
function childOf(pid: number): number | undefined {
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

/** bwrap's info fd carries `{"child-pid": N, …}` once the sandbox is up. */
function readInfo(stream: Readable, onPid: (pid: number) => void): void {
  let text = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    if (text.length > 4096) return; // bwrap's info is a few hundred bytes
    text += chunk;
    const m = /"child-pid"\s*:\s*(\d+)/.exec(text);
    if (m) onPid(Number(m[1]));
  });
  stream.on('error', () => undefined);
}

function failed(reason: string): LaunchedProcess {
  return { pid: undefined, exited: Promise.resolve({ code: null, signal: null, spawnError: reason }), kill: () => undefined };
}
