import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { defineDetector } from '../detector.js';
import { finding, type Finding } from '../finding.js';

const SCOPES = ['principal', 'owner', 'source', 'model'] as const;
type Scope = (typeof SCOPES)[number];
const budget = z.number().int().positive();

export const budgetConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** The window budgets are counted over, in UTC: a day from 00:00, or an hour. */
    window: z.enum(['day', 'hour']).default('day'),
    /** Distinct rows one principal may have answered per window. */
    principal: budget.optional(),
    /** ...all API keys of one owner together (policy `api_keys[].owner`). */
    owner: budget.optional(),
    /** ...one source address (IPv6 by /64), whoever sends them. */
    source: budget.optional(),
    /** ...every caller together: never refuses anyone, only flags (an alarm that the model is being read out). */
    model: budget.optional(),
  })
  .strict()
  .refine((c) => !c.enabled || SCOPES.some((s) => c[s] !== undefined), { message: 'name at least one budget: principal, owner, source or model' })
  .optional();

const WINDOW_MS = { day: 86_400_000, hour: 3_600_000 } as const;

/**
 * The most a finding of each scope may do. Every caller together only ever flags. An address
 * blocks but never quarantines: a quarantine is per principal, and the principal whose request
 * happened to cross an address's budget (behind a NAT or a proxy, any of its users) is not the one
 * who spent it.
 */
const CEILING: Partial<Record<Scope, 'flag' | 'block'>> = { model: 'flag', source: 'block' };

/**
 * Query budgets against model extraction: every answered row is counted once per principal,
 * API-key owner, source and model, per window, as distinct rows (an exact repeat teaches an
 * extractor nothing). The statistical signals of the extraction detector miss an extractor that
 * sends real, in-distribution data; a budget does not, and spreading queries over principals only
 * helps while they have neither owner nor source in common. Rows are digested with a keyed hash
 * (the store's secret), so no one can craft rows that count as one.
 */
export const budgetDetector = defineDetector({
  name: 'budget',
  phase: 'answer',
  configSchema: budgetConfigSchema,
  refusalCode: 'QUERY_BUDGET_EXCEEDED',
  refusalMessage: 'this caller has had its budget of distinct queries to this model for the current window',
  defaultAction: 'flag',
  prepare(cfg, model, services) {
    if (!cfg?.enabled) return null;
    if (model.features === null) throw new Error('the budget detector needs one FP32 input of shape [-1, features]');
    const scopes = SCOPES.filter((s) => cfg[s] !== undefined);
    const windowMs = WINDOW_MS[cfg.window];
    return {
      // Nothing from the pool: but it runs with the detectors that read the answer, counting only answered rows.
      pool: {},
      async inspect({ batch, caller, owner, source, model: version }) {
        if (!batch) return { findings: [] };
        // The store keeps the secret once read (and asks again after a failure): never cached here.
        const key = await services.budget.secret();
        // Per model, not per version: a new version must not give every caller a fresh budget.
        const name = version.slice(0, version.lastIndexOf('/'));
        const digests = batch.rows.map((r) => createHmac('sha256', key).update(name).update(Buffer.from(r.buffer, r.byteOffset, r.byteLength)).digest().subarray(0, 16));
        const start = Math.floor(Date.now() / windowMs) * windowMs;
        const who: Record<Scope, string | undefined> = { principal: caller, owner, source, model: '*' };
        const active = scopes.filter((s) => who[s] !== undefined);
        const limits = active.map((s) => cfg[s]!);
        const counts = await services.budget.add(
          active.map((s) => `${name}\u0000${s}\u0000${who[s]}\u0000${start}`),
          digests,
          windowMs,
          limits,
        );
        const until = new Date(start + windowMs).toISOString().slice(0, 16).replace('T', ' ');
        const findings: Finding[] = [];
        active.forEach((s, i) => {
          const { before, after } = counts[i];
          if (after <= limits[i]) return;
          // The model-wide alarm is raised by the request that crosses it, once: on every later
          // request it would taint every caller's record and per-principal alerts until the window ends.
          if (s === 'model' && before > limits[i]) return;
          const detail = `${after} distinct rows this ${cfg.window} from this ${s === 'model' ? 'model\u2019s callers together' : s}, budget ${limits[i]}, until ${until} UTC`;
          findings.push(finding('budget', s, after, limits[i], { detail, ...(CEILING[s] ? { ceiling: CEILING[s] } : {}) }));
        });
        return { findings };
      },
    };
  },
});
