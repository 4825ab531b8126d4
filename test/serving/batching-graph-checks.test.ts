import assert from 'node:assert/strict';
import { test } from 'node:test';
import { onnx, type OnnxTypes } from '../../tools/train/onnx-proto.js';
import type { ModelSignature } from '../../oip/src/signature.js';
import { OnnxRunner } from '../../serving/src/worker/onnx-runner.js';

// model.yaml may declare [-1, …] while the ONNX graph reduces over the batch. Merged, such a run
// would hand one client a sum over other clients' rows: the pool must never let that happen.
const SIGNATURE: ModelSignature = {
  inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 2] }],
  outputs: [{ name: 'total', datatype: 'FP32', shape: [-1, 1] }],
  maxBatchSize: 4,
};

/** input[N,2] → ReduceSum over everything (keepdims) → total, declared with `totalFirstDim` as its first dimension. */
function reducingModel(totalFirstDim: OnnxTypes.TensorShapeProto.IDimension): Uint8Array {
  const { DataType } = onnx.TensorProto;
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'reduce',
      node: [onnx.NodeProto.create({ opType: 'ReduceSum', input: ['input'], output: ['total'], name: 'total', attribute: [{ name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] })],
      input: [{ name: 'input', type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimParam: 'N' }, { dimValue: 2 }] } } } }],
      output: [{ name: 'total', type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [totalFirstDim, { dimValue: 1 }] } } } }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** input[N,2] → Compress(axis 0) by a constant [true]: only the first row comes out, a count no shape inference can know. */
function firstRowModel(): Uint8Array {
  const { DataType } = onnx.TensorProto;
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'first_row',
      node: [
        onnx.NodeProto.create({ opType: 'ReduceSum', input: ['input', 'axis1'], output: ['rowsum'], name: 'rowsum', attribute: [{ name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] }),
        onnx.NodeProto.create({ opType: 'Compress', input: ['rowsum', 'keep'], output: ['total'], name: 'total', attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }] }),
      ],
      initializer: [
        { name: 'axis1', dims: [1], dataType: DataType.INT64, int64Data: [1] },
        { name: 'keep', dims: [1], dataType: DataType.BOOL, int32Data: [1] },
      ],
      input: [{ name: 'input', type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimParam: 'N' }, { dimValue: 2 }] } } } }],
      output: [{ name: 'total', type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimParam: 'M' }, { dimValue: 1 }] } } } }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

const part = (a: number, b: number) => ({ rows: 1, tensors: { input: { datatype: 'FP32' as const, dims: [1, 2], data: Float32Array.from([a, b]) } } });

test('a graph that fixes an output\'s first dimension is refused for dynamic batching at load, and loads without it', async () => {
  const bytes = reducingModel({ dimValue: 1 });
  await assert.rejects(OnnxRunner.create(bytes, SIGNATURE, 1, { batching: true }), /dynamic_batching needs a free first dimension.*total's to 1/);
  const runner = await OnnxRunner.create(bytes, SIGNATURE, 1);
  await runner.close();
});

test('an output that is not one row per input row is never split between merged requests', async () => {
  // The graph leaves the first dimension free, yet answers one row whatever the batch.
  const runner = await OnnxRunner.create(firstRowModel(), SIGNATURE, 1, { batching: true });
  try {
    await assert.rejects(runner.run([part(1, 2), part(100, 200)], ['total']), /total has 1 rows for a merged batch of 2/);
    // Alone, each request gets its own answer (what the batcher falls back to).
    const [alone] = await runner.run([part(100, 200)], ['total']);
    assert.deepEqual(Array.from(alone.total.data as Float32Array), [300]);
  } finally {
    await runner.close();
  }
});
