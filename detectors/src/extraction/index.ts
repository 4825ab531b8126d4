// Model-extraction / probing detection (PRADA plus simpler signals), per principal and model.
export { shapiroWilk, SHAPIRO_MIN_N, SHAPIRO_MAX_N, type ShapiroWilk } from './shapiro-wilk.js';
export {
  MemoryExtractionStore,
  emptyState,
  extractionKey,
  trimSamples,
  type ExtractionState,
  type ExtractionStore,
  type GrowingSet,
  type MemoryStoreOptions,
} from './extraction-store.js';
export { ExtractionDetector, EXTRACTION_DEFAULTS, minDistance, type ExtractionConfig, type ExtractionQuery } from './extraction-detector.js';
