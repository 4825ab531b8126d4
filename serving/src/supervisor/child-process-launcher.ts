import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { PARENT_WATCH_FD } from '../worker/parent-watch.js';
import type { ExitStatus, LaunchedProcess, Launcher, LaunchSpec } from './launcher.js';

/**
 * Starts a worker as a plain child process. Its own process group keeps a terminal's Ctrl-C away
 * from it (the gateway drains first, then stops its pools), and the watch pipe lets the worker
 * notice when the gateway dies, so no worker is left orphaned.
 */
export class ChildProcessLauncher implements Launcher {
  launch(spec: LaunchSpec): LaunchedProcess {
    const child = spawn(spec.command, spec.args, {
      env: spec.env,
      // 3: the watch pipe (parent-watch.ts): held open, never written; its EOF tells the worker the gateway died.
      stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
      detached: true,
    });
    holdWatchPipe(child.stdio[PARENT_WATCH_FD] as Socket | null);
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

/**
 * The gateway's end of a worker's watch pipe: kept open (the child object holds it) and never
 * read, so whatever a worker writes into it stays in the kernel's bounded buffer, never in the
 * gateway's memory; a worker gone first must not make it an uncaught error.
 */
export function holdWatchPipe(pipe: Socket | null): void {
  if (!pipe) return;
  pipe.on('error', () => undefined);
  pipe.pause();
}
