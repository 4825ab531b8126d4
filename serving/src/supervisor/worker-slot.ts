import type { LaunchedProcess, LaunchSpec } from './launcher.js';

export type WorkerState = 'starting' | 'up' | 'backoff' | 'quarantined' | 'stopped';

/** One worker process of a pool, as the supervisor sees it. The supervisor alone changes it. */
export class WorkerSlot {
  state: WorkerState = 'stopped';
  /** Requests the gateway has sent and not yet seen answered. */
  inflight = 0;
  /** Restarts since vigil started. */
  restarts = 0;
  /** Why the worker last exited, or why it is quarantined. */
  reason: string | undefined;
  /** When a worker in backoff will be started again (epoch ms). */
  nextStartAt = 0;
  process: LaunchedProcess | undefined;
  /** Times of recent unexpected exits, for backoff and crash-loop detection. */
  recentExits: number[] = [];
  healthFailures = 0;
  probing = false;
  restartTimer: NodeJS.Timeout | undefined;
  /** When the current process became ready (epoch ms), 0 while it is not. */
  upSince = 0;
  /** Automatic retries of this worker out of quarantine so far (the delay doubles each time). */
  quarantineRetries = 0;
  /** On trial out of quarantine: one early crash puts it straight back. */
  halfOpen = false;
  /** Being replaced on purpose (an operator's restart): its exit is not a crash. */
  replacing = false;
  /** Its pool was removed (unloaded or replaced): never started again. */
  retired = false;

  constructor(
    readonly pool: string,
    readonly index: number,
    readonly socketPath: string,
    readonly launch: LaunchSpec,
  ) {}

  get pid(): number | undefined {
    return this.process?.pid;
  }
}
