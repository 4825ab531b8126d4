import { spawn } from 'node:child_process';
import type { ExitStatus, LaunchedProcess, Launcher, LaunchSpec } from './launcher.js';

/**
 * Starts a worker as a plain child process. Its own process group keeps a terminal's Ctrl-C away
 * from it (the gateway drains first, then stops its pools), and the IPC channel lets the worker
 * notice when the gateway dies, so no worker is left orphaned.
 */
export class ChildProcessLauncher implements Launcher {
  launch(spec: LaunchSpec): LaunchedProcess {
    const child = spawn(spec.command, spec.args, {
      env: spec.env,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      detached: true,
    });
    const exited = new Promise<ExitStatus>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      // spawn failures (EMFILE, EAGAIN, ENOENT, EACCES) emit 'error' and no 'exit'; keep the real reason
      child.once('error', (err: NodeJS.ErrnoException) => resolve({ code: null, signal: null, spawnError: err.code ?? err.message }));
    });
    return {
      pid: child.pid,
      exited,
      kill: (signal) => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      },
    };
  }
}
