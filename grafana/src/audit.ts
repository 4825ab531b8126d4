import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { AUDIT_LOGS, VIGIL_LOGS } from './datasources.js';
import { sumBy, vigil } from './promql.js';
import { RED_FROM_ONE, UNIT, logCountPanel, logStatPanel, logTablePanel, logsPanel, row, statPanel } from './panels.js';
import { finish, instanceVariable, jobVariable, policyReloadAnnotation, vigilDashboard } from './vigil-dashboard.js';

/**
 * Audit records are canonical JSON Lines (vigil's audit README), shipped to Loki as the stream
 * `{job="vigil-audit"}`; the fields are extracted at query time. The dashboard's own filters
 * (principal, model: regexes; decision) narrow the record panels.
 */
// `__error__=""` drops a line that is not JSON (a torn last line, a stray write): Loki refuses a
// metric query over lines that failed to parse, and one such line would blank the panel.
const AUDIT_RECORDS = `${AUDIT_LOGS} | json | __error__=""`;
const REQUEST_RECORDS = `${AUDIT_RECORDS} | type="request"`;
const VIGIL_JSON_LOGS = `${VIGIL_LOGS} | json | __error__=""`;
const FILTERS = '| principal=~"$principal" | model=~"$audit_model"';

function textbox(name: string, label: string, description: string): dashboard.TextBoxVariableBuilder {
  return new dashboard.TextBoxVariableBuilder(name).label(label).description(description).defaultValue('.*').current({ text: '.*', value: '.*' });
}

function decisionVariable(): dashboard.CustomVariableBuilder {
  return new dashboard.CustomVariableBuilder('decision')
    .label('decision')
    .description('allow: served or answered; deny: refused by any stage')
    .values('allow,deny')
    .multi(true)
    .includeAll(true)
    .allValue('.*')
    .current({ text: ['All'], value: ['$__all'] });
}

/** vigil / Audit: who called what and what vigil decided, from the audit log shipped to Loki. */
export function auditDashboard(): dashboard.Dashboard {
  const d = vigilDashboard({
    uid: 'vigil-audit',
    title: 'vigil / Audit',
    description: 'The audit log in Loki: decisions, denials by rule, principal and source, admin events, and vigil\'s own warnings and errors. Shipping: grafana/README.md.',
    variables: [
      jobVariable(),
      instanceVariable(),
      textbox('principal', 'principal (regex)', 'e.g. user:alice, key:ci-.*, anonymous, unauthenticated'),
      textbox('audit_model', 'model (regex)', 'a model name, or .* for every record (health and refused paths have no model)'),
      decisionVariable(),
    ],
    annotations: [policyReloadAnnotation()],
  });

  d.withRow(row('Completeness: one record per request'))
    .withPanel(
      statPanel({
        title: 'Requests answered (time range)',
        description: 'How many requests did vigil answer over the time range (Prometheus, an estimate from rates)? Every one has an audit record: compare with the records in Loki.',
        unit: UNIT.count,
        width: 6,
        queries: [{ expr: sumBy([], `increase(${vigil('http_server_request_duration_seconds_count')}[$__range])`) }],
        decimals: 0,
        noValue: '0',
      }),
    )
    .withPanel(
      logStatPanel({
        title: 'Request records in Loki (time range)',
        description: 'How many request records reached Loki over the time range? Far fewer than requests answered means the shipper is behind or misconfigured, not that records are missing: `vigil audit verify` checks the log itself.',
        unit: UNIT.count,
        width: 6,
        query: { expr: `sum(count_over_time(${REQUEST_RECORDS} [$__range]))` },
      }),
    )
    .withPanel(
      statPanel({
        title: 'Audit write errors since start',
        description: 'Has the audit log failed to write since vigil started? Each failure refused requests (503 AUDIT_UNAVAILABLE) until the writer recovered: no record, no answer.',
        unit: UNIT.count,
        width: 6,
        queries: [{ expr: sumBy([], vigil('vigil_audit_write_errors_total')) }],
        thresholds: RED_FROM_ONE,
        noValue: '0',
      }),
    )
    .withPanel(
      logStatPanel({
        title: 'Audit log recoveries (time range)',
        description: 'How often did the audit writer recover from a failure (admin record audit.recovered, with the failure, its duration and any records lost)? Read them in "Admin events" below.',
        unit: UNIT.count,
        width: 6,
        query: { expr: `sum(count_over_time(${AUDIT_RECORDS} | type="admin" | event="audit.recovered" [$__range]))` },
        thresholds: RED_FROM_ONE,
      }),
    );

  d.withRow(row('Decisions ($principal, $audit_model)'))
    .withPanel(
      logCountPanel({
        title: 'Request records by decision',
        description: 'How many requests were allowed and how many denied (by any stage: authentication, policy, limits, validation…), per interval?',
        unit: UNIT.count,
        width: 12,
        stack: true,
        queries: [{ expr: `sum by (decision) (count_over_time(${REQUEST_RECORDS} ${FILTERS} [$__interval]))`, legend: '{{decision}}' }],
        seriesColors: { allow: 'green', deny: 'red' },
      }),
    )
    .withPanel(
      logCountPanel({
        title: 'Denials by deciding rule',
        description: 'What refused them: deny:<id> and default-deny (policy), limit:<name> (quotas), stage:<name> (authentication, validation, …)?',
        unit: UNIT.count,
        width: 12,
        stack: true,
        queries: [{ expr: `sum by (rule) (count_over_time(${REQUEST_RECORDS} | decision="deny" ${FILTERS} [$__interval]))`, legend: '{{rule}}' }],
      }),
    )
    .withPanel(
      logTablePanel({
        title: 'Principals with the most denials (time range)',
        description: 'Who is refused most often? unauthenticated means the credentials failed; a single principal at the top is a misconfigured client or someone probing.',
        width: 8,
        query: { expr: `topk(10, sum by (principal) (count_over_time(${REQUEST_RECORDS} | decision="deny" ${FILTERS} [$__range])))` },
        columns: { principal: 'principal', Value: 'denials' },
        sortBy: 'denials',
      }),
    )
    .withPanel(
      logTablePanel({
        title: 'Sources with the most denials (time range)',
        description: 'Which client addresses are refused most often? Compare with "Sources blocked" on the Security dashboard.',
        width: 8,
        query: { expr: `topk(10, sum by (source) (count_over_time(${REQUEST_RECORDS} | decision="deny" ${FILTERS} [$__range])))` },
        columns: { source: 'source', Value: 'denials' },
        sortBy: 'denials',
      }),
    )
    .withPanel(
      logTablePanel({
        title: 'Who did what (time range)',
        description: 'Which principal performed which action on which model, with what decision, and how often?',
        width: 8,
        query: { expr: `topk(20, sum by (principal, action, model, decision) (count_over_time(${REQUEST_RECORDS} ${FILTERS} [$__range])))` },
        columns: { principal: 'principal', action: 'action', model: 'model', decision: 'decision', Value: 'requests' },
        sortBy: 'requests',
      }),
    );

  d.withRow(row('Records'))
    .withPanel(
      logsPanel({
        title: 'Request records',
        description: 'The audit records themselves, newest first, filtered by principal, model and decision: who, from where, what, the decision and the rule that made it, the code, status and latency. Expand one for its fields; its trace_id links to the trace in Tempo.',
        width: 24,
        height: 12,
        query: `${REQUEST_RECORDS} | decision=~"$decision" ${FILTERS}`,
      }),
    )
    .withPanel(
      logsPanel({
        title: 'Admin events',
        description: 'What happened to vigil itself: starts and stops, policy reloads (and rejected ones, with their problems), audit queries (who read the log), audit log recoveries.',
        width: 24,
        height: 8,
        query: `${AUDIT_RECORDS} | type="admin"`,
      }),
    );

  d.withRow(row('vigil\'s own logs (gateway and pools)'))
    .withPanel(
      logCountPanel({
        title: 'Warnings and errors by component',
        description: 'How many warnings and errors do the gateway and the pool workers log, per interval? Audit failures, policy reload failures, worker crashes and quarantines all log at error.',
        unit: UNIT.logLines,
        width: 8,
        stack: true,
        queries: [{ expr: `sum by (component) (count_over_time(${VIGIL_JSON_LOGS} | level >= 40 [$__interval]))`, legend: '{{component}}' }],
      }),
    )
    .withPanel(
      logsPanel({
        title: 'vigil warnings and errors',
        description:
          'What went wrong, in vigil\'s own words: pino lines at warn and above (gateway and pools), and any line that is not JSON at all (a crash\'s stack trace). Request-scoped lines carry the requestId of the audit record.',
        width: 16,
        height: 8,
        query: `${VIGIL_LOGS} | json | __error__!="" or level >= 40`,
      }),
    );

  // Alert records (type "alert") are defined by the audit log but written only once anomaly
  // alerting (issue #4) lands; their panel comes with it.
  d.withRow(row('Anomaly alert records (reserved: panels arrive with alerting)', { collapsed: true }));

  return finish(d);
}
