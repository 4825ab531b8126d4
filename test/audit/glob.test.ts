// The query's globs: `*` any run, `?` one character, everything else itself; the same answers a
// regular expression gives, without its backtracking.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { globMatch } from '../../gateway/src/audit/glob.js';

test('globs match what they say', () => {
  const cases: [string, string, boolean][] = [
    ['key:*', 'key:ci', true],
    ['key:*', 'user:ci', false],
    ['*', '', true],
    ['', '', true],
    ['', 'a', false],
    ['a?c', 'abc', true],
    ['a?c', 'ac', false],
    ['*.prod', 'mnist.prod', true],
    ['m*t*', 'mnist', true],
    ['a*a*a*a*a*a*!', 'a'.repeat(100_000), false],
    ['a*a*a*a*a*a*!', 'a'.repeat(100_000) + '!', true],
    ['.*', 'anything', false], // no regex syntax
    ['[ab]', 'a', false],
    ['x\ny', 'x\ny', true],
  ];
  for (const [p, v, want] of cases) assert.equal(globMatch(p, v), want, `${JSON.stringify(p)} vs ${JSON.stringify(v.slice(0, 20))}`);
});

test('the same answers as the equivalent regular expression, on every short pattern and value over a small alphabet', () => {
  const toRe = (p: string) => new RegExp('^' + [...p].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c)).join('') + '$', 's');
  const all = (alphabet: string, max: number): string[] => {
    const out = [''];
    for (let len = 1, layer = ['']; len <= max; len++) {
      layer = layer.flatMap((s) => [...alphabet].map((c) => s + c));
      out.push(...layer);
    }
    return out;
  };
  const patterns = all('a*?', 4);
  const values = all('ab', 5);
  for (const p of patterns) {
    const re = toRe(p);
    for (const v of values) assert.equal(globMatch(p, v), re.test(v), `${p} vs ${v}`);
  }
});
