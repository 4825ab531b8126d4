import { z } from 'zod';
import { DETECTOR_REGISTRY, type RegisteredDetector } from './registry.js';

type ConfigShape = { [D in RegisteredDetector as D['name']]: D['configSchema'] };

/**
 * The `detectors:` section of a model's model.yaml, one key per registered detector: which
 * detectors screen this model, and with what knobs and thresholds. What a verdict *does* (flag,
 * block, quarantine) is the policy's call.
 */
export const detectorConfigSchema = z.object(Object.fromEntries(DETECTOR_REGISTRY.map((d) => [d.name, d.configSchema])) as ConfigShape).strict();

export type DetectorConfig = z.output<typeof detectorConfigSchema>;
