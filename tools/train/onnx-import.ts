// Reads MlpWeights back out of an exported model's initializers, so tests and the build's
// accuracy figure exercise exactly the float32 weights that ship in model.onnx.
import type { MlpWeights } from './mlp.js';
import { INITIALIZERS } from './onnx-export.js';
import { onnx } from './onnx-proto.js';

export function importOnnxWeights(bytes: Uint8Array): MlpWeights {
  const model = onnx.ModelProto.decode(bytes);
  const tensors = new Map((model.graph?.initializer ?? []).map((t) => [t.name, t]));

  const read = (name: string): { dims: number[]; data: Float32Array } => {
    const t = tensors.get(name);
    if (!t) throw new Error(`model.onnx has no initializer "${name}"`);
    if (t.dataType !== onnx.TensorProto.DataType.FLOAT) throw new Error(`initializer "${name}" is not FLOAT`);
    const dims = (t.dims ?? []).map(Number);
    const count = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(count);
    if (t.rawData && t.rawData.length > 0) {
      const view = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(i * 4, true);
    } else {
      data.set(t.floatData ?? []);
    }
    return { dims, data };
  };

  const w1 = read(INITIALIZERS.w1);
  const w2 = read(INITIALIZERS.w2);
  const [inputs, hidden] = w1.dims;
  const classes = w2.dims[1];
  // No scale initializer means the graph feeds the raw input straight into layer 1.
  const inputScale = tensors.has(INITIALIZERS.inputScale) ? read(INITIALIZERS.inputScale).data[0] : 1;
  return {
    inputs,
    hidden,
    classes,
    inputScale,
    w1: w1.data,
    b1: read(INITIALIZERS.b1).data,
    w2: w2.data,
    b2: read(INITIALIZERS.b2).data,
  };
}
