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
  /** Bound read-only at the same path (the worker's code). */
  readOnly: string[];
  /** Bound writable at the same path (its traces directory). */
  writable: string[];
  /** Files handed over open, by descriptor: environment variable → path (the model file). */
  files?: Record<string, string>;
  /** A Unix socket path the launcher listens on for the worker and hands over (LISTEN_FD_ENV). */
  listen?: string;
}

/**
 * The bubblewrap arguments for one worker: new PID, IPC, UTS, cgroup and network namespaces (a
 * network of its own with only a loopback nothing listens on: no way out), a new session (no
 * terminal injection), killed when the launcher dies; the system's programs and libraries
 * read-only (/usr, as merged-/usr Debian lays them out), a private /tmp and /dev, its own /proc
 * with the kernel's knobs read-only, and nothing else of the host: no /home, /root, /etc beyond
 * the dynamic loader's cache, no gateway state, policy or other model.
 *
 * Never as root. A gateway that is not root runs bwrap in a user namespace (all capabilities
 * dropped, no further user namespaces). A root gateway must not do that: root in a user namespace
 * is still uid 0 to the kernel's uid checks (a sysctl such as core_pattern runs a program as the
 * host's root). It runs bwrap without a user namespace and the worker through `dropTo` (setpriv:
 * an unprivileged uid, no capabilities, an empty bounding set, no new privileges).
 */
export function bwrapArgs(view: SandboxView, fds: { info?: number; seccomp?: number } = {}, dropTo?: { uid: number; gid: number }): string[] {
  const args = [
    ...(dropTo ? [] : ['--unshare-user', '--cap-drop', 'ALL', '--disable-userns']),
    '--unshare-pid', '--unshare-net', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try',
    '--die-with-parent', '--new-session',
    '--ro-bind', '/usr', '/usr',
  ];
  // Merged /usr: /lib, /lib64 and /bin are links into it; elsewhere they are directories.
  for (const dir of ['/lib', '/lib64', '/bin']) {
    if (!existsSync(dir)) continue;
    args.push(...(isLinkIntoUsr(dir) ? ['--symlink', `usr${dir}`, dir] : ['--ro-bind', dir, dir]));
  }
  args.push('--perms', '0755', '--dir', '/etc', '--ro-bind-try', '/etc/ld.so.cache', '/etc/ld.so.cache');
  // The private /tmp first: the binds below may lie under /tmp (the sockets' directory does).
  args.push('--proc', '/proc', '--dev', '/dev', '--perms', '1777', '--tmpfs', '/tmp');
  // The kernel's knobs in /proc answer to uid 0 whatever the capabilities: read-only, always.
  for (const p of ['/proc/sys', '/proc/sysrq-trigger', '/proc/irq', '/proc/bus', '/proc/fs']) args.push('--ro-bind-try', p, p);
  // The directories above each bind, passable by the worker's user (they hold nothing else).
  const made = new Set(['/', '/tmp', '/usr', '/etc', '/proc', '/dev']);
  for (const p of [...view.readOnly, ...view.writable]) {
    const parts = p.split('/').filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const dir = `/${parts.slice(0, i).join('/')}`;
      if (made.has(dir) || dir.startsWith('/usr/')) continue;
      made.add(dir);
      args.push('--perms', '0755', '--dir', dir);
    }
  }
  for (const p of view.readOnly) args.push('--ro-bind', p, p);
  for (const p of view.writable) args.push('--bind', p, p);
  args.push('--chdir', '/');
  if (fds.info !== undefined) args.push('--info-fd', String(fds.info));
  if (fds.seccomp !== undefined) args.push('--seccomp', String(fds.seccomp));
  return args;
}

/** The command that drops a root-started sandbox to `user` before it runs the worker (see bwrapArgs). */
export function dropPrivileges(user: { uid: number; gid: number }): string[] {
  return ['/usr/bin/setpriv', '--reuid', String(user.uid), '--regid', String(user.gid), '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--'];
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
export function probeBwrap(path: string, readOnly: string[] = [], user?: { uid: number; gid: number }): string | null {
  // As the workers will run: the same view, the same user.
  const args = [...bwrapArgs({ readOnly, writable: [] }, {}, user), ...(user ? dropPrivileges(user) : []), '/usr/bin/true'];
  const r = spawnSync(path, args, { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return `${path} could not run: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}`;
  if (r.status !== 0) return `${path} could not make a sandbox: ${(r.stderr || `status ${r.status}`).trim().slice(0, 200)}`;
  return null;
}
