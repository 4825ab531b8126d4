import { evaluate, findApiKey, type CompiledPolicy, type PolicyStore } from '../../policies/src/index.js';
import type { ActivePolicy, PolicySource } from './policy-port.js';

/** Adapts the policy engine's store to the gateway's PolicySource; one adapter per compiled policy. */
export function policySourceOf(store: Pick<PolicyStore, 'current'>): PolicySource {
  let compiled: CompiledPolicy | undefined;
  let active: ActivePolicy | undefined;
  return {
    current() {
      const now = store.current();
      if (now !== compiled || !active) {
        compiled = now;
        active = activePolicyOf(now);
      }
      return active;
    },
  };
}

export function activePolicyOf(policy: CompiledPolicy): ActivePolicy {
  return {
    authorize: (r) => evaluate(policy, { principal: r.principal, action: r.action, model: r.model, version: r.version, source: r.source, time: r.timeMs }),
    lookupApiKey(presented, nowMs) {
      const found = findApiKey(policy, presented, nowMs);
      if (found.ok) return { ok: true, principal: { id: `key:${found.entry.id}`, method: 'api_key', roles: [...found.entry.roles], owner: found.entry.owner } };
      // Unknown id and wrong secret get one answer, so ids cannot be probed.
      return { ok: false, code: found.code === 'API_KEY_UNKNOWN' ? 'API_KEY_INVALID' : found.code };
    },
    limits: policy.limits,
    detectors: policy.detectors,
    answers: policy.answers,
  };
}
