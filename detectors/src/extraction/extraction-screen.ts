import { z } from 'zod';
import { defineDetector } from '../detector.js';
import type { Finding } from '../finding.js';
import { EXTRACTION_DEFAULTS, ExtractionDetector } from './extraction-detector.js';
import { extractionKey } from './extraction-store.js';

export const extractionConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** PRADA's δ: a Shapiro–Wilk W below this over a principal's query distances is an alarm. */
    prada_threshold: z.number().min(0).max(1).optional(),
    /** Distances needed before PRADA tests at all. */
    min_queries: z.number().int().min(3).optional(),
    /** Queries per minute per principal above which volume alone is an alarm. */
    max_queries_per_minute: z.number().int().positive().optional(),
  })
  .strict()
  .optional();

/**
 * Model extraction and probing, judged on each answer over the caller's history with this model
 * version (kept in the `screening.store`). Each answered row is one query. Per request it reports,
 * for each signal, the worst of its rows; and only the anomalous signals, since a clean
 * query-pattern verdict on every request would only swell the audit log.
 */
export const extractionDetector = defineDetector({
  name: 'extraction',
  phase: 'answer',
  configSchema: extractionConfigSchema,
  refusalCode: 'EXTRACTION_SUSPECTED',
  refusalMessage: 'the query pattern of this caller looks like model extraction or probing',
  defaultAction: 'flag',
  prepare(cfg, model, services) {
    if (!cfg?.enabled) return null;
    if (model.features === null) throw new Error('the extraction detector needs one FP32 input of shape [-1, features]');
    const range = model.ranges.get(model.signature.inputs[0].name) ?? [0, 1];
    const detector = new ExtractionDetector(services.extraction, {
      // The near-duplicate radius is set for inputs in [0, 1]; scale it to this input's range.
      nearDuplicateRms: EXTRACTION_DEFAULTS.nearDuplicateRms * (range[1] - range[0]),
      ...(cfg.prada_threshold !== undefined ? { pradaThreshold: cfg.prada_threshold } : {}),
      ...(cfg.min_queries !== undefined ? { minQueries: cfg.min_queries } : {}),
      ...(cfg.max_queries_per_minute !== undefined ? { volumeMax: cfg.max_queries_per_minute } : {}),
    });
    return {
      // Predictions only: the class and its probability of each row.
      pool: {},
      async inspect({ batch, report, caller, model: name, flaggedRows }) {
        if (!batch || !report) return { findings: [] };
        const key = extractionKey(caller, name);
        const worst = new Map<string, Finding>();
        for (let r = 0; r < batch.rows.length; r++) {
          const query = { x: batch.rows[r], predicted: report.top[r], confidence: report.conf[r], outOfProfile: flaggedRows?.[r] ?? false };
          for (const f of await detector.observe(key, query)) {
            const before = worst.get(f.signal);
            if (!before || ratio(f) > ratio(before)) worst.set(f.signal, f);
          }
        }
        return { findings: [...worst.values()].filter((f) => f.verdict === 'anomalous') };
      },
    };
  },
});

/** How far past its threshold a finding is, comparable across signals. */
function ratio(f: Finding): number {
  return f.threshold ? f.score / f.threshold : f.score;
}
