import type { WorkerSlot } from './worker-slot.js';

/**
 * ready: every worker up; degraded: some up (still serving); unavailable: none up yet, some
 * starting or waiting to restart; quarantined: every worker gave up on.
 */
export type PoolStatus = 'ready' | 'degraded' | 'unavailable' | 'quarantined';

/** The workers serving one model version. */
export class Pool {
  constructor(
    readonly key: string,
    readonly workers: WorkerSlot[],
  ) {}

  get status(): PoolStatus {
    let up = 0;
    let quarantined = 0;
    for (const w of this.workers) {
      if (w.state === 'up') up++;
      else if (w.state === 'quarantined') quarantined++;
    }
    if (up === this.workers.length) return 'ready';
    if (up > 0) return 'degraded';
    return quarantined === this.workers.length ? 'quarantined' : 'unavailable';
  }

  /** The live worker with the fewest requests in flight, or undefined if none is up. */
  pick(): WorkerSlot | undefined {
    let best: WorkerSlot | undefined;
    for (const w of this.workers) {
      if (w.state === 'up' && (best === undefined || w.inflight < best.inflight)) best = w;
    }
    return best;
  }

  /** When a quarantined worker of this pool will next be tried by itself (epoch ms), if ever. */
  nextTrialAt(): number | undefined {
    let soonest: number | undefined;
    for (const w of this.workers) if (w.state === 'quarantined' && w.nextStartAt > 0) soonest = Math.min(soonest ?? Infinity, w.nextStartAt);
    return soonest;
  }

  /** Seconds a client should wait before retrying while no worker is up: at least 1. */
  retryAfterSeconds(now = Date.now()): number {
    let soonest = Infinity;
    for (const w of this.workers) {
      if (w.state === 'starting') soonest = Math.min(soonest, now);
      else if (w.state === 'backoff') soonest = Math.min(soonest, w.nextStartAt);
    }
    if (soonest === Infinity) return 1;
    return Math.max(1, Math.ceil((soonest - now) / 1000) + 1);
  }
}
