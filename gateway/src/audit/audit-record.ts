import type { ClaimedCredential } from '../auth/claimed-identity.js';

/**
 * One audit record: one per request and one per admin action, whatever the outcome and at
 * whichever stage it ended. Never holds a token, key, tensor or body.
 */
export interface RequestAuditRecord {
  type: 'request';
  /** The replica that wrote it (`server.replica_id`); set by the writer, absent with one replica. */
  replica?: string;
  /** ISO 8601 UTC, when the request arrived */
  time: string;
  /** vigil's own id for the request (also sent back as `x-request-id`). */
  request_id: string;
  /** The client's `x-request-id`, when it sent a well-formed one: for correlation only. */
  client_request_id: string | null;
  trace_id: string | null;
  principal: string;
  auth_method: 'jwt' | 'api_key' | 'anonymous' | 'none';
  /** On a refused credential: the identity it claimed, never verified (`verified: false`). */
  claimed?: ClaimedCredential;
  source: string;
  method: string;
  /** Action asked for (infer, metadata, health, audit:read, …); null if the path did not parse. */
  action: string | null;
  model: string | null;
  version: string | null;
  /** The key id of the signature on the model version that served it, when signed (`vigil models sign`). */
  signer?: string;
  /** The shadow version a copy of it went to (traffic.yaml); its answer was compared, never returned. */
  shadow_version?: string;
  /** For versions with a response cache: hit (answered from it, no pool) or miss. */
  cache?: 'hit' | 'miss';
  /**
   * allow: served (or answered, a pool's failure included); deny: refused by a security decision
   * (credentials, policy, limits, detectors, a quarantine, failing closed); invalid: the request
   * itself was malformed (path, media type, body, validation), with `stage:<name>` as its rule.
   * Records written before 'invalid' existed say 'deny' for those.
   */
  decision: 'allow' | 'deny' | 'invalid';
  /** The rule or stage that decided: `grant:<id>`, `deny:<id>`, `default-deny`, `limit:<name>`, `stage:<name>`. */
  rule: string | null;
  /** The pipeline stage that refused or failed the request (README: The request pipeline); absent when answered, and in records older than it. */
  stage?: string;
  /** The error code when refused or failed, else null. */
  code: string | null;
  /** Modes of the enforcing stages for this request, e.g. { authorization: 'enforce', limits: 'shadow' }. */
  modes: Record<string, string>;
  /** Shadow decisions that would have refused the request, e.g. ['deny:no-mnist-v0']. */
  shadow_denials: string[];
  status: number;
  latency_ms: number;
  bytes_in: number;
  bytes_out: number;
  /** Items in the inference batch, when there was one. */
  batch: number | null;
  /** Detector findings (scores, thresholds, verdicts, mode, action), when the request was screened. */
  findings?: AuditFinding[];
  /** Less than the full answer went out, per the policy's `answers:` (top1, rounded:N). */
  answer_detail?: string;
}

export interface AuditFinding {
  detector: string;
  signal: string;
  score: number;
  threshold: number | null;
  verdict: 'clean' | 'anomalous';
  mode: 'enforce' | 'shadow';
  action: string;
  item?: number;
  /** Rows past the threshold, of the request's rows (detectors that score rows). */
  rows?: number;
  of?: number;
  detail?: string;
}

export interface AdminAuditRecord {
  type: 'admin';
  /** The replica that wrote it (`server.replica_id`); set by the writer, absent with one replica. */
  replica?: string;
  time: string;
  /** e.g. policy.reload (outcome ok or failed), audit.query, status.read, pools.restart, audit.recovered, audit.retention, vigil.start, vigil.stop */
  event: string;
  principal: string;
  outcome: 'ok' | 'failed';
  detail: Record<string, unknown>;
}

export interface AlertAuditRecord {
  type: 'alert';
  /** The replica that wrote it (`server.replica_id`); set by the writer, absent with one replica. */
  replica?: string;
  time: string;
  rule: string;
  severity: string;
  state: 'firing' | 'resolved';
  labels: Record<string, string>;
  /** The interval's value and the baseline it was judged against: event counts, or (unit 'ms') a mean latency. */
  value: number;
  baseline: number;
  unit?: 'count' | 'ms';
}

export type AuditRecord = RequestAuditRecord | AdminAuditRecord | AlertAuditRecord;
