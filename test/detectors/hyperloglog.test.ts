// The budget counters' HyperLogLog: the kept sums must give exactly what a full pass over the
// registers gives, and the estimate must stay within its error at the budgets' sizes.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { hllCount, hllEstimate, hllInsert, newHll } from '../../detectors/src/budget/hyperloglog.js';

test('the incrementally kept estimate equals a full count at every step, and is within 5% from 100 to 20,000', () => {
  const h = newHll();
  for (let i = 1; i <= 20_000; i++) {
    const digest = createHash('sha256').update(`row-${i}`).digest();
    hllInsert(h, digest);
    if (i % 997 === 0 || i === 350 || i === 500 || i === 5000) {
      assert.equal(hllEstimate(h), hllCount(h.registers), `after ${i}`);
      if (i >= 100) assert.ok(Math.abs(hllEstimate(h) - i) / i < 0.05, `${hllEstimate(h)} for ${i}`);
    }
  }
  const again = hllEstimate(h);
  for (let i = 1; i <= 500; i++) hllInsert(h, createHash('sha256').update(`row-${i}`).digest());
  assert.equal(hllEstimate(h), again, 'rows already counted count nothing');
});
