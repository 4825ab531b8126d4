// Serialises a trained MlpWeights as an ONNX model (opset 13) that ONNX Runtime can serve:
//   input[batch,F] -> (Mul input_scale) -> Gemm -> Relu -> Gemm -> Softmax -> probabilities
//                                                                   ArgMax -> label
import type { MlpWeights } from './mlp.js';
import { onnx, type OnnxTypes } from './onnx-proto.js';

export const OPSET = 13;
/** IR version 8 (ONNX 1.10), understood by every ONNX Runtime release since 1.10. */
export const IR_VERSION = 8;

/** Initializer names, shared with onnx-import.ts. */
export const INITIALIZERS = {
  inputScale: 'input_scale',
  w1: 'dense1.weight',
  b1: 'dense1.bias',
  w2: 'dense2.weight',
  b2: 'dense2.bias',
} as const;

export interface ExportOptions {
  /** Graph name, e.g. "mnist_mlp". */
  name: string;
  /** Free text stored as the model's doc_string (no timestamps: output must be reproducible). */
  description: string;
}

const { DataType } = onnx.TensorProto;
const { AttributeType } = onnx.AttributeProto;

export function exportOnnx(weights: MlpWeights, options: ExportOptions): Uint8Array {
  const { inputs: F, hidden: H, classes: C } = weights;
  const nodes: OnnxTypes.INodeProto[] = [];
  const initializer = [
    floatTensor(INITIALIZERS.w1, [F, H], weights.w1),
    floatTensor(INITIALIZERS.b1, [H], weights.b1),
    floatTensor(INITIALIZERS.w2, [H, C], weights.w2),
    floatTensor(INITIALIZERS.b2, [C], weights.b2),
  ];

  // The input normalisation lives in the graph, so clients send raw values (e.g. 0..16).
  let layer1Input = 'input';
  if (weights.inputScale !== 1) {
    initializer.unshift(floatTensor(INITIALIZERS.inputScale, [], [weights.inputScale]));
    nodes.push(node('Mul', ['input', INITIALIZERS.inputScale], ['scaled_input']));
    layer1Input = 'scaled_input';
  }
  nodes.push(
    node('Gemm', [layer1Input, INITIALIZERS.w1, INITIALIZERS.b1], ['dense1']),
    node('Relu', ['dense1'], ['hidden']),
    node('Gemm', ['hidden', INITIALIZERS.w2, INITIALIZERS.b2], ['logits']),
    node('Softmax', ['logits'], ['probabilities'], [intAttribute('axis', 1)]),
    node('ArgMax', ['probabilities'], ['label'], [intAttribute('axis', 1), intAttribute('keepdims', 1)]),
  );

  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'vigil build-demo-models',
    docString: options.description,
    graph: {
      name: options.name,
      node: nodes,
      initializer,
      input: [valueInfo('input', DataType.FLOAT, F)],
      output: [valueInfo('probabilities', DataType.FLOAT, C), valueInfo('label', DataType.INT64, 1)],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

function node(opType: string, input: string[], output: string[], attribute: OnnxTypes.IAttributeProto[] = []) {
  return onnx.NodeProto.create({ opType, input, output, name: output[0], attribute });
}

function intAttribute(name: string, i: number): OnnxTypes.IAttributeProto {
  return { name, type: AttributeType.INT, i };
}

/** A [batch, width] tensor type with a symbolic batch dimension. */
function valueInfo(name: string, elemType: number, width: number): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: [{ dimParam: 'batch' }, { dimValue: width }] } } },
  };
}

/** Float32 initializer as little-endian raw_data (the ONNX wire format, whatever the host). */
function floatTensor(name: string, dims: number[], values: ArrayLike<number>): OnnxTypes.ITensorProto {
  const raw = new Uint8Array(values.length * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return { name, dims, dataType: DataType.FLOAT, rawData: raw };
}
