import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { increase, perModel, rate, ratio, sumBy, vigil } from './promql.js';
import { RED_FROM_ONE, UNIT, row, statPanel, tablePanel, timeseriesPanel } from './panels.js';
import { finish, instanceVariable, jobVariable, modelVariables, policyReloadAnnotation, vigilDashboard } from './vigil-dashboard.js';

/**
 * vigil / Security: who is being refused, by which stage and rule, and whether the controls
 * themselves (policy reloads, the audit log) are healthy.
 */
export function securityDashboard(): dashboard.Dashboard {
  const d = vigilDashboard({
    uid: 'vigil-security',
    title: 'vigil / Security',
    description: 'Authentication failures, policy denials, rate limiting, detector findings and quarantines, and every refusal by stage and code; policy reloads and audit log health.',
    // model and version filter the detector panels; the others are about callers, not models.
    variables: [jobVariable(), instanceVariable(), ...modelVariables()],
    annotations: [policyReloadAnnotation()],
  });

  d.withRow(row('Authentication'))
    .withPanel(
      timeseriesPanel({
        title: 'Authentication failures by code',
        description: 'Why do credentials fail (expired, bad signature, unknown key, malformed, wrong audience…)? A burst of TOKEN_SIGNATURE_INVALID or API_KEY_INVALID is someone guessing; TOKEN_EXPIRED is usually a client that does not refresh.',
        unit: UNIT.requestsPerSecond,
        width: 12,
        stack: true,
        queries: [{ expr: sumBy(['code'], rate(vigil('vigil_auth_failures_total'))), legend: '{{code}}' }],
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Sources blocked after repeated failures',
        description: 'How many requests are refused because their source address failed authentication too often (429 AUTH_BLOCKED)? Non-zero means vigil is holding off a credential-guessing source.',
        unit: UNIT.requestsPerSecond,
        width: 6,
        queries: [{ expr: sumBy([], rate(vigil('vigil_rejections_total', 'code="AUTH_BLOCKED"'))), legend: 'AUTH_BLOCKED' }],
        seriesColors: { AUTH_BLOCKED: 'red' },
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Identity provider unavailable',
        description: 'Are requests failing closed because no issuer key could be fetched (503 JWKS_UNAVAILABLE)? That is vigil protecting itself, but every JWT caller is refused while it lasts.',
        unit: UNIT.requestsPerSecond,
        width: 6,
        queries: [{ expr: sumBy([], rate(vigil('vigil_rejections_total', 'code="JWKS_UNAVAILABLE"'))), legend: 'JWKS_UNAVAILABLE' }],
        seriesColors: { JWKS_UNAVAILABLE: 'red' },
      }),
    );

  d.withRow(row('Authorization: the policy'))
    .withPanel(
      timeseriesPanel({
        title: 'Policy denials by rule',
        description: 'Which policy rule refuses requests, and in which mode? default-deny means no grant matched; a named rule is an explicit deny. Shadow-mode denials were let through.',
        unit: UNIT.requestsPerSecond,
        width: 12,
        queries: [{ expr: sumBy(['rule', 'mode'], rate(vigil('vigil_policy_denials_total'))), legend: '{{rule}} ({{mode}})' }],
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Denials: enforced vs shadow',
        description: 'How many denials did the policy enforce, and how many would a shadow-mode policy have made (requests it let through)? Before switching a policy to enforce, shadow should be only what you mean to refuse.',
        unit: UNIT.requestsPerSecond,
        width: 12,
        queries: [{ expr: sumBy(['mode'], rate(vigil('vigil_policy_denials_total'))), legend: '{{mode}}' }],
        seriesColors: { enforce: 'red', shadow: 'purple' },
      }),
    )
    .withPanel(
      statPanel({
        title: 'Failed policy reloads since start',
        description: 'Has a policy change been rejected (invalid file)? vigil then keeps enforcing the last good policy, so the change you made is NOT in force. Counts since each vigil started.',
        unit: UNIT.count,
        width: 6,
        height: 8,
        queries: [{ expr: sumBy([], vigil('vigil_policy_reloads_total', 'outcome="failed"')) }],
        thresholds: RED_FROM_ONE,
        noValue: '0',
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Policy reloads by outcome',
        description: 'When was the policy reloaded, and did it take? Cumulative since each vigil started: every step up is a reload; a step in "failed" (red) is a rejected change.',
        unit: UNIT.count,
        width: 18,
        queries: [{ expr: sumBy(['outcome'], vigil('vigil_policy_reloads_total')), legend: '{{outcome}}' }],
        seriesColors: { ok: 'green', failed: 'red' },
      }),
    );

  d.withRow(row('Rate limits'))
    .withPanel(
      timeseriesPanel({
        title: 'Rate-limit rejections by quota',
        description: 'Which quota do callers run into (requests, items, model_items, concurrency; store when the counter store failed closed), and in which mode? Shadow-mode rejections were let through: they show what enforcing would refuse.',
        unit: UNIT.requestsPerSecond,
        width: 12,
        queries: [{ expr: sumBy(['quota', 'mode'], rate(vigil('vigil_ratelimit_rejections_total'))), legend: '{{quota}} ({{mode}})' }],
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Limit stage refusals by code',
        description: 'What do the limit stages (admit: in-flight slot and request quota; items: item quotas) answer: RATE_LIMITED (a quota spent), CONCURRENCY_LIMITED (too many in flight), LIMITER_UNAVAILABLE (the counter store failed and the policy fails closed)?',
        unit: UNIT.requestsPerSecond,
        width: 12,
        queries: [{ expr: sumBy(['code'], rate(vigil('vigil_rejections_total', 'stage=~"admit|items"'))), legend: '{{code}}' }],
        seriesColors: { LIMITER_UNAVAILABLE: 'red' },
      }),
    );

  d.withRow(row('Rejections: every refused or failed request, by the stage that ended it'))
    .withPanel(
      timeseriesPanel({
        title: 'Rejections by stage',
        description: 'Which stage stopped requests (named as in the README\'s pipeline): overload, drain, framing, audit-health, route, authenticate, quarantine, authorize, resolve, admit, queue, body (framing, JSON and validation), items, screen, proxy (the pool failed), screen-answer; also audit (an answer that could not be recorded) and client (it left). "unknown" would be a refusal outside any stage: report it.',
        unit: UNIT.requestsPerSecond,
        width: 12,
        stack: true,
        queries: [{ expr: sumBy(['stage'], rate(vigil('vigil_rejections_total'))), legend: '{{stage}}' }],
      }),
    )
    .withPanel(
      tablePanel({
        title: 'Rejections by stage and code (time range)',
        description: 'Which refusals are most frequent over the selected time range, and which stage made them? The code is the one the client got (see the error codes in the main README).',
        unit: UNIT.count,
        width: 12,
        query: { expr: sumBy(['stage', 'code'], `increase(${vigil('vigil_rejections_total')}[$__range])`) },
        columns: { stage: 'stage', code: 'code', Value: 'requests' },
        sortBy: 'requests',
      }),
    );

  d.withRow(row('Audit log: no record, no answer'))
    .withPanel(
      statPanel({
        title: 'Audit write errors since start',
        description: 'Has the audit log failed to write? While it fails, vigil refuses every request (503 AUDIT_UNAVAILABLE) rather than answer without a record. Counts since each vigil started.',
        unit: UNIT.count,
        width: 6,
        height: 8,
        queries: [{ expr: sumBy([], vigil('vigil_audit_write_errors_total')) }],
        thresholds: RED_FROM_ONE,
        noValue: '0',
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Audit write errors over time',
        description: 'When did audit writes fail? Cumulative since each vigil started: every step up is a failure, and requests were refused until the writer recovered.',
        unit: UNIT.count,
        width: 9,
        queries: [{ expr: sumBy([], vigil('vigil_audit_write_errors_total')), legend: 'write errors' }],
        seriesColors: { 'write errors': 'red' },
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Requests refused for want of an audit record',
        description: 'How many callers did a failing audit log turn away (503 AUDIT_UNAVAILABLE)? This is the cost of failing closed.',
        unit: UNIT.requestsPerSecond,
        width: 9,
        queries: [{ expr: sumBy([], rate(vigil('vigil_rejections_total', 'code="AUDIT_UNAVAILABLE"'))), legend: 'AUDIT_UNAVAILABLE' }],
        seriesColors: { AUDIT_UNAVAILABLE: 'red' },
      }),
    );

  d.withRow(row('Anomaly alerts: streaming baselines per source, principal and model'))
    .withPanel(
      timeseriesPanel({
        title: 'Anomaly alerts fired and resolved, by rule',
        description: "Which of vigil's own anomaly rules (auth failures by source, denials by principal, errors by model, request rate by principal) fired or resolved, and how often? Each alert is also in the audit log (type alert) and sent to Alertmanager when one is configured.",
        unit: UNIT.count,
        width: 16,
        queries: [{ expr: sumBy(['rule', 'state'], increase(vigil('vigil_alerts_total'))), legend: '{{rule}} {{state}}' }],
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Alertmanager delivery failures',
        description: 'Did sending alerts to Alertmanager fail? The alerts are still in the audit log and the log; this says the pager may not have heard.',
        unit: UNIT.count,
        width: 8,
        queries: [{ expr: `sum(${increase(vigil('vigil_alertmanager_errors_total'))})`, legend: 'failed sends' }],
        seriesColors: { 'failed sends': 'red' },
      }),
    );

  d.withRow(row('Detectors: adversarial inputs and model extraction'))
    .withPanel(
      timeseriesPanel({
        title: 'Anomalous findings by detector and action',
        description: 'Which detectors (structural, profile, squeeze, extraction) find anomalous requests to the selected models, and what did the policy do: flag (let through, recorded), block, quarantine the caller? Shadow-mode findings were let through: they show what enforcing would do.',
        unit: UNIT.requestsPerSecond,
        width: 12,
        queries: [{ expr: sumBy(['detector', 'action', 'mode'], rate(perModel('vigil_detector_findings_total'))), legend: '{{detector}} {{action}} ({{mode}})' }],
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Share of screened requests found anomalous',
        description: "What fraction of the requests each detector judged did it find anomalous? Calibrated at a 5% false-positive rate on legitimate inputs, so a profile or squeeze share well above 0.05 means unusual traffic (or a model whose inputs drifted: recalibrate with `vigil detectors calibrate`).",
        unit: UNIT.ratio,
        width: 12,
        queries: [
          {
            expr: ratio(
              sumBy(['detector'], rate(perModel('vigil_detector_findings_total'))),
              sumBy(['detector'], rate(perModel('vigil_detector_inspections_total'))),
              ['detector'],
            ),
            legend: '{{detector}}',
          },
        ],
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Extraction signals',
        description: "Which of the extraction detector's signals fire (prada: Shapiro–Wilk over nearest-query distances; concentration; near_duplicate; low_confidence; out_of_profile; volume)? Each is per principal; the audit log names the principal.",
        unit: UNIT.count,
        width: 12,
        queries: [{ expr: sumBy(['signal'], increase(perModel('vigil_detector_findings_total', 'detector="extraction"'))), legend: '{{signal}}' }],
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Query budgets exceeded',
        description: "Who went over a model's budget of distinct rows per day (budget in its model.yaml), by scope (principal, owner, source; model is the alarm that all callers together did) and what the policy did. Extraction with real data looks like any client; its volume does not.",
        unit: UNIT.count,
        width: 12,
        queries: [{ expr: sumBy(['signal', 'action'], increase(perModel('vigil_detector_findings_total', 'detector="budget"'))), legend: '{{signal}} ({{action}})' }],
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Callers forgotten for room',
        description: "Extraction histories and budget counters dropped before their time because the store was full (memory stores: 64 callers' histories, 4,096 counters). A rotating attacker floods new principals to make vigil forget; use screening.store: redis, or look for a flood of new principals.",
        unit: UNIT.count,
        width: 12,
        queries: [{ expr: sumBy(['store', 'kind'], increase(vigil('vigil_screening_evictions_total'))), legend: '{{store}} ({{kind}})' }],
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Quarantined principals',
        description: 'How many callers are quarantined right now (every request refused with 403 PRINCIPAL_QUARANTINED until their time is up), and which detector put them there?',
        unit: UNIT.count,
        width: 12,
        queries: [
          { expr: sumBy([], vigil('vigil_principals_quarantined')), legend: 'quarantined now' },
          { expr: sumBy(['detector'], increase(vigil('vigil_quarantines_total'))), legend: 'new ({{detector}})' },
        ],
      }),
    );

  return finish(d);
}
