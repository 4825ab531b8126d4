import type { ResourceLimits } from './sandbox/cgroups.js';
import type { SandboxView } from './sandbox/bwrap.js';

/** How a pool worker process is started: plainly, or in a sandbox (SandboxLauncher). */
export interface LaunchSpec {
  /** For logs: `<model>/<version>#<index>`. */
  id: string;
  command: string;
  args: string[];
  /** The complete environment of the new process: nothing is inherited implicitly. */
  env: Record<string, string>;
  /** What the worker may see and use when it runs sandboxed (a plain launcher ignores it). */
  sandbox?: SandboxView & { resources?: ResourceLimits };
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The process could not be started at all: the errno code (EMFILE, EAGAIN, ENOENT, …). */
  spawnError?: string;
  /** The kernel killed it for going over its cgroup's memory limit. */
  oom?: boolean;
}

export interface LaunchedProcess {
  readonly pid: number | undefined;
  readonly exited: Promise<ExitStatus>;
  kill(signal: NodeJS.Signals): void;
}

export interface Launcher {
  launch(spec: LaunchSpec): LaunchedProcess;
}
