/**
 * The data sources every vigil dashboard names, by the fixed uids that
 * grafana/provisioning/datasources/vigil.yaml gives them. A dashboard that names a data source by
 * uid works in any Grafana with that provisioning, with no "select a data source" step.
 */

export interface DataSourceRef {
  type: 'prometheus' | 'loki' | 'tempo';
  uid: string;
}

/** The Prometheus that grafana/provisioning/datasources/vigil.yaml provisions. */
export const PROMETHEUS_UID = 'vigil-prometheus';
/**
 * What every Prometheus query and variable names: the dashboard's `DS_PROMETHEUS` data-source
 * variable, which is the provisioned one unless a user picks another. A dashboard imported into
 * a Grafana without vigil's provisioning lists that Grafana's own Prometheus data sources instead.
 */
export const PROMETHEUS: DataSourceRef = { type: 'prometheus', uid: '${DS_PROMETHEUS}' };
export const LOKI: DataSourceRef = { type: 'loki', uid: 'vigil-loki' };
export const TEMPO: DataSourceRef = { type: 'tempo', uid: 'vigil-tempo' };

/** The provisioned data sources, by their fixed uids. */
export const DATASOURCES: readonly DataSourceRef[] = [{ type: 'prometheus', uid: PROMETHEUS_UID }, LOKI, TEMPO];

/**
 * Loki streams, by the `job` label the shipper gives them (grafana/README.md shows a promtail
 * config): vigil's own pino JSON logs (gateway and pools, stdout), and the audit log's JSON Lines
 * files. Nothing else is a stream label: principals, models and decisions are record fields,
 * extracted at query time with `| json`, so Loki's index stays small.
 */
export const VIGIL_LOGS = '{job="vigil"}';
export const AUDIT_LOGS = '{job="vigil-audit"}';
