import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { EXIT_DO_NOT_RESTART } from '../exit-codes.js';
import { probeReady } from './health-probe.js';
import type { ExitStatus, Launcher, LaunchSpec } from './launcher.js';
import { Pool } from './pool.js';
import { WorkerSlot } from './worker-slot.js';

export interface RestartPolicy {
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** More unexpected exits than this within windowMs quarantines the worker. */
  maxRestarts: number;
  windowMs: number;
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
 * Events: 'worker-up' (slot), 'worker-exit' (slot, reason), 'worker-quarantined' (slot).
 */
export class Supervisor extends EventEmitter {
  private readonly pools = new Map<string, Pool>();
  private healthTimer: NodeJS.Timeout | undefined;
  private stopping = false;

  constructor(private readonly opts: SupervisorOptions) {
    super();
  }

  addPool(key: string, definitions: WorkerDefinition[]): Pool {
    if (this.pools.has(key)) throw new Error(`pool ${key} already exists`);
    const pool = new Pool(key, definitions.map((d, i) => new WorkerSlot(key, i, d.socketPath, d.launch)));
    this.pools.set(key, pool);
    return pool;
  }

  pool(key: string): Pool | undefined {
    return this.pools.get(key);
  }

  allPools(): Pool[] {
    return [...this.pools.values()];
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
    const exits: Promise<unknown>[] = [];
    for (const pool of this.pools.values()) {
      for (const w of pool.workers) {
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
    }
    await Promise.all(exits);
  }

  private async startWorker(slot: WorkerSlot): Promise<boolean> {
    if (this.stopping) return false;
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
    while (!exited && slot.process === proc && !this.stopping) {
      if (await probeReady(slot.socketPath, Math.min(this.opts.health.timeoutMs, 1000))) {
        if (slot.process !== proc || exited || this.stopping) return false;
        slot.state = 'up';
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
    if (this.stopping || slot.state === 'stopped') return;
    const reason = status.signal ? `killed by ${status.signal}` : `exited with status ${status.code}`;
    slot.reason = reason;
    this.emit('worker-exit', slot, reason);
    if (status.code === EXIT_DO_NOT_RESTART) {
      this.quarantine(slot, `worker refused to serve (${reason}); restarting cannot help`);
      return;
    }
    const now = Date.now();
    const { initialBackoffMs, maxBackoffMs, maxRestarts, windowMs } = this.opts.restart;
    slot.recentExits = slot.recentExits.filter((t) => now - t < windowMs);
    slot.recentExits.push(now);
    if (slot.recentExits.length > maxRestarts) {
      this.quarantine(slot, `crashed ${slot.recentExits.length} times within ${windowMs} ms (last: ${reason})`);
      return;
    }
    const backoff = Math.min(initialBackoffMs * 2 ** (slot.recentExits.length - 1), maxBackoffMs);
    slot.state = 'backoff';
    slot.nextStartAt = now + backoff;
    slot.restarts++;
    this.opts.log.warn({ pool: slot.pool, worker: slot.index, reason, backoffMs: backoff }, 'pool worker died; restarting after backoff');
    slot.restartTimer = setTimeout(() => void this.startWorker(slot), backoff);
  }

  private quarantine(slot: WorkerSlot, reason: string): void {
    slot.state = 'quarantined';
    slot.reason = reason;
    this.opts.log.error({ pool: slot.pool, worker: slot.index, reason }, 'pool worker QUARANTINED: not restarting it');
    this.emit('worker-quarantined', slot);
  }

  private probeAll(): void {
    for (const pool of this.pools.values()) {
      for (const slot of pool.workers) {
        if (slot.state !== 'up' || slot.probing) continue;
        const proc = slot.process;
        slot.probing = true;
        void probeReady(slot.socketPath, this.opts.health.timeoutMs).then((ok) => {
          slot.probing = false;
          if (slot.process !== proc || slot.state !== 'up') return;
          if (ok) {
            slot.healthFailures = 0;
            return;
          }
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
