import { z } from 'zod';
import { VERSION_PATTERN } from './model-config.js';

const version = z.string().regex(VERSION_PATTERN, 'a version directory name (an integer)');

/**
 * `models/<name>/traffic.yaml`: which of a model's versions are served and how unversioned
 * requests are split between them (issue 17, item 1). Absent: every version is served, and an
 * unversioned request goes to the highest.
 */
export const trafficSchema = z
  .object({
    /** Triton's version policy: the latest N versions, or these ones. The others are not loaded. */
    versions: z.union([z.object({ latest: z.number().int().min(1) }).strict(), z.object({ specific: z.array(version).min(1) }).strict()]).optional(),
    /**
     * Weights (summing to 100) of the versions an unversioned request goes to: a canary at 10 is
     * `{"1": 90, "2": 10}`. Sticky per caller: one principal always sees the same version.
     */
    split: z
      .record(version, z.number().int().min(0).max(100))
      .optional()
      .refine((s) => s === undefined || Object.values(s).reduce((a, b) => a + b, 0) === 100, 'the weights must add up to 100'),
    /**
     * A copy of `share` of the answered requests goes to `version` as well; its answer is never
     * returned, only compared with the one that was (top-1 agreement, largest probability
     * difference), and agreement under `min_agreement` is alerted.
     */
    shadow: z
      .object({
        version,
        share: z.number().min(0).max(1),
        min_agreement: z.number().min(0).max(1).default(0.95),
      })
      .strict()
      .optional(),
    /**
     * Limits a canary (a split version other than the one with the largest weight) must keep: past
     * any of them, once it has served `min_requests`, its traffic goes back to that version
     * automatically, audited and alerted. `min_agreement` is judged on the shadow comparison when
     * the canary is also the shadow version.
     */
    rollback: z
      .object({
        max_error_ratio: z.number().min(0).max(1).optional(),
        max_mean_latency_ms: z.number().positive().optional(),
        min_agreement: z.number().min(0).max(1).optional(),
        min_requests: z.number().int().min(1).default(20),
        check_every_ms: z.number().int().min(100).max(600_000).default(5_000),
      })
      .strict()
      .optional(),
  })
  .strict();

export type TrafficPolicy = z.output<typeof trafficSchema>;

/** The versions a policy serves, of those present (highest first). */
export function servedByPolicy(present: readonly string[], policy: TrafficPolicy | undefined): Set<string> {
  const sorted = [...present].sort((a, b) => Number(b) - Number(a));
  if (!policy?.versions) return new Set(sorted);
  if ('latest' in policy.versions) return new Set(sorted.slice(0, policy.versions.latest));
  return new Set(policy.versions.specific.filter((v) => sorted.includes(v)));
}
