import { decodeAnswer } from '../../../oip/src/infer-answer.js';

/** How a shadow version's answer compares with the answer that was returned. */
export interface Comparison {
  /** Rows whose top class both answers agree on, of the rows compared. */
  agree: number;
  rows: number;
  /** The largest absolute difference between the two answers' values, over every compared output. */
  maxDifference: number;
}

/**
 * Compares two answers to one request (JSON or binary, each decoded): every floating-point output
 * of shape [rows, classes] (classes > 1) in both, row by row: the top class, and the largest
 * difference of any value. Null when the answers share no such output (nothing to compare), or
 * the shadow's does not have the returned one's shape.
 */
export function compareAnswers(returned: { body: Buffer; headerLength?: number }, shadow: { body: Buffer; headerLength?: number }): Comparison | null {
  const a = decodeAnswer(returned.body, returned.headerLength).outputs;
  const b = new Map(decodeAnswer(shadow.body, shadow.headerLength).outputs.map((o) => [o.name, o]));
  const out: Comparison = { agree: 0, rows: 0, maxDifference: 0 };
  for (const x of a) {
    const y = b.get(x.name);
    const width = x.shape.length === 2 ? x.shape[1] : 0;
    if (!x.datatype.startsWith('FP') || width < 2 || !y || y.shape.join() !== x.shape.join()) continue;
    const p = x.data as readonly number[];
    const q = y.data as readonly number[];
    for (let row = 0; row < x.shape[0]; row++) {
      let bestP = row * width;
      let bestQ = row * width;
      for (let i = row * width; i < (row + 1) * width; i++) {
        if (p[i] > p[bestP]) bestP = i;
        if (q[i] > q[bestQ]) bestQ = i;
        out.maxDifference = Math.max(out.maxDifference, Math.abs(p[i] - q[i]));
      }
      out.rows++;
      if (bestP === bestQ) out.agree++;
    }
  }
  return out.rows > 0 ? out : null;
}
