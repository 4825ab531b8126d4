import type { AnswerTensor } from '../../../oip/src/infer-answer.js';

/**
 * Triton's classification extension: an output asked for with `classification: k` is answered
 * as its k largest values per row (the last dimension), each a BYTES string "value:index" or, when
 * the model has a label for every class, "value:index:label". The value is printed with six
 * decimals for floating-point outputs and as an integer for integer ones, as Triton's
 * std::to_string does. k past the number of classes returns them all.
 */
export function classify(outputs: AnswerTensor[], wanted: ReadonlyMap<string, number>, labels: readonly string[] | undefined): void {
  for (let o = 0; o < outputs.length; o++) {
    const out = outputs[o];
    const k = wanted.get(out.name);
    if (k === undefined) continue;
    const classes = out.shape.length === 0 ? 1 : out.shape[out.shape.length - 1];
    // JSON carries a model's NaN or infinity as null: rank it last, as NaN.
    const values = (out.data as readonly unknown[]).map((v) => (typeof v === 'number' ? v : NaN));
    const rankOf = (v: number) => (Number.isNaN(v) ? -Infinity : v);
    const rows = classes === 0 ? 0 : values.length / classes;
    const top = Math.min(k, classes);
    const named = labels !== undefined && labels.length === classes ? labels : undefined;
    // As std::to_string prints them: six decimals, and nan / inf / -inf.
    const print = (v: number) => (Number.isNaN(v) ? 'nan' : !Number.isFinite(v) ? (v > 0 ? 'inf' : '-inf') : out.datatype.startsWith('FP') ? v.toFixed(6) : String(v));
    const data: string[] = [];
    for (let r = 0; r < rows; r++) {
      const order = Array.from({ length: classes }, (_, i) => i).sort((a, b) => rankOf(values[r * classes + b]) - rankOf(values[r * classes + a]) || a - b);
      for (const i of order.slice(0, top)) data.push(`${print(values[r * classes + i])}:${i}${named ? `:${named[i]}` : ''}`);
    }
    const shape = out.shape.length === 0 ? [top] : [...out.shape.slice(0, -1), top];
    outputs[o] = { name: out.name, datatype: 'BYTES', shape, data };
  }
}
