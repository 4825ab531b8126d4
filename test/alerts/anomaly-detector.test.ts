import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RULE_DEFAULTS } from '../../gateway/src/alerts/alert-rules.js';
import { AnomalyDetector, type AlertEvent } from '../../gateway/src/alerts/anomaly-detector.js';
import { alertName, toPostableAlert } from '../../gateway/src/alerts/alertmanager-sink.js';

const RULE = { alpha: 0.2, k: 3, min_count: 5, warmup_ticks: 3, resolve_ticks: 2 };

function detector(maxKeysPerRule?: number) {
  const d = new AnomalyDetector({ tickMs: 1_000_000, rules: { auth_failures_by_source: RULE, errors_by_model: RULE }, maxKeysPerRule });
  const events: { state: 'firing' | 'resolved'; ev: AlertEvent }[] = [];
  d.on('firing', (ev) => events.push({ state: 'firing', ev }));
  d.on('resolved', (ev) => events.push({ state: 'resolved', ev }));
  return { d, events };
}

/** Runs one interval per entry: `n` auth failures from `key` (default 10.0.0.1), then a tick. */
function run(d: AnomalyDetector, counts: number[], key = '10.0.0.1') {
  for (const n of counts) {
    if (n > 0) d.observe('auth_failures_by_source', key, { source: key }, n);
    d.tick();
  }
}

test('AnomalyDetector: a burst after quiet intervals fires once, is deduplicated while it lasts, then resolves', () => {
  const { d, events } = detector();
  run(d, [0, 0, 0, 0]); // warm-up and quiet
  run(d, [20, 25, 30, 22]); // a sustained burst: one alert, not four
  assert.deepEqual(events.map((e) => e.state), ['firing']);
  const f = events[0].ev;
  assert.equal(f.rule, 'auth_failures_by_source');
  assert.equal(f.severity, 'warning');
  assert.equal(f.key, '10.0.0.1');
  assert.deepEqual(f.labels, { source: '10.0.0.1' });
  assert.equal(f.value, 20);
  assert.equal(f.baseline, 0);
  assert.equal(d.active().length, 1);
  run(d, [0]); // one calm interval is not enough (resolve_ticks 2)
  assert.equal(events.length, 1);
  run(d, [30]); // anomalous again: the calm count starts over, still no second firing
  run(d, [0]);
  assert.equal(events.length, 1);
  run(d, [0]);
  assert.deepEqual(events.map((e) => e.state), ['firing', 'resolved']);
  const r = events[1].ev;
  assert.equal(r.startsAt, f.startsAt);
  assert.ok(r.endsAt && r.endsAt >= r.startsAt);
  assert.equal(d.active().length, 0);
  run(d, [40]); // a new burst is a new alert
  assert.deepEqual(events.map((e) => e.state), ['firing', 'resolved', 'firing']);
});

test('AnomalyDetector: warm-up suppresses early alerts, then a new key is judged at once', () => {
  const { d, events } = detector();
  run(d, [50, 50, 50]); // warmup_ticks 3: nothing fires, and the baseline learns 50 is usual
  assert.equal(events.length, 0);
  run(d, [50, 55]); // usual now
  assert.equal(events.length, 0);
  run(d, [20], '10.0.0.2'); // a source never seen: zero baseline, warm as its rule
  assert.deepEqual(events.map((e) => [e.state, e.ev.key]), [['firing', '10.0.0.2']]);
});

test('AnomalyDetector: needs value ≥ min_count and above mean + k·std', () => {
  const { d, events } = detector();
  run(d, [0, 0, 0, 4, 0, 0]); // 4 < min_count 5
  assert.equal(events.length, 0);
  const { d: d2, events: e2 } = detector();
  for (let i = 0; i < 30; i++) run(d2, [i % 2 ? 8 : 12]); // mean ≈ 10, std ≈ 2
  run(d2, [14]); // under mean + 3·max(std, √mean) ≈ 19.5
  assert.equal(e2.length, 0);
  run(d2, [40]);
  assert.equal(e2.length, 1);
});

test('AnomalyDetector: rules are independent; errors_by_model uses its own severity', () => {
  const { d, events } = detector();
  for (let i = 0; i < 4; i++) d.tick();
  d.observe('errors_by_model', 'digits/1', { model: 'digits', version: '1' }, 9);
  d.observe('auth_failures_by_source', '10.0.0.1', { source: '10.0.0.1' }, 2);
  d.tick();
  assert.deepEqual(events.map((e) => [e.ev.rule, e.ev.severity, e.ev.key]), [['errors_by_model', RULE_DEFAULTS.errors_by_model.severity, 'digits/1']]);
});

test('AnomalyDetector: the number of tracked keys is bounded; idle keys are dropped', () => {
  const { d, events } = detector(100);
  for (let i = 0; i < 4; i++) d.tick();
  for (let i = 0; i < 10_000; i++) d.observe('auth_failures_by_source', `2001:db8::${i.toString(16)}`, { source: `2001:db8::${i.toString(16)}` });
  assert.equal(d.trackedKeys('auth_failures_by_source'), 100);
  assert.equal(d.evicted, 9_900);
  assert.equal(events.length, 0); // 1 each: under min_count
  // A burst from one address among the flood still fires, and survives further floods.
  d.observe('auth_failures_by_source', '10.9.9.9', { source: '10.9.9.9' }, 50);
  d.tick();
  assert.deepEqual(events.map((e) => e.ev.key), ['10.9.9.9']);
  for (let i = 0; i < 1_000; i++) d.observe('auth_failures_by_source', `2001:db8:1::${i.toString(16)}`, { source: 'x' });
  assert.equal(d.trackedKeys('auth_failures_by_source'), 100);
  assert.equal(d.active().length, 1, 'the firing key was not evicted');
  // Without events, keys decay and are dropped: memory goes back down.
  for (let i = 0; i < 40; i++) d.tick();
  assert.equal(d.trackedKeys('auth_failures_by_source'), 0);
  assert.deepEqual(events.map((e) => e.state), ['firing', 'resolved']);
});

test('AnomalyDetector: when the bound is full of firing keys, the oldest is resolved as it is evicted', () => {
  const { d, events } = detector(3);
  for (let i = 0; i < 4; i++) d.tick();
  for (const k of ['a', 'b', 'c']) d.observe('auth_failures_by_source', k, { source: k }, 50);
  d.tick();
  assert.equal(events.length, 3);
  d.observe('auth_failures_by_source', 'd', { source: 'd' }, 1);
  assert.equal(d.trackedKeys('auth_failures_by_source'), 3);
  assert.deepEqual(events.slice(3).map((e) => [e.state, e.ev.key]), [['resolved', 'a']]);
});

test('AnomalyDetector: timer ticks until stop()', async () => {
  const d = new AnomalyDetector({ tickMs: 20, rules: { auth_failures_by_source: { ...RULE, warmup_ticks: 0 } } });
  const fired = new Promise<AlertEvent>((r) => d.once('firing', r));
  d.start();
  d.observe('auth_failures_by_source', 'k', { source: 'k' }, 10);
  const keepAlive = setTimeout(() => undefined, 5_000); // the detector's timer is unref'd
  try {
    assert.equal((await fired).key, 'k');
  } finally {
    clearTimeout(keepAlive);
    d.stop();
  }
});

test('Alertmanager payload: alertname, severity and labels; annotations are strings', () => {
  assert.equal(alertName('auth_failures_by_source'), 'VigilAuthFailuresBySource');
  assert.equal(alertName('errors_by_model'), 'VigilErrorsByModel');
  const startsAt = new Date('2025-01-01T00:00:00Z');
  const a = toPostableAlert({ rule: 'denials_by_principal', severity: 'warning', key: 'user:eve', labels: { principal: 'user:eve' }, value: 12, unit: 'count', baseline: 0.123, threshold: 3, startsAt });
  assert.deepEqual(a.labels, { alertname: 'VigilDenialsByPrincipal', severity: 'warning', principal: 'user:eve' });
  assert.equal(a.startsAt, '2025-01-01T00:00:00.000Z');
  assert.equal(a.endsAt, undefined);
  assert.equal(a.annotations.value, '12');
  assert.equal(a.annotations.baseline, '0.12');
  assert.match(a.annotations.summary, /denials_by_principal: 12 .*principal=user:eve/);
  const r = toPostableAlert({ rule: 'denials_by_principal', severity: 'warning', key: 'user:eve', labels: { principal: 'user:eve' }, value: 0, unit: 'count', baseline: 0, threshold: 3, startsAt, endsAt: new Date('2025-01-01T00:05:00Z') });
  assert.equal(r.endsAt, '2025-01-01T00:05:00.000Z');
  const slow = toPostableAlert({ rule: 'latency_by_model', severity: 'warning', key: 'mnist/1', labels: { model: 'mnist', version: '1' }, value: 41.234, unit: 'ms', baseline: 3.2, threshold: 4.5, startsAt });
  assert.equal(slow.labels.alertname, 'VigilLatencyByModel');
  assert.match(slow.annotations.summary, /latency_by_model: mean 41.23 ms .*model=mnist version=1, baseline 3.2 ms/);
});

test('AnomalyDetector: a model version whose mean latency leaps above its own usual fires, and resolves when it is back', () => {
  const d = new AnomalyDetector({ tickMs: 1_000_000, rules: { latency_by_model: { alpha: 0.2, k: 4, min_count: 10, warmup_ticks: 3, resolve_ticks: 2 } } });
  const events: { state: string; ev: AlertEvent }[] = [];
  d.on('firing', (ev) => events.push({ state: 'firing', ev }));
  d.on('resolved', (ev) => events.push({ state: 'resolved', ev }));
  const labels = { model: 'mnist', version: '1' };
  /** One interval: `n` requests around `ms` (±10%), then a tick. */
  const interval = (ms: number, n = 20, key = 'mnist/1') => {
    for (let i = 0; i < n; i++) d.observeValue('latency_by_model', key, key === 'mnist/1' ? labels : { model: 'digits', version: '1' }, ms * (0.9 + (0.2 * i) / n));
    d.tick();
  };
  // A key's first interval is its baseline, never judged against zero: 30 ms from the start is not an alert.
  for (const ms of [30, 31, 29, 30, 32, 30]) interval(ms);
  assert.equal(events.length, 0);
  interval(33); // within its usual spread (the floor is 10% of the mean, times k)
  assert.equal(events.length, 0);
  interval(500, 5); // too few samples to judge: a handful of slow requests is not a trend
  assert.equal(events.length, 0);
  interval(90); // three times the usual, with enough samples
  assert.deepEqual(events.map((e) => e.state), ['firing']);
  const f = events[0].ev;
  assert.equal(f.rule, 'latency_by_model');
  assert.equal(f.unit, 'ms');
  assert.deepEqual(f.labels, labels);
  assert.ok(Math.abs(f.value - 90) < 1, `value ${f.value} is the interval's mean`);
  assert.ok(f.baseline > 29 && f.baseline < 32, `baseline ${f.baseline} is the usual ~30 ms`);
  interval(95); // still slow: deduplicated, and not learnt as the new usual
  assert.ok(d.active()[0].baseline < 32, `baseline ${d.active()[0].baseline} still the usual`);
  // A model version that stops answering altogether does not look recovered for want of samples.
  for (let i = 0; i < 5; i++) d.tick();
  interval(500, 5);
  assert.equal(events.length, 1, 'no samples (or too few) never resolve an alert');
  interval(31);
  assert.equal(events.length, 1);
  interval(30);
  assert.deepEqual(events.map((e) => e.state), ['firing', 'resolved']);
  assert.ok(events[1].ev.value < 35, 'the resolved alert carries the calm interval that resolved it');
  // Another model version with a higher usual latency is judged against its own baseline.
  for (let i = 0; i < 5; i++) interval(200, 20, 'digits/1');
  assert.equal(events.length, 2);
});
