/** The policy engine's public surface: what the gateway and the CLI use. */
export { ACTIONS, MODEL_ACTIONS, isAction, type PolicyAction } from './actions.js';
export { API_KEY_ID_PATTERN, apiKeyId, findApiKey, generateApiKey, hashApiKey, type ApiKeyLookup, type ApiKeyRefusal } from './api-keys.js';
export {
  compilePolicy,
  parsePolicyText,
  policyDigest,
  type ApiKeyEntry,
  type CompiledPolicy,
  type CompiledRule,
} from './compile-policy.js';
export { evaluate, explain, type Decision, type Explanation, type PolicyPrincipal, type PolicyRequest, type TraceEntry } from './evaluate.js';
export {
  policySchema,
  type ApiKeyConfig,
  type Condition,
  type DenyRule,
  type AnswerDetail,
  type AnswersConfig,
  type DetectorActions,
  type GrantRule,
  type LimitSpec,
  type LimitsConfig,
  type Policy,
  type PolicyInput,
  type PolicyMode,
  type PolicyRule,
} from './policy-schema.js';
export {
  BUNDLED_POLICY_FILE,
  loadPolicyFile,
  PolicyStore,
  type PolicyReloaded,
  type PolicyReloadFailed,
  type PolicyStoreEvents,
  type ReloadResult,
} from './policy-store.js';
export { policyWarnings, summarizePolicy, type PolicySummary } from './summary.js';
