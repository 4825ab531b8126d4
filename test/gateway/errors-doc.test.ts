import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERRORS } from '../../gateway/src/errors.js';

test("the README's table of error codes matches the codes vigil can answer with", () => {
  const readme = readFileSync('README.md', 'utf8');
  const documented = [...readme.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => `${m[1]} ${m[2]}`);
  const actual = Object.entries(ERRORS).map(([code, d]) => `${code} ${d.status}`);
  assert.deepEqual(documented.sort(), actual.sort());
});
