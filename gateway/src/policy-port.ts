import type { AnswersConfig, DetectorActions } from '../../policies/src/index.js';
import type { Principal } from './auth/principal.js';
import type { LimitsPolicy } from './limits/limit-plan.js';

/** What the gateway needs from the policy engine (policies/), and nothing more. */
export interface AuthorizationRequest {
  principal: Principal;
  action: string;
  model?: string;
  version?: string;
  source: string;
  timeMs: number;
}

export interface PolicyDecision {
  allowed: boolean;
  /** `grant:<id>`, `deny:<id>`, `anonymous` or `default-deny` */
  rule: string;
  reason: string;
  mode: 'enforce' | 'shadow';
}

export type ApiKeyLookup =
  | { ok: true; principal: Principal }
  | { ok: false; code: 'API_KEY_MALFORMED' | 'API_KEY_INVALID' | 'API_KEY_EXPIRED' };

export interface ActivePolicy {
  authorize(request: AuthorizationRequest): PolicyDecision;
  lookupApiKey(presented: string, nowMs: number): ApiKeyLookup;
  limits: LimitsPolicy | undefined;
  /** What detector verdicts do; undefined (bench/test doubles): record only. */
  detectors?: DetectorActions;
  /** How much of an answer each role sees; undefined: everything. */
  answers?: AnswersConfig;
}

/** The policy in force right now; hot reload swaps what `current()` returns. */
export interface PolicySource {
  current(): ActivePolicy;
}
