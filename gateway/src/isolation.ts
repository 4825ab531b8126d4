import type { Logger } from 'pino';
import { ChildProcessLauncher } from '../../serving/src/supervisor/child-process-launcher.js';
import type { Launcher } from '../../serving/src/supervisor/launcher.js';
import { SandboxLauncher } from '../../serving/src/supervisor/sandbox-launcher.js';
import { bwrapPath, probeBwrap } from '../../serving/src/supervisor/sandbox/bwrap.js';
import { openCgroups, type CgroupHost } from '../../serving/src/supervisor/sandbox/cgroups.js';
import { seccompFilter } from '../../serving/src/supervisor/sandbox/seccomp.js';
import { workerCode } from './pools.js';

/** How the pools are isolated, as /status, the metric and the start-up log report it. */
export interface Isolation {
  requested: 'sandbox' | 'process';
  /** What the workers actually run in. */
  mode: 'sandbox' | 'process';
  /** Where the pools' resource limits are enforced; none: model.yaml's pool.resources are not. */
  limits: 'cgroup-v1' | 'cgroup-v2' | 'none';
  seccomp: boolean;
  /** Why a part of the sandbox is missing. */
  problems: string[];
  /** The uid sandboxed workers run as, when vigil runs as root. */
  uid?: number;
}

/**
 * Chooses the launcher for `pools.isolation`. Sandbox mode needs bubblewrap able to make its
 * namespaces (tried once, as the workers will run) and writable cgroups for the limits; whatever is missing, vigil
 * still starts (a security product that will not start gets switched off) but says so loudly: an
 * error at start, /status, `vigil_pool_isolation` and the Serving dashboard.
 */
export function chooseIsolation(requested: 'sandbox' | 'process', log: Logger, sandboxUid = 65534): { launcher: Launcher; isolation: Isolation; close(): void } {
  if (requested === 'process') {
    log.warn('pools.isolation is process: pool workers are plain processes that can read what the gateway can and reach the network');
    return { launcher: new ChildProcessLauncher(), isolation: { requested, mode: 'process', limits: 'none', seccomp: false, problems: [] }, close: () => undefined };
  }
  const problems: string[] = [];
  const bwrap = bwrapPath();
  // Never root in the sandbox: as root, vigil drops workers to sandbox_uid (setpriv) first.
  const user = process.geteuid?.() === 0 ? { uid: sandboxUid, gid: sandboxUid } : undefined;
  const bwrapProblem = bwrap ? probeBwrap(bwrap, workerCode(), user) : 'bubblewrap is not installed (Debian package bubblewrap)';
  if (bwrapProblem) problems.push(bwrapProblem);
  const cg = openCgroups();
  const cgroups: CgroupHost | undefined = 'problem' in cg ? undefined : cg;
  if ('problem' in cg) problems.push(`no cgroups for resource limits: ${cg.problem}`);
  const seccomp = seccompFilter();
  if ('problem' in seccomp) problems.push(`no seccomp filter: ${seccomp.problem}`);
  const filter = 'problem' in seccomp ? undefined : seccomp.program;
  const isolation: Isolation = {
    requested,
    mode: bwrap && !bwrapProblem ? 'sandbox' : 'process',
    limits: cgroups && bwrap && !bwrapProblem ? (cgroups.version === 2 ? 'cgroup-v2' : 'cgroup-v1') : 'none',
    seccomp: !!filter && !bwrapProblem,
    problems,
    ...(user && !bwrapProblem ? { uid: user.uid } : {}),
  };
  if (isolation.mode === 'process') {
    log.error({ problems }, 'POOLS ARE NOT SANDBOXED: pools.isolation is sandbox but the sandbox cannot be made here; workers run as plain processes (see /status)');
  } else if (problems.length) {
    log.error({ problems, limits: isolation.limits, seccomp: isolation.seccomp }, 'POOL SANDBOX INCOMPLETE: workers are sandboxed, but part of the isolation is missing (see /status)');
  } else {
    log.info({ limits: isolation.limits }, 'pool workers are sandboxed (bubblewrap, no network, cgroup limits, seccomp)');
  }
  if (isolation.mode === 'process') {
    cgroups?.close();
    return { launcher: new ChildProcessLauncher(), isolation, close: () => undefined };
  }
  return { launcher: new SandboxLauncher(bwrap!, cgroups, filter, user), isolation, close: () => cgroups?.close() };
}
