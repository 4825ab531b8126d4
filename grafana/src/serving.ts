import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { perModel, quantile, rate, sumBy, vigil } from './promql.js';
import { RED_FROM_ONE, UNIT, UP_DOWN, heatmapPanel, row, statPanel, timeseriesPanel } from './panels.js';
import { finish, instanceVariable, jobVariable, modelVariables, vigilDashboard } from './vigil-dashboard.js';

const BY_VERSION = ['model', 'version'];
const VERSION_LEGEND = '{{model}}/{{version}}';

/** Mean of a histogram over the rate window: rate(_sum) / rate(_count), per model version. */
const mean = (histogram: string) => `${sumBy(BY_VERSION, rate(perModel(`${histogram}_sum`)))} / ${sumBy(BY_VERSION, rate(perModel(`${histogram}_count`)))}`;

/** p50 and p95 of a histogram per model version, and its exact mean when asked. */
function percentiles(histogram: string, withMean = false) {
  const bucket = perModel(`${histogram}_bucket`);
  return [
    { expr: quantile(0.5, BY_VERSION, bucket), legend: '{{model}}/{{version}} p50' },
    { expr: quantile(0.95, BY_VERSION, bucket), legend: '{{model}}/{{version}} p95' },
    ...(withMean ? [{ expr: mean(histogram), legend: '{{model}}/{{version}} mean' }] : []),
  ];
}

/** vigil / Serving: the model pools, their workers, batching and where inference time goes. */
export function servingDashboard(): dashboard.Dashboard {
  const d = vigilDashboard({
    uid: 'vigil-serving',
    title: 'vigil / Serving',
    description: 'Model pools: workers and restarts, requests in flight, batch sizes and dynamic batching, items per second, queue wait, compute time and what the round trip adds; CPU, memory and event-loop load of the gateway and pool processes.',
    variables: [jobVariable(), instanceVariable(), ...modelVariables()],
  });

  d.withRow(row('Pools ($model / $version)'))
    .withPanel(
      statPanel({
        title: 'Pool up',
        description: 'Does each model version have at least one live worker, on every vigil instance? DOWN means its requests get 503 POOL_RESTARTING or POOL_QUARANTINED (somewhere).',
        unit: UNIT.count,
        width: 8,
        queries: [{ expr: `min by (model, version) (${perModel('vigil_pool_up')})`, legend: VERSION_LEGEND }],
        mappings: UP_DOWN,
        thresholds: [
          { value: null, color: 'red' },
          { value: 1, color: 'green' },
        ],
        showNames: true,
      }),
    )
    .withPanel(
      statPanel({
        title: 'Quarantined workers',
        description: 'Has a worker crashed so often that vigil stopped restarting it? A quarantined pool stays down until an operator acts (fix the model, restart vigil).',
        unit: UNIT.count,
        width: 8,
        queries: [{ expr: sumBy([], perModel('vigil_pool_workers', 'state="quarantined"')) }],
        thresholds: RED_FROM_ONE,
        noValue: '0',
      }),
    )
    .withPanel(
      statPanel({
        title: 'Worker restarts since start',
        description: 'How many times has each pool\'s worker exited and been restarted (or quarantined) since vigil started? Any restart failed the requests in flight in that worker.',
        unit: UNIT.count,
        width: 8,
        queries: [{ expr: sumBy(BY_VERSION, perModel('vigil_pool_restarts_total')), legend: VERSION_LEGEND }],
        thresholds: [
          { value: null, color: 'green' },
          { value: 1, color: 'orange' },
        ],
        noValue: '0',
        showNames: true,
      }),
    )
    .withPanel(
      statPanel({
        title: 'Instances with pools not sandboxed',
        description: 'How many vigil instances run their pool workers as plain processes? With pools.isolation: sandbox that means bubblewrap could not make a sandbox there (see its /status and start-up log): a compromised worker could read the gateway\'s keys and reach the network.',
        unit: UNIT.count,
        width: 12,
        queries: [{ expr: `count(${vigil('vigil_pool_isolation', 'mode="process"')}) or vector(0)` }],
        thresholds: RED_FROM_ONE,
        noValue: '0',
      }),
    )
    .withPanel(
      statPanel({
        title: 'OOM kills since start',
        description: 'How many times has the kernel killed a worker of each pool for going over its memory limit (pool.resources.memory_mb in model.yaml)? Each failed the requests in flight in it; the worker was restarted like after any crash.',
        unit: UNIT.count,
        width: 12,
        queries: [{ expr: sumBy(BY_VERSION, perModel('vigil_pool_oom_kills_total')), legend: VERSION_LEGEND }],
        thresholds: RED_FROM_ONE,
        noValue: '0',
        showNames: true,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Workers by state',
        description: 'How many workers of each pool are starting, up, in restart backoff, quarantined or stopped? Only states with workers in them are drawn.',
        unit: UNIT.count,
        width: 12,
        stack: true,
        queries: [{ expr: `${sumBy([...BY_VERSION, 'state'], perModel('vigil_pool_workers'))} > 0`, legend: '{{model}}/{{version}} {{state}}' }],
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Requests in flight in the pools',
        description: 'How many requests has the gateway forwarded to each pool and not yet had answered? Growing while throughput is flat means the pool is saturated: add workers.',
        unit: UNIT.count,
        width: 12,
        queries: [{ expr: sumBy(BY_VERSION, perModel('vigil_inference_pending')), legend: VERSION_LEGEND }],
      }),
    );

  d.withRow(row('Throughput and batching'))
    .withPanel(
      timeseriesPanel({
        title: 'Items inferred per second',
        description: 'How many items (batch rows) does each model version infer per second? With batching, this is what the model computes; the request rate is on the Overview dashboard.',
        unit: UNIT.itemsPerSecond,
        width: 6,
        queries: [{ expr: sumBy(BY_VERSION, rate(perModel('vigil_inference_items_total'))), legend: VERSION_LEGEND }],
      }),
    )
    .withPanel(
      heatmapPanel({
        title: 'Batch size distribution',
        description: 'How large are the batches clients send (items per inference request), over time, across the selected model versions? Each cell counts the requests whose batch size fell in that bucket.',
        unit: UNIT.count,
        width: 6,
        query: { expr: sumBy(['le'], `increase(${perModel('vigil_inference_batch_size_bucket')}[$__rate_interval])`) },
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Batch size p50 / p95 and mean',
        description: 'What batch size does a typical request carry, per model version? Bucket bounds are powers of two, so quantiles are estimates; the mean is exact.',
        unit: UNIT.count,
        width: 6,
        queries: percentiles('vigil_inference_batch_size', true),
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Items per model run (dynamic batching) p50 / p95 and mean',
        description: "How many items did the run that served a request hold? The pool's dynamic batcher merges requests that arrive while the model is busy; above the clients' own batch size means batching is working. Weighted by request.",
        unit: UNIT.count,
        width: 6,
        queries: percentiles('vigil_inference_execution_batch_size', true),
      }),
    );

  d.withRow(row('Inference time'))
    .withPanel(
      timeseriesPanel({
        title: 'Queue wait in the pool p50 / p95',
        description: "How long do requests wait in the pool's queue for the model (behind the running batch, or for company up to max_queue_delay_microseconds)? Growing with load means the pool needs more workers.",
        unit: UNIT.seconds,
        width: 6,
        queries: percentiles('vigil_inference_queue_duration_seconds'),
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Batch compute p50 / p95',
        description: "How long does the model take per request: forming its batch and the ONNX Runtime run, as the pool reports it? This is the floor no gateway change can lower; a merged batch's time counts for each of its requests.",
        unit: UNIT.seconds,
        width: 6,
        queries: percentiles('vigil_inference_compute_duration_seconds'),
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Pool round trip p50 / p95',
        description: 'How long does the gateway wait for the pool per inference (socket, queue wait, (de)serialisation and compute)?',
        unit: UNIT.seconds,
        width: 6,
        queries: percentiles('vigil_inference_duration_seconds'),
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Time around the model (mean round trip − mean compute)',
        description: 'How much of each inference is not the model: the queue wait, the socket hop, screening and JSON (de)serialisation?',
        unit: UNIT.seconds,
        width: 6,
        queries: [{ expr: `(${mean('vigil_inference_duration_seconds')}) - (${mean('vigil_inference_compute_duration_seconds')})`, legend: VERSION_LEGEND }],
      }),
    );

  d.withRow(row('Rollouts: shadow versions (traffic.yaml)'))
    .withPanel(
      timeseriesPanel({
        title: 'Shadow agreement (top-1) with the answers returned',
        description: "Of the rows a shadow version was sent a copy of, on how many does its top class agree with the serving version's answer? Dashed: the model's min_agreement from traffic.yaml; below it for 10 minutes fires VigilShadowDisagreement.",
        unit: UNIT.ratio,
        width: 12,
        min: 0,
        queries: [
          {
            expr: 'sum by (model, version, shadow_version) (rate(vigil_shadow_rows_total{agree="true"}[$__rate_interval])) / sum by (model, version, shadow_version) (rate(vigil_shadow_rows_total[$__rate_interval]))',
            legend: '{{model}} {{version}} vs shadow {{shadow_version}}',
          },
          { expr: 'max by (model, shadow_version) (vigil_shadow_min_agreement)', legend: '{{model}} shadow {{shadow_version}}: min_agreement' },
        ],
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Shadow largest probability difference p50 / p95',
        description: "Per compared request, the largest difference between a value of the shadow version's answer and the returned one's; with 'failed' and 'skipped' copies (a shadow that errors, or over 32 copies in flight).",
        unit: UNIT.count,
        width: 12,
        queries: [
          { expr: 'histogram_quantile(0.5, sum by (le, model, shadow_version) (rate(vigil_shadow_max_difference_bucket[$__rate_interval])))', legend: '{{model}} shadow {{shadow_version}} p50' },
          { expr: 'histogram_quantile(0.95, sum by (le, model, shadow_version) (rate(vigil_shadow_max_difference_bucket[$__rate_interval])))', legend: '{{model}} shadow {{shadow_version}} p95' },
          { expr: 'sum by (model, shadow_version, outcome) (rate(vigil_shadow_requests_total{outcome!="compared"}[$__rate_interval]))', legend: '{{model}} shadow {{shadow_version}} {{outcome}}/s' },
        ],
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Live model changes',
        description: 'Loads, unloads, promotions and rollbacks made live (vigil models …, the admin repository extension, or poll mode), by outcome. A failed load changed nothing (VigilModelLoadFailed); the audit log (models.*) says who and why.',
        unit: UNIT.count,
        width: 12,
        min: 0,
        queries: [{ expr: 'sum by (model, change, outcome) (increase(vigil_model_changes_total[$__rate_interval]))', legend: '{{model}} {{change}} {{outcome}}' }],
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Response cache hit ratio',
        description: "For versions with model.yaml response_cache: the share of inference requests answered from the cache, without the pool. Hits are not in the pool's statistics or the rollback figures; the detectors still judge each one.",
        unit: UNIT.ratio,
        width: 12,
        min: 0,
        max: 1,
        queries: [
          {
            expr: 'sum by (model, version) (rate(vigil_response_cache_requests_total{outcome="hit"}[$__rate_interval])) / sum by (model, version) (rate(vigil_response_cache_requests_total[$__rate_interval]))',
            legend: '{{model}} {{version}}',
          },
        ],
      }),
    );

  d.withRow(row('Overload: the global bounds'))
    .withPanel(
      timeseriesPanel({
        title: 'Use of each global bound',
        description:
          'How close is each gateway to refusing everyone? Open connections, requests in flight and buffered request-body bytes against server.max_connections, max_inflight_requests and max_buffered_body_bytes, and each pool queue against pools.max_queue. At 100% new work gets 503 OVERLOADED.',
        unit: UNIT.ratio,
        width: 12,
        min: 0,
        max: 1,
        queries: [
          { expr: `${sumBy(['instance', 'bound'], vigil('vigil_bound_usage'))} / ${sumBy(['instance', 'bound'], vigil('vigil_bound_limit'))}`, legend: '{{instance}} {{bound}}' },
          { expr: `${sumBy(BY_VERSION, perModel('vigil_inference_pending'))} / ${sumBy(BY_VERSION, perModel('vigil_pool_queue_limit'))}`, legend: 'pool queue {{model}}/{{version}}' },
        ],
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Refused for overload per second',
        description: 'How much is refused because vigil is at a global bound? Requests answered 503 OVERLOADED (in flight, body bytes, a pool queue), and connections refused at server.max_connections before any request was read.',
        unit: UNIT.requestsPerSecond,
        width: 12,
        queries: [
          { expr: sumBy([], rate(vigil('vigil_rejections_total', 'code="OVERLOADED"'))), legend: 'requests (503 OVERLOADED)' },
          { expr: sumBy([], rate(vigil('vigil_connections_refused_total'))), legend: 'connections refused' },
        ],
      }),
    );

  d.withRow(row('Processes: the gateway and the pool workers'))
    .withPanel(
      timeseriesPanel({
        title: 'Gateway event loop busy',
        description: "What share of the time is each gateway's event loop busy? The gateway is one event loop: near 100%, requests queue in the gateway itself, whatever the pools do; add gateway instances.",
        unit: UNIT.ratio,
        width: 6,
        min: 0,
        max: 1,
        queries: [{ expr: vigil('nodejs_eventloop_utilization_ratio'), legend: '{{instance}}' }],
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Gateway event-loop delay p99',
        description: "How late does each gateway's event loop run what is due (p99 between scrapes)? Every request waits this long on top of its work; tens of milliseconds mean a saturated loop or long garbage collections.",
        unit: UNIT.seconds,
        width: 6,
        queries: [{ expr: vigil('nodejs_eventloop_delay_p99_seconds'), legend: '{{instance}}' }],
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'CPU by process',
        description: 'How many CPU cores do the gateway and each pool (all its workers) use? A gateway near one core is at its limit; pools share the cores that are left.',
        unit: UNIT.cores,
        width: 6,
        queries: [
          { expr: sumBy(['instance'], rate(vigil('process_cpu_time_seconds_total'))), legend: 'gateway {{instance}}' },
          { expr: sumBy(BY_VERSION, rate(perModel('vigil_pool_worker_cpu_time_seconds_total'))), legend: 'pool {{model}}/{{version}}' },
        ],
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Memory (RSS) by process',
        description: "How much memory do the gateway and each pool (all its workers) hold, and how much of the gateway's is live JavaScript (V8 heap used)? A pool that only grows points at the model or its runtime.",
        unit: UNIT.bytes,
        width: 6,
        queries: [
          { expr: vigil('process_memory_usage_bytes'), legend: 'gateway {{instance}}' },
          { expr: sumBy(['instance'], vigil('v8js_memory_heap_used_bytes')), legend: 'gateway {{instance}} V8 heap used' },
          { expr: sumBy(BY_VERSION, perModel('vigil_pool_worker_memory_usage_bytes')), legend: 'pool {{model}}/{{version}}' },
        ],
      }),
    );

  return finish(d);
}
