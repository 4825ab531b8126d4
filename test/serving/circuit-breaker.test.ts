import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CircuitBreaker, type CircuitState } from '../../serving/src/remote/circuit-breaker.js';

function breaker() {
  let now = 0;
  const changes: CircuitState[] = [];
  const b = new CircuitBreaker({ failures: 3, openMs: 1000, maxOpenMs: 3000 }, () => now, (s) => changes.push(s));
  return { b, changes, advance: (ms: number) => (now += ms) };
}

test('the circuit opens after `failures` in a row, not after failures a success interrupted', () => {
  const { b } = breaker();
  b.failure();
  b.failure();
  b.success();
  b.failure();
  b.failure();
  assert.equal(b.state, 'closed');
  assert.equal(b.allow(), 'pass');
  b.failure();
  assert.equal(b.state, 'open');
  assert.equal(b.allow(), null);
  assert.equal(b.retryAfterSeconds(), 1);
});

test('after open_ms exactly one trial goes; its success closes the circuit, its failure reopens it for twice as long, capped', () => {
  const { b, changes, advance } = breaker();
  for (let i = 0; i < 3; i++) b.failure();
  advance(999);
  assert.equal(b.allow(), null);
  assert.equal(b.trialDue, false);
  advance(1);
  assert.equal(b.trialDue, true);
  assert.equal(b.allow(), 'trial');
  assert.equal(b.allow(), null, 'only one trial at a time');
  b.failure();
  assert.equal(b.state, 'open');
  advance(1500);
  assert.equal(b.allow(), null, 'reopened for 2000 ms');
  advance(500);
  assert.equal(b.allow(), 'trial');
  b.failure(); // third opening: 4000 ms capped to 3000
  advance(2999);
  assert.equal(b.allow(), null);
  advance(1);
  assert.equal(b.allow(), 'trial');
  b.success();
  assert.equal(b.state, 'closed');
  assert.deepEqual(changes, ['open', 'half-open', 'open', 'half-open', 'open', 'half-open', 'closed']);
  for (let i = 0; i < 3; i++) b.failure();
  advance(1000);
  assert.equal(b.allow(), 'trial', 'a closed circuit starts again from open_ms');
});

test('a trial its client abandoned frees the slot for the next trial', () => {
  const { b, advance } = breaker();
  for (let i = 0; i < 3; i++) b.failure();
  advance(1000);
  assert.equal(b.allow(), 'trial');
  b.releaseTrial();
  assert.equal(b.allow(), 'trial');
});

test('a passing health check closes the circuit once open_ms has passed, never before', () => {
  const { b, advance } = breaker();
  for (let i = 0; i < 3; i++) b.failure();
  b.healthPassed();
  assert.equal(b.state, 'open', 'too early: still open');
  advance(1000);
  b.healthPassed();
  assert.equal(b.state, 'closed', 'no client needed to close it');
  assert.equal(b.allow(), 'pass');
});
