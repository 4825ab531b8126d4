import type { AnswerDetail, AnswersConfig } from '../../../policies/src/index.js';

const FULL: AnswerDetail = { detail: 'full', decimals: 2 };
/** More detail ranks higher: full, then rounded to more decimals, then top1. */
const rank = (d: AnswerDetail) => (d.detail === 'full' ? 100 : d.detail === 'rounded' ? 10 + d.decimals : 0);

/** What a caller with these roles sees: the most detailed of its listed roles, else the default (as limits take the most generous). */
export function answerDetailFor(answers: AnswersConfig | undefined, roles: readonly string[]): AnswerDetail {
  if (!answers) return FULL;
  let best: AnswerDetail | undefined;
  for (const role of roles) {
    const d = answers.roles[role];
    if (d && (!best || rank(d) > rank(best))) best = d;
  }
  return best ?? answers.default;
}

interface OutputTensor {
  datatype?: unknown;
  shape?: unknown;
  data?: unknown;
}

const FLOATS = new Set(['FP16', 'FP32', 'FP64']);

/** A value rounded to `decimals`; a model's NaN or infinity (null in JSON) is left as it is. */
const round = (v: number, decimals: number) => (typeof v === 'number' && Number.isFinite(v) ? Number(v.toFixed(decimals)) : v);

/**
 * Reduces the floating-point outputs of a JSON inference answer to what `detail` allows, in place:
 * rounded values, or one-hot on each row's largest value (shape and datatype unchanged, so clients
 * parse it as before). Other outputs (a label, integers, strings) are left alone.
 */
export function reduceAnswer(answer: { outputs?: OutputTensor[] }, detail: AnswerDetail): void {
  for (const out of answer.outputs ?? []) {
    if (typeof out.datatype !== 'string' || !FLOATS.has(out.datatype) || !Array.isArray(out.data)) continue;
    const data = out.data as number[];
    if (detail.detail === 'rounded') {
      for (let i = 0; i < data.length; i++) data[i] = round(data[i], detail.decimals);
      continue;
    }
    // Only a [rows, classes] output has a top class per row: a per-row score ([rows, 1]) or a flat
    // vector would become all ones, or one-hot across the batch. Those are rounded instead.
    const shape = Array.isArray(out.shape) ? (out.shape as number[]) : [];
    const width = shape.length >= 2 ? shape[shape.length - 1] : 0;
    if (width <= 1) {
      for (let i = 0; i < data.length; i++) data[i] = round(data[i], detail.decimals);
      continue;
    }
    for (let row = 0; row + width <= data.length; row += width) {
      let best = row;
      for (let i = row + 1; i < row + width; i++) if (data[i] > data[best]) best = i;
      for (let i = row; i < row + width; i++) data[i] = i === best ? 1 : 0;
    }
  }
}
