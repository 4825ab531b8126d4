import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { EXIT_DO_NOT_RESTART } from '../exit-codes.js';
import { GATEWAY_SIDE_ERRORS, probeReady } from './health-probe.js';
import type { ExitStatus, Launcher, LaunchSpec } from './launcher.js';
import { Pool } from './pool.js';
import { WorkerSlot } from './worker-slot.js';

export interface RestartPolicy {
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** More unexpected exits than this within windowMs quarantines the worker. */
  maxRestarts: number;
  windowMs: number;
  /** A quarantined worker is tried once more after this long (doubling each time, up to maxQuarantineRetryMs); 0: never by itself. */
  quarantineRetryMs: number;
  maxQuarantineRetryMs: number;
}

export interface HealthPolicy {
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive failed probes before a live but unresponsive worker is killed and replaced. */
  failuresBeforeReplace: number;
  startTimeoutMs: number;
}

export interface SupervisorOptions {
  launcher: Launcher;
  restart: RestartPolicy;
  health: HealthPolicy;
  log: Logger;
}

export interface WorkerDefinition {
  socketPath: string;
  launch: LaunchSpec;
}

/**
 * Starts pool workers through a launcher, probes them, restarts crashed or hung ones with
 * exponential backoff and quarantines crash loops. Knows nothing about models or ONNX: a worker
 * is a process that answers `GET /v2/health/ready` on its socket.
 *
 * A quarantined worker is not given up on for good: it is tried once more after a growing delay
 * (half-open: one early crash puts it straight back), and an operator can restart a pool at once.
 * Failures that are the gateway's own (no descriptors to spawn or probe with, a blocked event
 * loop) never count against a worker.
 *
 * Events: 'worker-up' (slot), 'worker-exit' (slot, reason), 'worker-quarantined' (slot),
 * 'worker-spawn-failed' (slot, errno code), 'worker-oom' (slot).
 */
export class Supervisor extends EventEmitter {
  /** In the order added: a model version loaded again has two pools until the older one is removed. */
  private readonly pools = new Set<Pool>();
  private healthTimer: NodeJS.Timeout | undefined;
  private stopping = false;

  constructor(private readonly opts: SupervisorOptions) {
    super();
  }

  /**
   * Adds a pool; before start() it starts with the rest, after it with startPool(). A key may be
   * added again (a model version loaded live): the newer pool is the one pool(key) finds, and
   * the older keeps its workers until removePool().
   */
  addPool(key: string, definitions: WorkerDefinition[]): Pool {
    const pool = new Pool(key, definitions.map((d, i) => new WorkerSlot(key, i, d.socketPath, d.launch)));
    this.pools.add(pool);
    return pool;
  }

  /** The newest pool added under this key. */
  pool(key: string): Pool | undefined {
    let found: Pool | undefined;
    for (const p of this.pools) if (p.key === key) found = p;
    return found;
  }

  allPools(): Pool[] {
    return [...this.pools];
  }

  /** Starts the workers of a pool added after start(); resolves with how many became ready. */
  async startPool(pool: Pool): Promise<number> {
    const started = await Promise.all(pool.workers.map((w) => this.startWorker(w)));
    return started.filter(Boolean).length;
  }

  /**
   * Takes a pool out for good (a version unloaded or replaced): its workers get SIGTERM, SIGKILL
   * after graceMs, and are never restarted. Requests still on them fail, so callers drain first.
   */
  async removePool(pool: Pool, graceMs: number): Promise<void> {
    this.pools.delete(pool);
    for (const w of pool.workers) w.retired = true;
    await stopWorkers(pool.workers, graceMs);
  }

  /** Starts every worker; resolves once each has become ready or failed its first start. */
  async start(): Promise<void> {
    const firstStarts = this.allPools().flatMap((p) => p.workers.map((w) => this.startWorker(w)));
    this.healthTimer = setInterval(() => this.probeAll(), this.opts.health.intervalMs);
    this.healthTimer.unref();
    await Promise.all(firstStarts);
  }

  /** SIGTERM every worker, SIGKILL what is still alive after graceMs; no restarts from here on. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    clearInterval(this.healthTimer);
    await stopWorkers([...this.pools].flatMap((p) => p.workers), graceMs);
  }

  private async startWorker(slot: WorkerSlot): Promise<boolean> {
    if (this.stopping || slot.retired) return false;
    slot.state = 'starting';
    slot.healthFailures = 0;
    const proc = this.opts.launcher.launch(slot.launch);
    slot.process = proc;
    let exited = false;
    proc.exited.then((status) => {
      exited = true;
      this.onExit(slot, proc, status);
    });
    const deadline = Date.now() + this.opts.health.startTimeoutMs;
    while (!exited && slot.process === proc && !this.stopping && !slot.retired) {
      if ((await probeReady(slot.socketPath, Math.min(this.opts.health.timeoutMs, 1000))) === 'ready') {
        if (slot.process !== proc || exited || this.stopping || slot.retired) return false;
        slot.state = 'up';
        slot.upSince = Date.now();
        this.opts.log.info({ pool: slot.pool, worker: slot.index, pid: proc.pid }, 'pool worker up');
        this.emit('worker-up', slot);
        return true;
      }
      if (Date.now() > deadline) {
        this.opts.log.error({ pool: slot.pool, worker: slot.index, timeoutMs: this.opts.health.startTimeoutMs }, 'pool worker did not become ready in time; killing it');
        proc.kill('SIGKILL');
        return false;
      }
      await delay(25);
    }
    return false;
  }

  private onExit(slot: WorkerSlot, proc: unknown, status: ExitStatus): void {
    if (slot.process !== proc) return;
    slot.process = undefined;
    const upFor = slot.upSince ? Date.now() - slot.upSince : 0;
    slot.upSince = 0;
    if (this.stopping || slot.retired || slot.state === 'stopped') return;
    const { initialBackoffMs, maxBackoffMs, maxRestarts, windowMs } = this.opts.restart;
    if (slot.replacing) {
      slot.replacing = false;
      slot.reason = 'restarted by an operator';
      this.emit('worker-exit', slot, slot.reason);
      void this.startWorker(slot);
      return;
    }
    if (status.spawnError && GATEWAY_SIDE_ERRORS.has(status.spawnError)) {
      // The gateway could not start a process (out of descriptors, processes, memory): not the
      // worker's fault, so it does not count towards quarantine. Retry at the longest backoff.
      slot.reason = `could not be started: ${status.spawnError}`;
      this.opts.log.error({ pool: slot.pool, worker: slot.index, error: status.spawnError }, `pool worker could not be started (${status.spawnError}): the gateway is out of a resource, not the worker; retrying`);
      this.emit('worker-spawn-failed', slot, status.spawnError);
      this.retryLater(slot, maxBackoffMs);
      return;
    }
    const reason = status.oom
      ? 'OOM: killed by the kernel for going over its memory limit (pool.resources.memory_mb)'
      : status.spawnError ? `could not be started: ${status.spawnError}` : status.signal ? `killed by ${status.signal}` : `exited with status ${status.code}`;
    slot.reason = reason;
    // An OOM kill is told apart from other crashes, and counts towards quarantine like any crash.
    if (status.oom) this.emit('worker-oom', slot);
    this.emit('worker-exit', slot, reason);
    if (status.code === EXIT_DO_NOT_RESTART) {
      this.quarantine(slot, `worker refused to serve (${reason}); restarting cannot help`, false);
      return;
    }
    // A worker that served a whole window since its last start has recovered for good.
    if (upFor >= windowMs) {
      slot.halfOpen = false;
      slot.quarantineRetries = 0;
    }
    if (slot.halfOpen) {
      this.quarantine(slot, `crashed again on its trial out of quarantine (${reason})`, true);
      return;
    }
    const now = Date.now();
    slot.recentExits = slot.recentExits.filter((t) => now - t < windowMs);
    slot.recentExits.push(now);
    if (slot.recentExits.length > maxRestarts) {
      this.quarantine(slot, `crashed ${slot.recentExits.length} times within ${windowMs} ms (last: ${reason})`, true);
      return;
    }
    const backoff = Math.min(initialBackoffMs * 2 ** (slot.recentExits.length - 1), maxBackoffMs);
    slot.restarts++;
    this.opts.log.warn({ pool: slot.pool, worker: slot.index, reason, backoffMs: backoff }, 'pool worker died; restarting after backoff');
    this.retryLater(slot, backoff);
  }

  private retryLater(slot: WorkerSlot, ms: number): void {
    slot.state = 'backoff';
    slot.nextStartAt = Date.now() + ms;
    slot.restartTimer = setTimeout(() => void this.startWorker(slot), ms);
  }

  private quarantine(slot: WorkerSlot, reason: string, retry: boolean): void {
    slot.state = 'quarantined';
    slot.reason = reason;
    slot.halfOpen = false;
    const { quarantineRetryMs, maxQuarantineRetryMs } = this.opts.restart;
    if (retry && quarantineRetryMs > 0) {
      const delay = Math.min(quarantineRetryMs * 2 ** slot.quarantineRetries, maxQuarantineRetryMs);
      slot.quarantineRetries++;
      slot.nextStartAt = Date.now() + delay;
      slot.restartTimer = setTimeout(() => {
        if (this.stopping || slot.state !== 'quarantined') return;
        this.opts.log.warn({ pool: slot.pool, worker: slot.index }, 'trying a quarantined pool worker once more (half-open)');
        slot.halfOpen = true;
        slot.recentExits = [];
        void this.startWorker(slot);
      }, delay);
      this.opts.log.error({ pool: slot.pool, worker: slot.index, reason, retryInMs: delay }, 'pool worker QUARANTINED: not restarting it until its next trial');
    } else {
      slot.nextStartAt = 0;
      this.opts.log.error({ pool: slot.pool, worker: slot.index, reason }, 'pool worker QUARANTINED: not restarting it until an operator does');
    }
    this.emit('worker-quarantined', slot);
  }

  /**
   * Restarts every worker of a pool now, whatever its state (an operator's action, e.g. after
   * fixing a model): forgets its crash history; a live worker is stopped gracefully first.
   * Returns false if there is no such pool.
   */
  restartPool(key: string, graceMs = 5_000): boolean {
    const pool = this.pool(key);
    if (!pool || this.stopping) return false;
    for (const slot of pool.workers) {
      clearTimeout(slot.restartTimer);
      slot.recentExits = [];
      slot.quarantineRetries = 0;
      slot.halfOpen = false;
      const proc = slot.process;
      if (proc) {
        slot.replacing = true;
        slot.state = 'backoff'; // out of the request path at once
        slot.nextStartAt = Date.now();
        proc.kill('SIGTERM');
        setTimeout(() => slot.process === proc && proc.kill('SIGKILL'), graceMs).unref();
      } else {
        void this.startWorker(slot);
      }
    }
    return true;
  }

  private probeAll(): void {
    for (const pool of this.pools) {
      for (const slot of pool.workers) {
        if (slot.state !== 'up' || slot.probing) continue;
        const proc = slot.process;
        slot.probing = true;
        void probeReady(slot.socketPath, this.opts.health.timeoutMs).then((result) => {
          slot.probing = false;
          if (slot.process !== proc || slot.state !== 'up') return;
          if (result === 'ready') {
            slot.healthFailures = 0;
            return;
          }
          if (result === 'inconclusive') return; // the gateway's failure, not the worker's
          slot.healthFailures++;
          if (slot.healthFailures >= this.opts.health.failuresBeforeReplace) {
            this.opts.log.error({ pool: slot.pool, worker: slot.index, failures: slot.healthFailures }, 'pool worker unresponsive; killing and replacing it');
            // Out of the request path at once; the exit handler restarts it.
            slot.state = 'backoff';
            proc?.kill('SIGKILL');
          }
        });
      }
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** SIGTERM each worker, SIGKILL what is still alive after graceMs; none is restarted after. */
async function stopWorkers(workers: WorkerSlot[], graceMs: number): Promise<void> {
  const exits: Promise<unknown>[] = [];
  for (const w of workers) {
    clearTimeout(w.restartTimer);
    w.state = w.state === 'quarantined' ? 'quarantined' : 'stopped';
    const proc = w.process;
    if (!proc) continue;
    proc.kill('SIGTERM');
    exits.push(
      Promise.race([proc.exited, delay(graceMs).then(() => 'timeout')]).then(async (r) => {
        if (r === 'timeout') {
          proc.kill('SIGKILL');
          await proc.exited;
        }
      }),
    );
  }
  await Promise.all(exits);
}
