import type { Logger } from 'pino';
import type { AlertEvent } from './anomaly-detector.js';

/**
 * Sends vigil's alerts to a Prometheus Alertmanager (API v2: POST /api/v2/alerts). A firing
 * alert is re-sent every `resendMs` while it is active: Alertmanager resolves an alert that has
 * no endsAt on its own once `resolve_timeout` passes without news of it. A resolved alert is sent
 * once, with endsAt. Sends are serialised (a resolve never overtakes its own firing), each one
 * retried a bounded number of times; a failure is logged and counted, never thrown: this runs
 * beside the request path, not in it.
 */

/** One alert as Alertmanager's API v2 takes it (postableAlert). */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string;
}

export interface AlertmanagerSinkOptions {
  /** Alertmanager's base URL, e.g. http://alertmanager:9093 */
  url: string;
  resendMs: number;
  log: Logger;
  /** Called once per send that failed after its retries. */
  onError?: (err: unknown) => void;
  /** Attempts per send (default 3), `retryDelayMs` × attempt apart (default 500 ms). */
  attempts?: number;
  retryDelayMs?: number;
  /** Per attempt (default 5 s). */
  timeoutMs?: number;
}

/** auth_failures_by_source → VigilAuthFailuresBySource */
export function alertName(rule: string): string {
  return 'Vigil' + rule.split(/[_\-\s]+/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join('');
}

export function toPostableAlert(ev: AlertEvent): PostableAlert {
  const labels: Record<string, string> = { ...ev.labels, alertname: alertName(ev.rule), severity: ev.severity };
  const where = Object.entries(ev.labels).map(([k, v]) => `${k}=${v}`).join(' ');
  const alert: PostableAlert = {
    labels,
    annotations: {
      summary:
        ev.unit === 'ms'
          ? `${ev.rule}: mean ${round(ev.value)} ms in one interval for ${where || ev.key}, baseline ${round(ev.baseline)} ms (threshold ${round(ev.threshold)} ms)`
          : `${ev.rule}: ${ev.value} in one interval for ${where || ev.key}, baseline ${round(ev.baseline)} (threshold ${round(ev.threshold)})`,
      value: String(ev.value),
      baseline: String(round(ev.baseline)),
    },
    startsAt: ev.startsAt.toISOString(),
  };
  if (ev.endsAt) alert.endsAt = ev.endsAt.toISOString();
  return alert;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

export class AlertmanagerSink {
  private readonly endpoint: string;
  private readonly active = new Map<string, PostableAlert>();
  private readonly timer: NodeJS.Timeout;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  /** Sends that failed after every retry. */
  failures = 0;
  /** Sends Alertmanager accepted. */
  sent = 0;

  constructor(private readonly opts: AlertmanagerSinkOptions) {
    this.endpoint = `${opts.url.replace(/\/+$/, '')}/api/v2/alerts`;
    this.timer = setInterval(() => {
      if (this.active.size > 0) this.send([...this.active.values()]);
    }, opts.resendMs);
    this.timer.unref();
  }

  firing(ev: AlertEvent): void {
    const alert = toPostableAlert(ev);
    this.active.set(keyOf(ev), alert);
    this.send([alert]);
  }

  resolved(ev: AlertEvent): void {
    this.active.delete(keyOf(ev));
    this.send([toPostableAlert({ ...ev, endsAt: ev.endsAt ?? new Date() })]);
  }

  /** Stops re-sending and waits (bounded) for sends under way. Active alerts then expire in Alertmanager after its resolve_timeout. */
  async close(waitMs = 2_000): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await Promise.race([this.queue, new Promise((r) => setTimeout(r, waitMs).unref())]);
  }

  /** Resolves once every send queued so far is done (for tests). */
  flush(): Promise<void> {
    return this.queue;
  }

  private send(alerts: PostableAlert[]): void {
    if (this.closed) return;
    this.queue = this.queue.then(() => this.post(alerts));
  }

  private async post(alerts: PostableAlert[]): Promise<void> {
    const attempts = this.opts.attempts ?? 3;
    const body = JSON.stringify(alerts);
    let lastErr: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const res = await fetch(this.endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5_000),
        });
        const text = await res.text().catch(() => '');
        if (res.ok) {
          this.sent++;
          return;
        }
        lastErr = new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
        if (res.status >= 400 && res.status < 500) break; // a bad request stays bad
      } catch (err) {
        lastErr = err;
      }
      if (attempt < attempts && !this.closed) await new Promise((r) => setTimeout(r, (this.opts.retryDelayMs ?? 500) * attempt).unref());
    }
    this.failures++;
    this.opts.log.error({ err: lastErr, alertmanager: this.endpoint, alerts: alerts.map((a) => a.labels.alertname) }, 'could not send alerts to Alertmanager');
    try {
      this.opts.onError?.(lastErr);
    } catch {
      // a counter must not break the queue
    }
  }
}

function keyOf(ev: AlertEvent): string {
  return `${ev.rule}\u0000${ev.key}`;
}
