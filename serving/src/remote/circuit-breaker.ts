/** closed: requests flow; open: refused at once; half-open: one trial request is out. */
export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitOptions {
  /** Failures in a row that open the circuit. */
  failures: number;
  openMs: number;
  /** Each reopening doubles the open time, up to this. */
  maxOpenMs: number;
}

/**
 * Consecutive-failure circuit breaking, as Envoy's outlier detection ejects a host after
 * `consecutive_5xx` and for longer each time. Written here rather than taken from a library
 * (opossum and friends wrap a function and time it themselves): the backend already knows which
 * outcomes are failures, and a passing active health check must be able to close the circuit.
 */
export class CircuitBreaker {
  private state_: CircuitState = 'closed';
  private consecutive = 0;
  private openings = 0;
  private openUntil = 0;
  private trialOut = false;

  constructor(
    private readonly opts: CircuitOptions,
    private readonly now: () => number = Date.now,
    /** Told of every change, for the log and the audit. */
    private readonly onChange: (state: CircuitState, detail: { failures: number; openMs?: number }) => void = () => undefined,
  ) {}

  get state(): CircuitState {
    return this.state_;
  }

  get consecutiveFailures(): number {
    return this.consecutive;
  }

  /**
   * Whether a request may go now: `pass` while closed, `trial` for the one request that decides a
   * half-open circuit (its holder must report success, failure or release), null when refused.
   */
  allow(): 'pass' | 'trial' | null {
    if (this.state_ === 'closed') return 'pass';
    if (this.state_ === 'open') {
      if (this.now() < this.openUntil) return null;
      this.set('half-open', {});
    }
    if (this.trialOut) return null;
    this.trialOut = true;
    return 'trial';
  }

  /** Open, but its time is up: the next request is a trial (so the backend counts as serving). */
  get trialDue(): boolean {
    return (this.state_ === 'open' && this.now() >= this.openUntil) || (this.state_ === 'half-open' && !this.trialOut);
  }

  /**
   * A passing active health check once open_ms has passed closes the circuit, as Envoy's
   * `successful_active_health_check_uneject_host` does: without it a circuit that opened while
   * traffic stopped would stay open (and the model unready) until a client happened to call.
   */
  healthPassed(): void {
    if (this.trialDue) this.success();
  }

  success(): void {
    this.consecutive = 0;
    this.trialOut = false;
    if (this.state_ !== 'closed') {
      this.openings = 0;
      this.set('closed', {});
    }
  }

  failure(): void {
    this.consecutive++;
    if (this.state_ === 'half-open' || (this.state_ === 'closed' && this.consecutive >= this.opts.failures)) this.open();
  }

  /** The trial request ended without a verdict on the server (its client left): the next request is the trial. */
  releaseTrial(): void {
    this.trialOut = false;
  }

  /** Seconds until a trial request may go: at least 1. */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((this.openUntil - this.now()) / 1000));
  }

  private open(): void {
    const openMs = Math.min(this.opts.maxOpenMs, this.opts.openMs * 2 ** this.openings);
    this.openings++;
    this.openUntil = this.now() + openMs;
    this.trialOut = false;
    this.set('open', { openMs });
  }

  private set(state: CircuitState, detail: { openMs?: number }): void {
    this.state_ = state;
    this.onChange(state, { failures: this.consecutive, ...detail });
  }
}
