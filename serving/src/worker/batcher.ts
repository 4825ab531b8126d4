/**
 * The pool's dynamic batcher, in the manner of Triton's: requests wait in one queue while the
 * model runs; when it is free, the oldest request and every compatible one behind it (up to
 * `maxItems` items in all) go into one run. With no delay this costs no latency (a lone request
 * runs at once) and under concurrency it trades many small runs for a few large ones.
 * `maxQueueDelayMs` lets a not-yet-full batch wait that long for company (a batch of another
 * shape that is already full goes first meanwhile).
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
    const wait = this.readyKey() === undefined ? this.queue[0].enqueuedAt + this.opts.maxQueueDelayMs - performance.now() : 0;
    if (wait > 0) {
      this.scheduled ??= setTimeout(() => this.dispatch(), wait);
      return;
    }
    if (this.scheduled) clearTimeout(this.scheduled);
    // setImmediate, not now: requests that arrived in the same turn of the event loop join this run.
    this.scheduled = 'now';
    setImmediate(() => this.dispatch());
  }

  /**
   * The key to run now: the first (in queue order) whose requests fill a batch, else the oldest
   * request's once it has waited out the delay; undefined while the oldest may still wait for company.
   */
  private readyKey(): string | undefined {
    const head = this.queue[0];
    if (this.opts.maxItems === 0 || performance.now() - head.enqueuedAt >= this.opts.maxQueueDelayMs) return head.key;
    const items = new Map<string, number>();
    for (const job of this.queue) {
      if (cancelled(job)) continue;
      const n = (items.get(job.key) ?? 0) + job.items;
      if (n >= this.opts.maxItems) return job.key;
      items.set(job.key, n);
    }
    return undefined;
  }

  private dispatch(): void {
    this.scheduled = undefined;
    if (this.running) return;
    this.dropCancelled();
    if (this.queue.length === 0) return;
    const batch = this.take(this.readyKey() ?? this.queue[0].key);
    this.running = true;
    void this.runBatch(batch).finally(() => {
      this.running = false;
      this.busySince = undefined;
      this.schedule();
    });
  }

  /** One run for the batch; never throws, and settles every job in it. */
  private async runBatch(batch: Job<P, R>[]): Promise<void> {
    const dispatchedAt = performance.now();
    this.busySince = dispatchedAt;
    let runStartedAt = dispatchedAt;
    const items = batch.reduce((n, j) => n + j.items, 0);
    try {
      const results = await this.opts.run(
        batch.map((j) => j.part),
        () => (runStartedAt = performance.now()),
      );
      if (results.length !== batch.length) throw new Error(`a run answered ${results.length} of ${batch.length} requests`);
      const finishedAt = performance.now();
      batch.forEach((job, i) =>
        job.resolve({ result: results[i], timing: { enqueuedAt: job.enqueuedAt, dispatchedAt, runStartedAt, finishedAt, batchItems: items, batchRequests: batch.length } }),
      );
    } catch (err) {
      // A run that fails with company is retried one request at a time: one bad request must
      // not fail the others it happened to share a batch with.
      if (batch.length === 1) batch[0].reject(err);
      else {
        for (const job of batch) {
          if (cancelled(job)) job.reject(new CancelledError('the client went away'));
          else await this.runBatch([job]);
        }
      }
    }
  }

  private dropCancelled(): void {
    const live = this.queue.filter((job) => {
      if (cancelled(job)) job.reject(new CancelledError('the client went away'));
      return !cancelled(job);
    });
    this.queue.splice(0, this.queue.length, ...live);
  }

  /** The requests of `key`, oldest first, greedily within the item budget (the oldest always goes); the rest stay queued. */
  private take(key: string): Job<P, R>[] {
    if (this.opts.maxItems === 0) return [this.queue.shift()!];
    const batch: Job<P, R>[] = [];
    let items = 0;
    const rest: Job<P, R>[] = [];
    for (const job of this.queue) {
      if (job.key === key && (batch.length === 0 || items + job.items <= this.opts.maxItems)) {
        batch.push(job);
        items += job.items;
      } else rest.push(job);
    }
    this.queue.splice(0, this.queue.length, ...rest);
    return batch;
  }
}
