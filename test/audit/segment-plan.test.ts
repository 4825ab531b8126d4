// Which records of a group commit go into which file: planSegments() is pure, so every case of
// rotation is a row here rather than a log written to disk.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planSegments, type Segment } from '../../gateway/src/audit/segment-plan.js';

const cases: { name: string; records: number[]; fileBytes: number | null; max: number; want: Segment[] }[] = [
  {
    name: 'empty batch: nothing to write',
    records: [],
    fileBytes: 100,
    max: 1000,
    want: [],
  },
  {
    name: 'empty batch and no file: no file is started for nothing',
    records: [],
    fileBytes: null,
    max: 1000,
    want: [],
  },
  {
    name: 'fits in the current file: one write, no rotation',
    records: [100, 200, 300],
    fileBytes: 100,
    max: 1000,
    want: [{ startsFile: false, from: 0, to: 3, bytes: 600 }],
  },
  {
    name: 'no current file: the first record starts one',
    records: [100, 200],
    fileBytes: null,
    max: 1000,
    want: [{ startsFile: true, from: 0, to: 2, bytes: 300 }],
  },
  {
    name: 'exactly at the boundary: a record that fills the file to maxFileBytes stays in it',
    records: [400, 100],
    fileBytes: 500,
    max: 1000,
    want: [{ startsFile: false, from: 0, to: 2, bytes: 500 }],
  },
  {
    name: 'one byte past the boundary: the record starts the next file',
    records: [400, 101],
    fileBytes: 500,
    max: 1000,
    want: [
      { startsFile: false, from: 0, to: 1, bytes: 400 },
      { startsFile: true, from: 1, to: 2, bytes: 101 },
    ],
  },
  {
    name: 'rotation mid-batch, more than once',
    records: [300, 300, 300, 300, 300, 300, 300],
    fileBytes: 400,
    max: 1000,
    want: [
      { startsFile: false, from: 0, to: 2, bytes: 600 },
      { startsFile: true, from: 2, to: 5, bytes: 900 },
      { startsFile: true, from: 5, to: 7, bytes: 600 },
    ],
  },
  {
    name: 'a full current file: the first record already rotates',
    records: [10],
    fileBytes: 1000,
    max: 1000,
    want: [{ startsFile: true, from: 0, to: 1, bytes: 10 }],
  },
  {
    name: 'a record bigger than maxFileBytes goes alone into a new file, and the next record rotates again',
    records: [100, 5000, 100],
    fileBytes: 200,
    max: 1000,
    want: [
      { startsFile: false, from: 0, to: 1, bytes: 100 },
      { startsFile: true, from: 1, to: 2, bytes: 5000 },
      { startsFile: true, from: 2, to: 3, bytes: 100 },
    ],
  },
  {
    name: 'a record bigger than maxFileBytes into an empty current file stays there (no file is left empty)',
    records: [5000, 100],
    fileBytes: 0,
    max: 1000,
    want: [
      { startsFile: false, from: 0, to: 1, bytes: 5000 },
      { startsFile: true, from: 1, to: 2, bytes: 100 },
    ],
  },
];

for (const c of cases) {
  test(`segment plan: ${c.name}`, () => {
    const input = [...c.records];
    assert.deepEqual(planSegments(c.records, c.fileBytes, c.max), c.want);
    assert.deepEqual(c.records, input, 'the input is not changed');
  });
}

test('segment plan: the segments cover the batch in order, each record once', () => {
  const records = Array.from({ length: 200 }, (_, i) => 50 + ((i * 37) % 400));
  const plan = planSegments(records, 700, 2048);
  assert.equal(plan[0].from, 0);
  for (let i = 1; i < plan.length; i++) assert.equal(plan[i].from, plan[i - 1].to);
  assert.equal(plan.at(-1)!.to, records.length);
  for (const s of plan) assert.equal(s.bytes, records.slice(s.from, s.to).reduce((a, b) => a + b, 0));
  for (const s of plan.slice(1)) assert.ok(s.startsFile && s.bytes <= 2048);
});
