// onnx-proto is CommonJS with a single `module.exports = { onnx }`; Node's ESM loader only
// exposes it as the default export, so unwrap it once here for the exporter and reader.
import onnxProto from 'onnx-proto';

export const { onnx } = onnxProto;
export type { onnx as OnnxTypes } from 'onnx-proto';
