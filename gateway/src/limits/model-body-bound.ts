import type { ModelSignature } from '../../../oip/src/signature.js';

/**
 * JSON bytes allowed per tensor element: a float64 written in full ("-2.2250738585072014e-308",
 * 24 characters), its separator, and pretty-printing indentation.
 */
export const BYTES_PER_ELEMENT = 48;
/** Room for the envelope: names, shapes, `id`, `parameters`, outputs. */
export const ENVELOPE_BYTES = 64 * 1024;

/**
 * The largest body a model could accept: its largest batch of every input, at BYTES_PER_ELEMENT
 * each. A body past it is refused by its Content-Length before it is read, because parsing is
 * the gateway's costliest work per byte and runs on its one event loop: a 4 MB body of short
 * numbers held the loop ~200 ms here, yet mnist (64 × 784) can accept no more than ~2.4 MB.
 * Undefined (only server.max_body_bytes applies) when a dimension other than the batch is
 * variable or an input holds strings: then no size follows from the signature.
 */
export function modelBodyBound(sig: ModelSignature): number | undefined {
  const elements = modelMaxElements(sig);
  return elements === undefined ? undefined : ENVELOPE_BYTES + elements * BYTES_PER_ELEMENT;
}

/** Commas a request may hold beyond one per element: shapes, parameters, outputs, keys. */
export const ENVELOPE_COMMAS = 4096;

/**
 * Elements in the model's largest request (every input at its largest batch); undefined when a
 * dimension other than the batch is variable or an input holds strings (no bound follows).
 */
export function modelMaxElements(sig: ModelSignature): number | undefined {
  let elements = 0;
  for (const input of sig.inputs) {
    if (input.datatype === 'BYTES') return undefined;
    let n = 1;
    for (let i = 0; i < input.shape.length; i++) {
      const d = input.shape[i];
      if (d >= 0) n *= d;
      else if (i === 0 && sig.maxBatchSize > 0) n *= sig.maxBatchSize;
      else return undefined;
    }
    elements += n;
  }
  return elements;
}
