import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readlinkSync } from 'node:fs';

/** Where Debian's bubblewrap package puts it; VIGIL_BWRAP overrides (tests, other layouts). */
export function bwrapPath(env: NodeJS.ProcessEnv = process.env): string | null {
  const path = env.VIGIL_BWRAP ?? '/usr/bin/bwrap';
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    return null;
  }
}

/** What one worker may see: everything else of the host does not exist inside. */
export interface SandboxView {
  /** Bound read-only at the same path (the worker's code, its model version directory). */
  readOnly: string[];
  /** Bound writable at the same path (the directory of its socket). */
  writable: string[];
}

/**
 * The bubblewrap arguments for one worker: new user, PID, IPC, UTS, cgroup and network namespaces
 * (a network of its own with only a loopback nothing listens on: no way out), all capabilities
 * dropped, a new session (no terminal injection), killed when the launcher dies; the system's
 * programs and libraries read-only (/usr, as merged-/usr Debian lays them out), a private /tmp
 * and /dev, its own /proc, and nothing else of the host: no /home, /root, /etc beyond the
 * dynamic loader's cache, no gateway state, policy or other model.
 */
export function bwrapArgs(view: SandboxView, fds: { info?: number; seccomp?: number } = {}): string[] {
  const args = [
    '--unshare-user', '--unshare-pid', '--unshare-net', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try',
    '--die-with-parent', '--new-session', '--cap-drop', 'ALL',
    '--ro-bind', '/usr', '/usr',
  ];
  // Merged /usr: /lib, /lib64 and /bin are links into it; elsewhere they are directories.
  for (const dir of ['/lib', '/lib64', '/bin']) {
    if (!existsSync(dir)) continue;
    args.push(...(isLinkIntoUsr(dir) ? ['--symlink', `usr${dir}`, dir] : ['--ro-bind', dir, dir]));
  }
  args.push('--ro-bind-try', '/etc/ld.so.cache', '/etc/ld.so.cache');
  // The private /tmp first: the binds below may lie under /tmp (the sockets' directory does).
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp');
  for (const p of view.readOnly) args.push('--ro-bind', p, p);
  for (const p of view.writable) args.push('--bind', p, p);
  args.push('--chdir', '/');
  if (fds.info !== undefined) args.push('--info-fd', String(fds.info));
  if (fds.seccomp !== undefined) args.push('--seccomp', String(fds.seccomp));
  return args;
}

function isLinkIntoUsr(dir: string): boolean {
  try {
    return readlinkSync(dir) === `usr${dir}`;
  } catch {
    return false; // not a link
  }
}

/**
 * Whether bubblewrap can make a sandbox here (user namespaces may be disabled, or a container
 * may forbid them): runs `true` in the same sandbox a worker gets. Returns the problem, or null.
 */
export function probeBwrap(path: string): string | null {
  const r = spawnSync(path, [...bwrapArgs({ readOnly: [], writable: [] }), '/usr/bin/true'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return `${path} could not run: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}`;
  if (r.status !== 0) return `${path} could not make a sandbox: ${(r.stderr || `status ${r.status}`).trim().slice(0, 200)}`;
  return null;
}
