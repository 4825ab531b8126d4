import type { InferenceRequest } from '../../oip/src/signature.js';
import { walkTensorData } from '../../oip/src/tensor-data.js';
import { STANDARD_PARAMETERS } from '../../oip/src/validate-request.js';
import { z } from 'zod';
import { defineDetector } from './detector.js';
import { finding, type Finding } from './finding.js';

export const structuralConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Elements across all input tensors of one request. */
    max_elements: z.number().int().positive().optional(),
    /** Bytes of the request body (tighter than server.max_body_bytes for this model). */
    max_body_bytes: z.number().int().positive().optional(),
    /** Bytes of one BYTES element (UTF-8). */
    max_bytes_element: z.number().int().positive().default(65536),
    /** Request-level `parameters` keys a client may send; anything else is refused. Absent: any. */
    parameters: z.array(z.string()).optional(),
    /** Per-tensor `parameters` keys a client may send. Absent: any. */
    tensor_parameters: z.array(z.string()).optional(),
  })
  .strict()
  .prefault({});

export type StructuralConfig = z.output<typeof structuralConfigSchema>;

/** Structural checks on the request, in the gateway: on by default for every model. */
export const structuralDetector = defineDetector({
  name: 'structural',
  phase: 'request',
  configSchema: structuralConfigSchema,
  refusalCode: 'STRUCTURAL_CHECK_FAILED',
  refusalMessage: 'the request fails a structural check for this model',
  defaultAction: 'block',
  prepare(cfg, model) {
    if (!cfg.enabled) return null;
    return { inspect: ({ request, bodyBytes }) => ({ findings: request ? screenStructure({ request, bodyBytes, ranges: model.ranges }, cfg) : [] }) };
  },
});

export interface StructuralInput {
  request: InferenceRequest;
  bodyBytes: number;
  /** The declared value range of each input tensor (model.yaml `range`), by name. */
  ranges: ReadonlyMap<string, readonly [number, number]>;
}

const encoder = new TextEncoder();

/**
 * Structural screening, beyond what core validation already refuses (unknown, duplicate or
 * missing tensors, wrong shapes and datatypes, non-finite values, integers outside their
 * datatype): budgets of elements and bytes per request, BYTES element sizes, values outside the
 * model's declared range, and an allowlist of `parameters`. Returns only what it found wrong:
 * each check is a yes/no, so a clean request has nothing worth recording.
 */
export function screenStructure(input: StructuralInput, cfg: StructuralConfig): Finding[] {
  const found: Finding[] = [];
  if (!cfg.enabled) return found;
  const { request } = input;
  if (cfg.max_body_bytes !== undefined && input.bodyBytes > cfg.max_body_bytes) {
    found.push(finding('structural', 'body_bytes', input.bodyBytes, cfg.max_body_bytes, { detail: `the body has ${input.bodyBytes} bytes; this model takes at most ${cfg.max_body_bytes}` }));
  }
  // The standard parameters (binary data, timeout, priority, classification) are vigil's own,
  // checked by validation; the allowlists are for what reaches the model.
  const allowed = cfg.parameters && new Set(cfg.parameters);
  for (const key of Object.keys(request.parameters ?? {})) {
    if (allowed && !allowed.has(key) && !Object.hasOwn(STANDARD_PARAMETERS.request, key)) {
      found.push(finding('structural', 'parameter', 1, 0, { detail: notAllowed(`request parameter '${truncate(key)}'`, key, 'parameters') }));
    }
  }
  const tensorAllowed = cfg.tensor_parameters && new Set(cfg.tensor_parameters);
  let elements = 0;
  for (const tensor of request.inputs) {
    for (const key of Object.keys(tensor.parameters ?? {})) {
      if (tensorAllowed && !tensorAllowed.has(key) && !Object.hasOwn(STANDARD_PARAMETERS.input, key)) {
        found.push(finding('structural', 'parameter', 1, 0, { detail: notAllowed(`parameter '${truncate(key)}' of input '${tensor.name}'`, key, 'tensor_parameters') }));
      }
    }
    let count = 1;
    for (const d of tensor.shape) count *= d;
    elements += count;
    if (tensor.datatype === 'BYTES') {
      let longest = 0;
      walkTensorData(tensor.data, tensor.shape, (v) => {
        longest = Math.max(longest, encoder.encode(v as string).length);
        return true;
      });
      if (longest > cfg.max_bytes_element) {
        found.push(finding('structural', 'bytes_element', longest, cfg.max_bytes_element, { detail: `an element of input '${tensor.name}' has ${longest} bytes; at most ${cfg.max_bytes_element}` }));
      }
    }
    const range = input.ranges.get(tensor.name);
    if (range && tensor.datatype !== 'BYTES' && tensor.datatype !== 'BOOL') {
      const beyond = outsideRange(tensor.data, tensor.shape, range);
      if (beyond.by > 0) {
        found.push(finding('structural', 'value_range', beyond.by, 0, { item: beyond.row(tensor.shape), detail: `input '${tensor.name}' element ${beyond.index} is outside the declared range [${range[0]}, ${range[1]}]` }));
      }
    }
  }
  if (cfg.max_elements !== undefined && elements > cfg.max_elements) {
    found.push(finding('structural', 'elements', elements, cfg.max_elements, { detail: `the request holds ${elements} elements; this model takes at most ${cfg.max_elements}` }));
  }
  return found;
}

function outsideRange(data: InferenceRequest['inputs'][number]['data'], shape: number[], [lo, hi]: readonly [number, number]) {
  let by = 0;
  let index = -1;
  walkTensorData(data, shape, (v, i) => {
    const n = v as number;
    const d = n < lo ? lo - n : n > hi ? n - hi : 0;
    if (d > by) {
      by = d;
      index = i;
    }
    return true;
  });
  return {
    by,
    index,
    /** The batch row of the worst element (row-major: the first dimension is the batch). */
    row: (s: number[]) => (s.length > 1 ? Math.floor(index / (s.slice(1).reduce((a, b) => a * b, 1) || 1)) : 0),
  };
}

/** Names what to edit, since an operator reading the refusal must find the allowlist. */
function notAllowed(what: string, key: string, list: 'parameters' | 'tensor_parameters'): string {
  const why = SEQUENCE_PARAMETERS.has(key) ? '; vigil serves no sequence (stateful) models, so sequence parameters have no meaning here' : '';
  return `${what} is not allowed for this model${why}; an operator may add it to detectors.structural.${list} in the model's model.yaml`;
}

const SEQUENCE_PARAMETERS = new Set(['sequence_id', 'sequence_start', 'sequence_end']);

function truncate(s: string): string {
  return s.length > 64 ? `${s.slice(0, 64)}…` : s;
}
