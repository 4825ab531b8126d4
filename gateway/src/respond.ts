import type { AuditRecord, RequestAuditRecord } from './audit/audit-record.js';
import type { RequestContext } from './context.js';
import { VigilError, type ErrorCode } from './errors.js';
import { POLICY_ACTION } from './routes.js';

/** Where audit records go: the tamper-evident log, or a test double. */
export interface AuditSink {
  append(record: AuditRecord): Promise<void>;
}

export interface Responder {
  /**
   * Sends the one response of a request, after its audit record is written. With
   * `fail_closed` (the default) a record that cannot be written turns the answer into
   * 503 AUDIT_UNAVAILABLE: no answer leaves without its record.
   */
  send(ctx: RequestContext, status: number, headers: Record<string, string | number>, body: string | Buffer, code?: string): Promise<void>;
  /**
   * Sends at once and audits after, never failing on the record: for the liveness probe only,
   * which must say the process is alive even when the audit disk is not.
   */
  sendBeforeRecord(ctx: RequestContext, status: number, body: string): void;
  /** Audits a request that gets no answer because the client is gone (or the answer cannot be sent). */
  record(ctx: RequestContext, status: number, code: string): Promise<void>;
}

/** Audit status for a request whose client left before the answer (nginx's 499). */
export const CLIENT_CLOSED_STATUS = 499;

/** Called once per request, with its final status and code: metrics hang off this. */
export type RequestObserver = (ctx: RequestContext, status: number, code: string | null) => void;

/**
 * `auditFailed` hears of every record that could not be written: the caller turns a stream of them
 * into one log line per outage (never a stack trace per request).
 */
export function createResponder(audit: AuditSink, failClosed: boolean, auditFailed: (err: unknown, ctx: RequestContext) => void, observe: RequestObserver = () => undefined): Responder {
  return {
    async record(ctx, status, code) {
      ctx.answered = true;
      observe(ctx, status, code);
      await audit.append(auditRecordOf(ctx, status, code, 0)).catch((err: unknown) => auditFailed(err, ctx));
    },
    sendBeforeRecord(ctx, status, body) {
      ctx.answered = true;
      observe(ctx, status, null);
      if (!ctx.res.headersSent && !ctx.res.destroyed) {
        ctx.res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-request-id': ctx.id });
        ctx.res.end(body);
      }
      audit.append(auditRecordOf(ctx, status, null, Buffer.byteLength(body))).catch((err: unknown) => auditFailed(err, ctx));
    },
    async send(ctx, status, headers, body, code) {
      const { res } = ctx;
      ctx.answered = true;
      const bytesOut = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
      try {
        await audit.append(auditRecordOf(ctx, status, code ?? null, bytesOut));
      } catch (err) {
        auditFailed(err, ctx);
        if (failClosed) {
          observe(ctx, 503, 'AUDIT_UNAVAILABLE');
          const e = new VigilError('AUDIT_UNAVAILABLE', 'the audit log cannot be written; vigil fails closed', { 'retry-after': '5' });
          const text = e.body;
          if (!res.headersSent && !res.destroyed) {
            res.writeHead(e.status, { ...e.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-request-id': ctx.id });
            res.end(text);
          }
          return;
        }
      }
      observe(ctx, status, code ?? null);
      if (res.headersSent || res.destroyed) return;
      res.writeHead(status, { ...headers, 'content-length': bytesOut, 'x-request-id': ctx.id });
      res.end(body);
    },
  };
}

const FAIL_CLOSED = new Set(['JWKS_UNAVAILABLE', 'AUDIT_UNAVAILABLE', 'LIMITER_UNAVAILABLE']);

/**
 * The codes that say the request itself is malformed (its path, framing, media type, body or
 * tensors), whoever sent it: audited as decision `invalid`, not `deny`. The detectors' refusals
 * (STRUCTURAL_CHECK_FAILED and the others) stay denials: they judge intent, not form.
 */
export const INVALID_REQUEST_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'INVALID_PATH', 'ROUTE_NOT_FOUND', 'METHOD_NOT_ALLOWED', 'BAD_REQUEST_FRAMING', 'HEADERS_TOO_LARGE', 'REQUEST_TIMEOUT', 'UNSUPPORTED_MEDIA_TYPE', 'BODY_TOO_LARGE', 'BODY_INCOMPLETE',
  'INVALID_JSON', 'INVALID_BINARY_DATA', 'JSON_TOO_DEEP', 'FIELD_TOO_LARGE', 'INVALID_INFERENCE_REQUEST', 'UNKNOWN_INPUT', 'MISSING_INPUT',
  'DUPLICATE_INPUT', 'DATATYPE_MISMATCH', 'SHAPE_MISMATCH', 'BATCH_TOO_LARGE', 'ELEMENT_COUNT_MISMATCH', 'INVALID_ELEMENT', 'NON_FINITE_VALUE',
  'VALUE_OUT_OF_RANGE', 'UNKNOWN_OUTPUT', 'MODEL_NOT_FOUND', 'MODEL_VERSION_NOT_FOUND', 'INVALID_QUERY',
]);


export function auditRecordOf(ctx: RequestContext, status: number, code: string | null, bytesOut: number): RequestAuditRecord {
  const route = ctx.route;
  const model = route && 'model' in route ? route.model : null;
  // The version served, else the one select-version chose (a request authorize refused names it too), else the one asked for.
  const version = ctx.target?.version ?? ctx.version ?? (route && 'model' in route ? (route.version ?? null) : null);
  // Refused: any 4xx, and the 503s that mean "failed closed"; a pool failure is not a refusal.
  // A malformed request is its own decision, so a security team's denials are the real ones.
  const denied = (status >= 400 && status < 500) || (code !== null && FAIL_CLOSED.has(code));
  // A 4xx relayed from a pool stays a denial: the gateway validated first, so it means the two
  // sides read the request differently, which is itself worth a security team's eye.
  const invalid = denied && code !== null && INVALID_REQUEST_CODES.has(code) && ctx.refusedAt !== 'proxy';
  return {
    type: 'request',
    time: ctx.receivedAt.toISOString(),
    request_id: ctx.id,
    client_request_id: ctx.clientRequestId,
    trace_id: ctx.traceId ?? null,
    principal: ctx.principal?.id ?? 'unauthenticated',
    auth_method: ctx.principal?.method ?? 'none',
    ...(ctx.claimed ? { claimed: ctx.claimed } : {}),
    source: ctx.source,
    method: ctx.req.method ?? '',
    action: route ? POLICY_ACTION[route.action] : null,
    model,
    version,
    // The key that signed the artifact which served it (models.trusted_keys).
    ...(ctx.target?.signer ? { signer: ctx.target.signer } : {}),
    // The version a copy of it went to, to be compared (traffic.yaml shadow); never the one that answered.
    ...(ctx.shadowSent ? { shadow_version: ctx.shadowSent } : {}),
    ...(ctx.cache ? { cache: ctx.cache.outcome } : {}),
    decision: invalid ? 'invalid' : denied ? 'deny' : 'allow',
    // An invalid request was refused by the stage that read it, not by the grant that let it in.
    rule: ctx.refusedBy ?? (invalid && ctx.refusedAt ? `stage:${ctx.refusedAt}` : (ctx.decision?.rule ?? null)),
    ...(code !== null && ctx.refusedAt ? { stage: ctx.refusedAt } : {}),
    code,
    modes: ctx.modes,
    shadow_denials: ctx.shadowDenials,
    status,
    latency_ms: Number(process.hrtime.bigint() - ctx.startedAt) / 1e6,
    bytes_in: ctx.body?.raw.length ?? Number(ctx.req.headers['content-length'] ?? 0),
    bytes_out: bytesOut,
    batch: ctx.body?.batchSize ?? null,
    ...(ctx.screen && ctx.screen.findings.length > 0 ? { findings: ctx.screen.findings } : {}),
    ...(ctx.answerDetail ? { answer_detail: ctx.answerDetail } : {}),
  };
}
