/** How a pool worker process is started: the seam where a sandbox launcher plugs in later. */
export interface LaunchSpec {
  /** For logs: `<model>/<version>#<index>`. */
  id: string;
  command: string;
  args: string[];
  /** The complete environment of the new process: nothing is inherited implicitly. */
  env: Record<string, string>;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The process could not be started at all: the errno code (EMFILE, EAGAIN, ENOENT, …). */
  spawnError?: string;
}

export interface LaunchedProcess {
  readonly pid: number | undefined;
  readonly exited: Promise<ExitStatus>;
  kill(signal: NodeJS.Signals): void;
}

export interface Launcher {
  launch(spec: LaunchSpec): LaunchedProcess;
}
