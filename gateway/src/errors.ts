import type { RequestProblemCode } from '../../oip/src/validate-request.js';

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
  BAD_REQUEST_FRAMING: { status: 400, doc: 'The request is not well-formed HTTP/1.1 (both Content-Length and Transfer-Encoding, a malformed request line or header, …); it is audited and the connection closed.' },
  HEADERS_TOO_LARGE: { status: 431, doc: 'The request headers exceed 16 KiB or 100 lines (later lines would otherwise be dropped silently).' },
  REQUEST_TIMEOUT: { status: 408, doc: 'The client did not send its request headers within `server.header_timeout_ms` (or the whole request within `server.client_timeout_ms`); the connection is closed.' },
  ROUTE_NOT_FOUND: { status: 404, doc: 'No Open Inference Protocol endpoint has this path.' },
  METHOD_NOT_ALLOWED: { status: 405, doc: 'The endpoint exists but not for this method; `Allow` lists the methods.' },
  CREDENTIALS_IN_QUERY: { status: 400, doc: 'A token or key was sent in the query string, where it would be logged; send it in a header.' },
  AMBIGUOUS_CREDENTIALS: { status: 400, doc: 'More than one credential (two Authorization headers, or a bearer token and an API key): vigil will not pick one.' },
  MALFORMED_CREDENTIALS: { status: 400, doc: 'The Authorization header is not `Bearer <JWT>`.' },
  AUTHENTICATION_REQUIRED: { status: 401, doc: 'No credentials, and the policy lets anonymous callers do nothing of the kind.' },
  TOKEN_MALFORMED: { status: 401, doc: 'The bearer token is not a well-formed signed JWT.' },
  TOKEN_TOO_LARGE: { status: 401, doc: 'The bearer token exceeds `auth.max_token_bytes`.' },
  TOKEN_FORBIDDEN_HEADER: { status: 401, doc: 'The token header carries `jku`, `x5u`, `x5c` or `jwk`: vigil never takes keys from a token.' },
  TOKEN_ALG_NOT_ALLOWED: { status: 401, doc: "The token's `alg` (including `none` and HS*) is not in the issuer's allowlist." },
  TOKEN_ISSUER_UNKNOWN: { status: 401, doc: 'The token names an issuer that is not configured.' },
  TOKEN_UNKNOWN_KEY: { status: 401, doc: "No key in the issuer's JWKS matches the token's `kid`/`alg`." },
  TOKEN_SIGNATURE_INVALID: { status: 401, doc: 'The signature does not verify.' },
  TOKEN_EXPIRED: { status: 401, doc: 'The token is past its `exp` (beyond the clock tolerance).' },
  TOKEN_NOT_YET_VALID: { status: 401, doc: 'The token is before its `nbf`.' },
  TOKEN_AUDIENCE_MISMATCH: { status: 401, doc: 'The token is not meant for this audience.' },
  TOKEN_TYPE_MISMATCH: { status: 401, doc: "The token's `typ` header is not the one the issuer requires." },
  TOKEN_CLAIMS_INVALID: { status: 401, doc: "A required claim (`exp`, `sub`) is missing or a claim has the wrong type (e.g. the roles claim is a string where the issuer's `roles_claim_format` is `array`)." },
  TOKEN_LIFETIME_TOO_LONG: { status: 401, doc: "The token is valid for longer than the issuer's `max_lifetime_s`." },
  JWKS_UNAVAILABLE: { status: 503, doc: "The issuer's JWKS could not be fetched and no cached key fits: authentication fails closed." },
  API_KEY_MALFORMED: { status: 401, doc: 'The `x-api-key` value is not a vigil API key (`vk.<id>.<secret>`).' },
  API_KEY_INVALID: { status: 401, doc: 'No API key matches (unknown id or wrong secret; deliberately the same answer).' },
  API_KEY_EXPIRED: { status: 401, doc: 'The API key is past its expiry.' },
  AUTH_BLOCKED: { status: 429, doc: 'Too many authentication failures from this source; blocked for `Retry-After` seconds.' },
  FORBIDDEN: { status: 403, doc: 'The policy does not allow this caller this action on this model; the answer is the same whether or not the model exists.' },
  MODEL_NOT_FOUND: { status: 404, doc: 'No model of this name is in the repository.' },
  MODEL_VERSION_NOT_FOUND: { status: 404, doc: 'The model exists but not in this version.' },
  MODEL_UNAVAILABLE: { status: 503, doc: 'The model version is in the repository but was refused at load (e.g. its digest does not match) or unloaded by an operator; it will not come back without one.' },
  NOTHING_TO_ROLL_BACK: { status: 409, doc: 'Admin port: a rollback of a model with no traffic split, and no version named to go back to.' },
  MODEL_LOAD_FAILED: { status: 400, doc: 'Admin port: a live load was refused (a version it would serve fails its digest, signature, config or traffic.yaml, or its pool did not start); whatever was serving keeps serving.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, doc: 'The body is not `application/json` (UTF-8), nor binary tensor data (`application/octet-stream` with `Inference-Header-Content-Length`), or it has a `Content-Encoding`.' },
  BODY_TOO_LARGE: { status: 413, doc: 'The body exceeds `server.max_body_bytes`, or the most its model could accept (its largest batch of every input).' },
  BODY_INCOMPLETE: { status: 400, doc: 'The client stopped sending before the body was complete.' },
  INVALID_JSON: { status: 400, doc: 'The body is not valid UTF-8 JSON.' },
  INVALID_BINARY_DATA: { status: 400, doc: 'Binary tensor data does not add up: a malformed `Inference-Header-Content-Length`, a `binary_data_size` that does not match its shape and datatype or runs past the body, bytes left over after the last tensor, or `binary_data_size` without the header.' },
  JSON_TOO_DEEP: { status: 400, doc: 'The JSON nests arrays and objects more than 32 levels deep; no inference request needs that.' },
  FIELD_TOO_LARGE: { status: 400, doc: 'A field other than tensor data is over its bound: `id` or a name over 256 characters, over 32 `parameters`, a parameter name over 64 or a value over 1024 characters.' },
  INVALID_INFERENCE_REQUEST: { status: 400, doc: 'The JSON is not an inference request (`inputs` missing, fields of the wrong type, an unknown field, a `parameters` value that is not a string, number or boolean).' },
  UNKNOWN_INPUT: { status: 400, doc: 'An input tensor names no input of the model.' },
  MISSING_INPUT: { status: 400, doc: 'An input the model requires is absent.' },
  DUPLICATE_INPUT: { status: 400, doc: 'The same input tensor appears twice.' },
  DATATYPE_MISMATCH: { status: 400, doc: "An input's datatype is not the model's." },
  SHAPE_MISMATCH: { status: 400, doc: "An input's shape does not fit the model's declared shape." },
  BATCH_TOO_LARGE: { status: 400, doc: "The batch dimension exceeds the model's `max_batch_size`." },
  ELEMENT_COUNT_MISMATCH: { status: 400, doc: 'The data holds a different number of elements than the shape, or nesting that does not follow it, or the body holds more values than its model could accept (refused before parsing).' },
  INVALID_ELEMENT: { status: 400, doc: 'An element is not a value of the datatype (a string in an FP32 tensor, say).' },
  NON_FINITE_VALUE: { status: 400, doc: 'A floating-point element is infinite or overflows the datatype (e.g. `1e999`).' },
  VALUE_OUT_OF_RANGE: { status: 400, doc: "An integer element does not fit the datatype's range." },
  UNKNOWN_OUTPUT: { status: 400, doc: 'A requested output names no output of the model.' },
  STRUCTURAL_CHECK_FAILED: { status: 400, doc: "The structural detector refused the request: over the model's element or byte budget, a BYTES element too long, a value outside the input's declared range, or a `parameters` key not on the model's allowlist." },
  INPUT_OUT_OF_DISTRIBUTION: { status: 422, doc: "The profile detector found the input far from the model's training distribution, and the policy blocks it." },
  ADVERSARIAL_INPUT: { status: 422, doc: "Feature squeezing found the model's answer unstable under squeezing (a likely adversarial example), and the policy blocks it." },
  EXTRACTION_SUSPECTED: { status: 403, doc: "The caller's query pattern looks like model extraction or probing, and the policy blocks it." },
  QUERY_BUDGET_EXCEEDED: { status: 403, doc: 'The caller (or its API key\'s owner, or its address) has had its budget of distinct inference rows to this model for the current day or hour (`budget` in the model\'s `model.yaml`), and the policy blocks past it. The message says when the window ends.' },
  PRINCIPAL_QUARANTINED: { status: 403, doc: 'A detector finding quarantined this caller; every request is refused until `Retry-After` seconds have passed.' },
  POOL_RESTARTING: { status: 503, doc: "The model's pool has no live worker right now (crashed, restarting, or died mid-request); retry after `Retry-After` seconds." },
  POOL_QUARANTINED: { status: 503, doc: "The model's pool kept crashing and was quarantined: it is tried again by itself after `Retry-After` seconds (`pools.restart.quarantine_retry_ms`, doubling), or when an operator restarts it (`vigil pools restart`)." },
  POOL_TIMEOUT: { status: 504, doc: 'The pool did not answer within `server.request_timeout_ms` (or a remote backend\'s `timeout_ms`).' },
  DEADLINE_EXCEEDED: { status: 504, doc: "The pool did not answer within the request's own `timeout` parameter (µs), shorter than vigil's. The caller's choice: not counted as vigil's failure (SLO, error ratio, statistics, canary rollback)." },
  POOL_ERROR: { status: 502, doc: 'The pool failed in an unexpected way, or a remote model server sent an answer that is not a valid inference response for the model.' },
  BACKEND_UNAVAILABLE: { status: 503, doc: "The model's remote server (`backend: oip-http`) cannot be reached, fails its health checks, or failed too often in a row (its circuit is open); retry after `Retry-After` seconds." },
  INFERENCE_FAILED: { status: 500, doc: 'The model raised an error while running this input (ONNX Runtime); the pool stays up.' },
  RATE_LIMITED: { status: 429, doc: "A quota of the caller's (requests, items, items per model) is spent; `Retry-After`, `RateLimit` and `RateLimit-Policy` say which and until when." },
  CONCURRENCY_LIMITED: { status: 429, doc: 'The caller already has its maximum number of requests in flight.' },
  LIMITER_UNAVAILABLE: { status: 503, doc: 'The rate-limit store failed and the policy says `on_store_failure: fail_closed`.' },
  STORE_UNAVAILABLE: { status: 503, doc: 'A shared store (quarantines, auth-failure counters, extraction state) failed and the policy says `on_store_failure: fail_closed`.' },
  AUDIT_UNAVAILABLE: { status: 503, doc: 'The audit log cannot be written; vigil fails closed rather than answer without a record.' },
  INVALID_QUERY: { status: 400, doc: 'A query parameter of an admin endpoint is unknown, repeated, over 256 characters or invalid (e.g. `since` of `/audit`); the refusal is audited.' },
  OVERLOADED: { status: 503, doc: "vigil is at one of its global bounds (connections, requests in flight, buffered body bytes, a pool's queue); retry after `Retry-After` seconds." },
  SHUTTING_DOWN: { status: 503, doc: 'vigil is draining before it stops.' },
  INTERNAL_ERROR: { status: 500, doc: 'A bug in vigil; the log has the details under the request id.' },
} as const satisfies Record<string, ErrorDefinition> & Record<RequestProblemCode, ErrorDefinition>;

export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERRORS, code);
}

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

  /** The OIP error body, `{"error": …, "code": …}`: the one way any vigil error is written. */
  get body(): string {
    return JSON.stringify({ error: this.message, code: this.code });
  }
}
