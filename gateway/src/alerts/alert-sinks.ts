import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import type { VigilConfig } from '../config/schema.js';
import type { VigilMetrics } from '../telemetry/metrics.js';
import { AlertmanagerSink } from './alertmanager-sink.js';
import { ALERT_RULES } from './alert-rules.js';
import { AnomalyDetector, type AlertEvent } from './anomaly-detector.js';

export interface Alerting {
  detector: AnomalyDetector;
  alertmanager?: AlertmanagerSink;
  /** Starts the detector's timer. */
  start(): void;
  /** Stops the timer and the re-sends; waits (bounded) for sends under way. */
  stop(): Promise<void>;
}

/**
 * The anomaly detector and where its alerts go: the audit log (`type: 'alert'`), the
 * `vigil.alerts` counter, a log line, and Alertmanager when `alerts.alertmanager_url` is set.
 */
export function createAlerting(cfg: VigilConfig['alerts'], deps: { audit: Pick<AuditLog, 'append'>; metrics: VigilMetrics; log: Logger }): Alerting {
  const { audit, metrics, log } = deps;
  const detector = new AnomalyDetector({ tickMs: cfg.tick_ms, rules: cfg.rules, maxKeysPerRule: cfg.max_keys });
  metrics.seedAlerts(ALERT_RULES.map((rule) => ({ rule, severity: detector.ruleConfig(rule).severity })));
  const alertmanager = cfg.alertmanager_url
    ? new AlertmanagerSink({ url: cfg.alertmanager_url, resendMs: cfg.resend_ms, log, onError: () => metrics.alertmanagerErrors.add(1) })
    : undefined;

  const deliver = (state: 'firing' | 'resolved', ev: AlertEvent) => {
    metrics.alerts.add(1, { rule: ev.rule, severity: ev.severity, state });
    log.warn({ alert: ev.rule, severity: ev.severity, state, labels: ev.labels, value: ev.value, unit: ev.unit, baseline: ev.baseline, threshold: ev.threshold }, `ALERT ${state}: ${ev.rule} ${ev.key}`);
    const time = (state === 'firing' ? ev.startsAt : (ev.endsAt ?? new Date())).toISOString();
    audit
      .append({ type: 'alert', time, rule: ev.rule, severity: ev.severity, state, labels: ev.labels, value: ev.value, baseline: ev.baseline, unit: ev.unit })
      .catch((err: unknown) => log.error({ err, alert: ev.rule }, 'could not audit an alert'));
    if (alertmanager) {
      if (state === 'firing') alertmanager.firing(ev);
      else alertmanager.resolved(ev);
    }
  };
  detector.on('firing', (ev) => deliver('firing', ev));
  detector.on('resolved', (ev) => deliver('resolved', ev));

  return {
    detector,
    alertmanager,
    start: () => detector.start(),
    stop: async () => {
      detector.stop();
      await alertmanager?.close();
    },
  };
}
