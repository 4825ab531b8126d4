import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { namedRoute, perModel, quantile, rate, ratio, sumBy, vigil, withStatusClass } from './promql.js';
import { UNIT, row, statPanel, timeseriesPanel } from './panels.js';
import { finish, instanceVariable, jobVariable, modelVariables, vigilDashboard } from './vigil-dashboard.js';

const REQUESTS = 'http_server_request_duration_seconds_count';
const REQUEST_BUCKETS = 'http_server_request_duration_seconds_bucket';

const allRequests = sumBy([], rate(vigil(REQUESTS)));
const requestsWithStatus = (re: string) => sumBy([], rate(vigil(REQUESTS, `http_response_status_code=~"${re}"`)));

const inferences = (matchers = '') => sumBy(['model', 'version'], rate(perModel('vigil_inference_requests_total', matchers)));

/** vigil / Overview (RED): is vigil serving, how fast, how often does it fail, per model. */
export function overviewDashboard(): dashboard.Dashboard {
  const d = vigilDashboard({
    uid: 'vigil-overview',
    title: 'vigil / Overview (RED)',
    description: 'Rate, errors and duration of every request on the inference port, and of inferences per model version.',
    variables: [jobVariable(), instanceVariable(), ...modelVariables()],
  });

  d.withRow(row('Requests: every HTTP request on the inference port, refusals included'))
    .withPanel(
      statPanel({
        title: 'Request rate',
        description: 'How many requests per second reach the inference port, whatever their outcome?',
        unit: UNIT.requestsPerSecond,
        width: 4,
        queries: [{ expr: allRequests }],
        noValue: '0',
      }),
    )
    .withPanel(
      statPanel({
        title: 'Server error ratio (5xx)',
        description:
          'What share of requests fail on vigil\'s side (5xx: a pool down, restarting or timing out, the audit log or limiter store unavailable, a bug)? Refusals of bad requests are 4xx and not counted here.',
        unit: UNIT.ratio,
        width: 4,
        queries: [{ expr: ratio(requestsWithStatus('5..'), allRequests, []) }],
        thresholds: [
          { value: null, color: 'green' },
          { value: 0.01, color: 'orange' },
          { value: 0.05, color: 'red' },
        ],
      }),
    )
    .withPanel(
      statPanel({
        title: 'Refused ratio (4xx)',
        description: 'What share of requests does vigil refuse as the client\'s fault (bad credentials, denied by policy, rate-limited, invalid input)? The Security dashboard says why.',
        unit: UNIT.ratio,
        width: 4,
        queries: [{ expr: ratio(requestsWithStatus('4..'), allRequests, []) }],
      }),
    )
    .withPanel(
      statPanel({
        title: 'Latency p95',
        description: 'How long do 95% of requests take, from arrival to the last byte of the answer, over all routes?',
        unit: UNIT.seconds,
        width: 4,
        queries: [{ expr: quantile(0.95, [], vigil(REQUEST_BUCKETS)) }],
      }),
    )
    .withPanel(
      statPanel({
        title: 'Model versions up',
        description: 'What share of the served model versions has at least one live pool worker? Below 100%, some model answers 503 (see the Serving dashboard).',
        unit: UNIT.ratio,
        width: 4,
        queries: [{ expr: 'avg(vigil_pool_up{job=~"$job", instance=~"$instance"})' }],
        thresholds: [
          { value: null, color: 'red' },
          { value: 1, color: 'green' },
        ],
      }),
    )
    .withPanel(
      statPanel({
        title: 'vigil instances by version',
        description: 'Which vigil versions are running, and how many instances of each (from target_info)?',
        unit: UNIT.count,
        width: 4,
        queries: [{ expr: 'count by (service_version) (target_info{job=~"$job", instance=~"$instance", service_name="vigil"})', legend: '{{service_version}}' }],
        showNames: true,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Request rate by route and status class',
        description: 'Which endpoints are called, and how do they answer (2xx served, 4xx refused, 5xx failed)? Requests refused before routing (bad paths) show as "(no route)".',
        unit: UNIT.requestsPerSecond,
        width: 12,
        queries: [{ expr: sumBy(['http_route', 'status_class'], namedRoute(withStatusClass(rate(vigil(REQUESTS))))), legend: '{{http_route}} {{status_class}}' }],
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Error ratio (4xx refused, 5xx failed)',
        description: 'What share of requests is refused (4xx) or fails (5xx), over time? A rise in 5xx is vigil or a pool failing; a rise in 4xx is clients (or an attack) being refused.',
        unit: UNIT.ratio,
        width: 12,
        min: 0,
        queries: [
          { expr: ratio(requestsWithStatus('4..'), allRequests, []), legend: '4xx refused' },
          { expr: ratio(requestsWithStatus('5..'), allRequests, []), legend: '5xx failed' },
        ],
        seriesColors: { '4xx refused': 'orange', '5xx failed': 'red' },
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Latency p50 / p95 / p99',
        description: 'How long do requests take, arrival to answer, over all routes? Refusals are fast, so a burst of them pulls the median down: compare with latency by route.',
        unit: UNIT.seconds,
        width: 12,
        queries: [0.5, 0.95, 0.99].map((q) => ({ expr: quantile(q, [], vigil(REQUEST_BUCKETS)), legend: `p${q * 100}` })),
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Latency p95 by route',
        description: 'Which endpoint is slow? Inference routes include the pool round trip; metadata and health are answered by the gateway itself.',
        unit: UNIT.seconds,
        width: 12,
        queries: [{ expr: namedRoute(quantile(0.95, ['http_route'], vigil(REQUEST_BUCKETS))), legend: '{{http_route}}' }],
      }),
    );

  d.withRow(row('Inference: requests that reached a model pool ($model / $version)'))
    .withPanel(
      timeseriesPanel({
        title: 'Inference rate by model version',
        description: 'How many inference requests per second does each model version serve (success and failure; refused requests never reach a pool and are not counted)?',
        unit: UNIT.requestsPerSecond,
        width: 8,
        queries: [{ expr: inferences(), legend: '{{model}}/{{version}}' }],
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Inference failure ratio by model version',
        description: 'Of the requests forwarded to a pool, what share failed there (the worker died, timed out or errored)?',
        unit: UNIT.ratio,
        width: 8,
        min: 0,
        queries: [{ expr: ratio(inferences('outcome="failure"'), inferences(), ['model', 'version']), legend: '{{model}}/{{version}}' }],
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Pool round trip vs ONNX Runtime compute, p95',
        description:
          'Where does inference time go? Round trip is what the gateway waits for the pool (socket, queue, (de)serialisation and compute); compute is ONNX Runtime alone. A widening gap means queueing or I/O, not the model.',
        unit: UNIT.seconds,
        width: 8,
        queries: [
          { expr: quantile(0.95, ['model', 'version'], perModel('vigil_inference_duration_seconds_bucket')), legend: '{{model}}/{{version}} round trip' },
          { expr: quantile(0.95, ['model', 'version'], perModel('vigil_inference_compute_duration_seconds_bucket')), legend: '{{model}}/{{version}} compute' },
        ],
      }),
    );

  d.withRow(row('Instances: each vigil replica ($instance)'))
    .withPanel(
      timeseriesPanel({
        title: 'Request rate by instance',
        description: 'How many requests per second does each replica take? Behind a round-robin load balancer they should be close; one far below the others is out of rotation or failing its probes.',
        unit: UNIT.requestsPerSecond,
        width: 8,
        queries: [{ expr: sumBy(['instance'], rate(vigil(REQUESTS))), legend: '{{instance}}' }],
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Server error ratio (5xx) by instance',
        description: 'What share of each replica\'s requests fail on vigil\'s side? One replica far above the others points at that replica (its pools, its disk), not at the models.',
        unit: UNIT.ratio,
        width: 8,
        queries: [
          {
            expr: ratio(sumBy(['instance'], rate(vigil(REQUESTS, 'http_response_status_code=~"5.."'))), sumBy(['instance'], rate(vigil(REQUESTS))), ['instance']),
            legend: '{{instance}}',
          },
        ],
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'State stores reachable',
        description: "Can each replica reach the stores it keeps shared state in (rate limits, slots, quarantines, extraction state, auth failures)? 0 is a Redis outage: requests then follow the policy's on_store_failure.",
        unit: UNIT.count,
        width: 8,
        min: 0,
        max: 1,
        queries: [{ expr: vigil('vigil_store_up'), legend: '{{instance}} {{store}} ({{kind}})' }],
      }),
    );

  return finish(d);
}
