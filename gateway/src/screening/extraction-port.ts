import type { Finding } from '../../../detectors/src/finding.js';
import { EXTRACTION_DEFAULTS, ExtractionDetector, extractionKey, type ExtractionStore } from '../../../detectors/src/extraction/index.js';
import type { ModelScreening } from './model-screening.js';
import type { AnsweredRow, ExtractionPort } from './screen-answer.js';

/**
 * The extraction detector as the gateway uses it: one detector per model version (its knobs come
 * from model.yaml), all on one store (`screening.store`), keyed by principal and model. Each answered row is one
 * query. Per request it reports, for each signal, the worst of its rows; and only the anomalous
 * signals, since a clean query-pattern verdict on every request would only swell the audit log.
 */
export function createExtractionPort(store: ExtractionStore): ExtractionPort {
  const detectors = new Map<string, ExtractionDetector>();
  return {
    async observe(principal: string, model: string, rows: AnsweredRow[], screening: ModelScreening): Promise<Finding[]> {
      let detector = detectors.get(model);
      const cfg = screening.extraction;
      if (!cfg) return [];
      if (!detector) {
        const range = screening.pool?.range ?? [0, 1];
        detector = new ExtractionDetector(store, {
          // The near-duplicate radius is set for inputs in [0, 1]; scale it to this input's range.
          nearDuplicateRms: EXTRACTION_DEFAULTS.nearDuplicateRms * (range[1] - range[0]),
          ...(cfg.prada_threshold !== undefined ? { pradaThreshold: cfg.prada_threshold } : {}),
          ...(cfg.min_queries !== undefined ? { minQueries: cfg.min_queries } : {}),
          ...(cfg.max_queries_per_minute !== undefined ? { volumeMax: cfg.max_queries_per_minute } : {}),
        });
        detectors.set(model, detector);
      }
      const key = extractionKey(principal, model);
      const worst = new Map<string, Finding>();
      for (const row of rows) {
        for (const f of await detector.observe(key, { x: row.x, predicted: row.predicted, confidence: row.confidence, outOfProfile: row.outOfProfile })) {
          const before = worst.get(f.signal);
          if (!before || ratio(f) > ratio(before)) worst.set(f.signal, f);
        }
      }
      return [...worst.values()].filter((f) => f.verdict === 'anomalous');
    },
  };
}

/** How far past its threshold a finding is, comparable across signals. */
function ratio(f: Finding): number {
  return f.threshold ? f.score / f.threshold : f.score;
}
