/**
 * The pool's dynamic batcher, in the manner of Triton's: requests wait in one queue while the
 * model runs; when it is free, the oldest request and every compatible one behind it (up to
 * `maxItems` items in all) go into one run. With no delay this costs no latency (a lone request
 * runs at once) and under concurrency it trades many small runs for a few large ones.
 * `maxQueueDelayMs` lets a not-yet-full batch wait that long for company.
 */
export interface BatcherOptions<P, R> {
  /** Items (batch rows as the client counts them) a run may hold; 0: the model does not batch, one request per run. */
  maxItems: number;
  maxQueueDelayMs: number;
  /**
   * One run over the parts, in order, answering each; a throw fails them all (they are then
   * retried alone). It calls `started` when the batch is assembled and the model starts.
   */
  run: (parts: P[], started: () => void) => Promise<R[]>;
}

/** Where a request's time went: the timestamps are performance.now() values. */
export interface BatchTiming {
  enqueuedAt: number;
  /** The batch was chosen (queue wait ends, batch formation starts). */
  dispatchedAt: number;
  /** The batch was assembled and the model started. */
  runStartedAt: number;
  finishedAt: number;
  /** Items and requests in the run that served this request. */
  batchItems: number;
  batchRequests: number;
}

interface Job<P, R> {
  part: P;
  key: string;
  items: number;
  enqueuedAt: number;
  signal?: { readonly cancelled: boolean };
  resolve: (r: { result: R; timing: BatchTiming }) => void;
  reject: (err: unknown) => void;
}

function cancelled(job: { signal?: { readonly cancelled: boolean } }): boolean {
  return job.signal?.cancelled === true;
}

/** A request given up on (its client went away) before its run started. */
export class CancelledError extends Error {}

export class DynamicBatcher<P, R> {
  private readonly queue: Job<P, R>[] = [];
  private running = false;
  /** performance.now() when the current run was dispatched; undefined while idle. */
  private busySince: number | undefined;
  private scheduled: 'now' | NodeJS.Timeout | undefined;

  constructor(private readonly opts: BatcherOptions<P, R>) {}

  /** Requests waiting for a run (not counting the one running). */
  get depth(): number {
    return this.queue.length;
  }

  /** How long the model has been busy with its current run, in ms (0 while idle): a stuck run shows here. */
  busyFor(): number {
    return this.busySince === undefined ? 0 : performance.now() - this.busySince;
  }

  /**
   * Queues one request. `key` says which requests may share a run; `cancelled` is polled before
   * the run starts, so a request whose client left never takes a place in a batch.
   */
  submit(part: P, key: string, items: number, signal?: { readonly cancelled: boolean }): Promise<{ result: R; timing: BatchTiming }> {
    return new Promise((resolve, reject) => {
      const job: Job<P, R> = { part, key, items, enqueuedAt: performance.now(), signal, resolve, reject };
      this.queue.push(job);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running || this.queue.length === 0 || this.scheduled === 'now') return;
    const head = this.queue[0];
    const wait = head.enqueuedAt + this.opts.maxQueueDelayMs - performance.now();
    if (wait > 0 && this.opts.maxItems > 0 && this.compatibleItems(head) < this.opts.maxItems) {
      this.scheduled ??= setTimeout(() => this.dispatch(), wait);
      return;
    }
    if (this.scheduled) clearTimeout(this.scheduled);
    // setImmediate, not now: requests that arrived in the same turn of the event loop join this run.
    this.scheduled = 'now';
    setImmediate(() => this.dispatch());
  }

  private compatibleItems(head: Job<P, R>): number {
    let items = 0;
    for (const job of this.queue) if (job.key === head.key && !cancelled(job)) items += job.items;
    return items;
  }

  private dispatch(): void {
    this.scheduled = undefined;
    if (this.running) return;
    const batch = this.take();
    if (batch.length === 0) return;
    this.running = true;
    const dispatchedAt = performance.now();
    this.busySince = dispatchedAt;
    let runStartedAt = dispatchedAt;
    const items = batch.reduce((n, j) => n + j.items, 0);
    this.opts
      .run(
        batch.map((j) => j.part),
        () => (runStartedAt = performance.now()),
      )
      .then(
        (results) => {
          const finishedAt = performance.now();
          batch.forEach((job, i) =>
            job.resolve({ result: results[i], timing: { enqueuedAt: job.enqueuedAt, dispatchedAt, runStartedAt, finishedAt, batchItems: items, batchRequests: batch.length } }),
          );
        },
        // A run that fails with company is retried one request at a time: one bad request must
        // not fail the others it happened to share a batch with.
        (err: unknown) => (batch.length === 1 ? batch[0].reject(err) : this.runAlone(batch)),
      )
      .finally(() => {
        this.running = false;
        this.busySince = undefined;
        this.schedule();
      });
  }

  /** The oldest live request and the compatible ones behind it, oldest first, within the item budget. */
  private take(): Job<P, R>[] {
    while (this.queue.length > 0 && cancelled(this.queue[0])) this.queue.shift()!.reject(new CancelledError('the client went away'));
    if (this.queue.length === 0) return [];
    const head = this.queue[0];
    if (this.opts.maxItems === 0) return [this.queue.shift()!];
    const batch: Job<P, R>[] = [];
    let items = 0;
    const rest: Job<P, R>[] = [];
    for (const job of this.queue) {
      if (cancelled(job)) job.reject(new CancelledError('the client went away'));
      else if (job.key === head.key && (batch.length === 0 || items + job.items <= this.opts.maxItems)) {
        batch.push(job);
        items += job.items;
      } else rest.push(job);
    }
    this.queue.splice(0, this.queue.length, ...rest);
    return batch;
  }

  private async runAlone(batch: Job<P, R>[]): Promise<void> {
    for (const job of batch) {
      const dispatchedAt = performance.now();
      let runStartedAt = dispatchedAt;
      try {
        const [result] = await this.opts.run([job.part], () => (runStartedAt = performance.now()));
        job.resolve({ result, timing: { enqueuedAt: job.enqueuedAt, dispatchedAt, runStartedAt, finishedAt: performance.now(), batchItems: job.items, batchRequests: 1 } });
      } catch (err) {
        job.reject(err);
      }
    }
  }
}
