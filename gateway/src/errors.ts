import type { RequestProblemCode } from '../../serving/src/oip/validate-request.js';

interface ErrorDefinition {
  status: number;
  /** One line for the README's table of codes (a test keeps the two in step). */
  doc: string;
}

/**
 * Every error a client can receive, in one place. `code` is stable: clients and dashboards key on
 * it; the message may change. Bodies are OIP's `{"error": message}` plus `"code"`.
 */
export const ERRORS = {
  INVALID_PATH: { status: 400, doc: 'The path is ambiguous or malformed: dot segments, encoded characters, duplicate or trailing slashes, a query string, or absolute-form.' },
  ROUTE_NOT_FOUND: { status: 404, doc: 'No Open Inference Protocol endpoint has this path.' },
  METHOD_NOT_ALLOWED: { status: 405, doc: 'The endpoint exists but not for this method; `Allow` lists the methods.' },
  MODEL_NOT_FOUND: { status: 404, doc: 'No model of this name is in the repository.' },
  MODEL_VERSION_NOT_FOUND: { status: 404, doc: 'The model exists but not in this version.' },
  MODEL_UNAVAILABLE: { status: 503, doc: 'The model version is in the repository but was refused at load (e.g. its digest does not match); it will not come back without an operator.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, doc: 'The body is not `application/json` (UTF-8), or it has a `Content-Encoding`.' },
  BODY_TOO_LARGE: { status: 413, doc: 'The body exceeds `server.max_body_bytes`.' },
  BODY_INCOMPLETE: { status: 400, doc: 'The client stopped sending before the body was complete.' },
  INVALID_JSON: { status: 400, doc: 'The body is not valid UTF-8 JSON.' },
  INVALID_INFERENCE_REQUEST: { status: 400, doc: 'The JSON is not an inference request (`inputs` missing, fields of the wrong type).' },
  UNKNOWN_INPUT: { status: 400, doc: 'An input tensor names no input of the model.' },
  MISSING_INPUT: { status: 400, doc: 'An input the model requires is absent.' },
  DUPLICATE_INPUT: { status: 400, doc: 'The same input tensor appears twice.' },
  DATATYPE_MISMATCH: { status: 400, doc: "An input's datatype is not the model's." },
  SHAPE_MISMATCH: { status: 400, doc: "An input's shape does not fit the model's declared shape." },
  BATCH_TOO_LARGE: { status: 400, doc: "The batch dimension exceeds the model's `max_batch_size`." },
  ELEMENT_COUNT_MISMATCH: { status: 400, doc: 'The data holds a different number of elements than the shape, or nesting that does not follow it.' },
  INVALID_ELEMENT: { status: 400, doc: 'An element is not a value of the datatype (a string in an FP32 tensor, say).' },
  NON_FINITE_VALUE: { status: 400, doc: 'A floating-point element is infinite or overflows the datatype (e.g. `1e999`).' },
  VALUE_OUT_OF_RANGE: { status: 400, doc: "An integer element does not fit the datatype's range." },
  UNKNOWN_OUTPUT: { status: 400, doc: 'A requested output names no output of the model.' },
  POOL_RESTARTING: { status: 503, doc: "The model's pool has no live worker right now (crashed, restarting, or died mid-request); retry after `Retry-After` seconds." },
  POOL_QUARANTINED: { status: 503, doc: "The model's pool kept crashing and was quarantined; an operator must act." },
  POOL_TIMEOUT: { status: 504, doc: 'The pool did not answer within `server.request_timeout_ms`.' },
  POOL_ERROR: { status: 502, doc: 'The pool failed in an unexpected way.' },
  SHUTTING_DOWN: { status: 503, doc: 'vigil is draining before it stops.' },
  INTERNAL_ERROR: { status: 500, doc: 'A bug in vigil; the log has the details under the request id.' },
} as const satisfies Record<string, ErrorDefinition> & Record<RequestProblemCode, ErrorDefinition>;

export type ErrorCode = keyof typeof ERRORS;

/** The one error type of the request path: a stage throws it, the renderer answers it. */
export class VigilError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'VigilError';
    this.status = ERRORS[code].status;
  }
}
