/**
 * Large bodies take turns at the event loop. JSON.parse and validation of a body cannot be
 * interrupted and cost ~50 ms per MB of short numbers here; a hundred callers uploading at once
 * used to parse back to back and hold the loop for seconds, so every other caller (and the audit
 * writer's deadline) waited behind them. Bodies of at least `largeBytes` are parsed one at a time,
 * and after each the next waits twice as long as it took: large bodies get at most a third of the
 * loop while they queue (half still let a normal caller's p99 reach ~340 ms in bench:hostile; a
 * third kept it under 250 ms), and a small request waits behind at most one parse per step of its own.
 * A lone large-body client never waits: the gap has passed by its next request.
 */
/** From this size a body takes turns: a 64-row mnist batch (~0.6 MB) does, a one-row request (~8 KB) does not. */
export const LARGE_BODY_BYTES = 64 * 1024;

export class ParseTurns {
  private busy = false;
  private nextAt = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly largeBytes: number) {}

  /** Bodies waiting for their turn, for metrics. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `work` (the parse of a body of `bytes`) now if small, else in its turn. */
  async run<T>(bytes: number, work: () => T): Promise<T> {
    if (bytes < this.largeBytes) return work();
    if (this.busy || this.waiting.length > 0 || performance.now() < this.nextAt) {
      // Resolved with the turn already taken (busy set) on our behalf, so nobody slips in between.
      await new Promise<void>((resolve) => {
        this.waiting.push(resolve);
        this.schedule();
      });
    } else {
      this.busy = true;
    }
    const t0 = performance.now();
    try {
      return work();
    } finally {
      const end = performance.now();
      this.nextAt = end + 2 * (end - t0);
      this.busy = false;
      this.schedule();
    }
  }

  private timer: NodeJS.Timeout | undefined;

  /** Hands the next turn out once the gap has passed (never synchronously: the loop runs in between). */
  private schedule(): void {
    if (this.busy || this.timer || this.waiting.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.busy) return;
      this.busy = true; // held for the waiter, which resumes on a microtask
      this.waiting.shift()!();
    }, Math.max(0, this.nextAt - performance.now()));
  }
}
