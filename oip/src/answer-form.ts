import type { InferenceRequest, ModelSignature } from './signature.js';

/**
 * What a client asked of the answer's form, beyond which outputs: the outputs it wants as binary
 * tensor data (`binary_data` on an output, else `binary_data_output` on the request, as Triton
 * reads them), and the outputs it wants ranked (`classification`: the top k). The gateway and the
 * pool read it the same way, so a pool's answer is already in the form the client asked for.
 */
export interface AnswerForm {
  /** The outputs the answer holds, in order: those named, else all of the model's. */
  outputs: readonly string[];
  binary: ReadonlySet<string>;
  classification: ReadonlyMap<string, number>;
}

/** The form a validated request asks for; undefined for plain JSON of every output, the common case. */
export function answerFormOf(request: InferenceRequest, sig: ModelSignature): AnswerForm | undefined {
  const all = request.parameters?.binary_data_output === true;
  const named = request.outputs;
  if (!all && !named?.some((o) => o.parameters?.binary_data === true || o.parameters?.classification !== undefined)) return undefined;
  const outputs = named?.map((o) => o.name) ?? sig.outputs.map((o) => o.name);
  const binary = new Set<string>();
  const classification = new Map<string, number>();
  for (const name of outputs) {
    const parameters = named?.find((o) => o.name === name)?.parameters;
    const own = parameters?.binary_data;
    if (own === true || (own === undefined && all)) binary.add(name);
    if (typeof parameters?.classification === 'number') classification.set(name, parameters.classification);
  }
  return { outputs, binary, classification };
}
