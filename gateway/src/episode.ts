/**
 * Turns a stream of like events (refused connections, failed audit writes) into episodes: one
 * call when the first event comes, one when none has come for `quietMs`, with the count. An
 * attack or an outage then costs one log line at each end, not one per event.
 */
export class Episode<T = void> {
  private count = 0;
  private startedAt = 0;
  private lastAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly opts: {
      quietMs: number;
      /** With the first event's detail. */
      onStart: (first: T) => void;
      onEnd: (summary: { count: number; startedAt: Date; endedAt: Date }) => void;
    },
  ) {}

  get active(): boolean {
    return this.timer !== undefined;
  }

  note(detail: T, now = Date.now()): void {
    this.count++;
    this.lastAt = now;
    if (this.timer) return;
    this.startedAt = now;
    this.opts.onStart(detail);
    this.schedule(this.opts.quietMs);
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      const quiet = Date.now() - this.lastAt;
      if (quiet < this.opts.quietMs) return this.schedule(this.opts.quietMs - quiet);
      this.timer = undefined;
      const summary = { count: this.count, startedAt: new Date(this.startedAt), endedAt: new Date(this.lastAt) };
      this.count = 0;
      this.opts.onEnd(summary);
    }, ms);
    this.timer.unref();
  }

  /** Ends an open episode now (on stop), reporting it. */
  flush(): void {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    const summary = { count: this.count, startedAt: new Date(this.startedAt), endedAt: new Date(this.lastAt) };
    this.count = 0;
    this.opts.onEnd(summary);
  }
}
