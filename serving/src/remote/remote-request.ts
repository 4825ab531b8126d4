import { screenBatch } from '../../../detectors/src/screen-batch.js';
import { poolScreenReport, poolScreenRows, type PoolScreenSpec } from '../../../detectors/src/squeeze/pool-screen.js';
import { toJsonArray } from '../../../oip/src/infer-answer.js';
import type { InferenceRequest, ModelSignature } from '../../../oip/src/signature.js';
import { answerBody, firstRows, rowsOfOutput, type AnswerCheck } from './oip-answer.js';

/** What goes to a remote server for one client request, and how its answer is turned back. */
export interface RemotePlan {
  body: Buffer;
  /** Outputs the answer must hold. */
  wanted: string[];
  /** Rows the answer must hold (batched models). */
  rows: number | undefined;
  /** The client's answer (and screening report) from a checked 200 answer. */
  finish(check: Extract<AnswerCheck, { ok: true }>): { body: Buffer; screen?: string };
}

/**
 * Plans the remote request. Without pool-phase screening the validated bytes go as they are.
 * With it (feature squeezing, or the predictions extraction detection reads), the request becomes
 * the client's rows followed by their squeezed copies, as vigil's own pool runs them: the remote
 * server runs them as one batch, and the scores are computed here from its probabilities, so a
 * remote model is screened by the same detectors with no code on the server. The server must
 * then accept rows × (1 + squeezers) in one request (its max batch size).
 *
 * The remote answers JSON always: a request that asked for binary outputs or classification (or
 * sent binary data, `raw` undefined) goes as plain JSON, and the gateway's shape-answer stage gives
 * the client the form it asked for, as it does for vigil's own pools.
 */
export function planRemote(
  parsed: InferenceRequest,
  raw: Buffer | undefined,
  target: { model: string; version: string; signature: ModelSignature },
  screen: PoolScreenSpec | undefined,
): RemotePlan {
  const sig = target.signature;
  const requested = parsed.outputs?.map((o) => o.name) ?? sig.outputs.map((o) => o.name);
  const clientRows = sig.maxBatchSize > 0 ? parsed.inputs[0]?.shape[0] : undefined;
  const reply = (outputs: Map<string, ReturnType<typeof firstRows>>, rows: number | undefined) =>
    answerBody(target.model, target.version, parsed.id, requested.map((n) => (rows === undefined ? outputs.get(n)! : firstRows(outputs.get(n)!, rows))));
  if (!screen) {
    const body = raw !== undefined && !asksForm(parsed) ? raw : plainJson(parsed);
    return { body, wanted: requested, rows: clientRows, finish: (c) => ({ body: reply(c.outputs, undefined) }) };
  }
  const { rows } = screenBatch(parsed, screen.features);
  const all = poolScreenRows(rows, screen);
  const data: number[] = [];
  for (const row of all) for (const v of row) data.push(v);
  const wanted = requested.includes(screen.probabilities) ? requested : [...requested, screen.probabilities];
  const request: Record<string, unknown> = {};
  if (parsed.id !== undefined) request.id = parsed.id;
  request.inputs = [{ name: parsed.inputs[0].name, datatype: 'FP32', shape: [all.length, screen.features], data }];
  request.outputs = wanted.map((name) => ({ name }));
  return {
    body: Buffer.from(JSON.stringify(request)),
    wanted,
    rows: all.length,
    finish(c) {
      const report = poolScreenReport(rowsOfOutput(c.outputs.get(screen.probabilities)!), rows.length, screen);
      return { body: reply(c.outputs, rows.length), screen: JSON.stringify(report) };
    },
  };
}

/**
 * Whether the validated bytes cannot go to the remote as they are: a request asking for binary
 * outputs or classification (the remote must not apply them), naming its model in the body (the
 * remote's may be another name), or carrying request parameters (vigil's timeout and priority are
 * the caller's asks of vigil: a remote Triton would queue by them, and fail its own short
 * deadlines as 5xx that would open the circuit for every caller).
 */
function asksForm(parsed: InferenceRequest): boolean {
  return parsed.model_name !== undefined || parsed.parameters !== undefined || (parsed.outputs?.some((o) => o.parameters?.binary_data !== undefined || o.parameters?.classification !== undefined) ?? false);
}

/** The request as plain JSON: binary data as JSON numbers, and no parameter of vigil's own (answer form, timeout, priority). */
function plainJson(parsed: InferenceRequest): Buffer {
  const { binary_data_output: _b, timeout: _t, priority: _p, ...parameters } = parsed.parameters ?? {};
  const request: Record<string, unknown> = {};
  if (parsed.id !== undefined) request.id = parsed.id;
  if (Object.keys(parameters).length > 0) request.parameters = parameters;
  request.inputs = parsed.inputs.map((input) => {
    const { binary_data_size: _s, ...rest } = input.parameters ?? {};
    // Decoded binary data as JSON values of its datatype (BOOL as booleans).
    const data = ArrayBuffer.isView(input.data) ? toJsonArray(input.data, input.datatype) : input.data;
    return { name: input.name, shape: input.shape, datatype: input.datatype, ...(Object.keys(rest).length > 0 ? { parameters: rest } : {}), data };
  });
  if (parsed.outputs) {
    request.outputs = parsed.outputs.map((o) => {
      const { binary_data: _d, classification: _c, ...rest } = o.parameters ?? {};
      return { name: o.name, ...(Object.keys(rest).length > 0 ? { parameters: rest } : {}) };
    });
  }
  return Buffer.from(JSON.stringify(request));
}
