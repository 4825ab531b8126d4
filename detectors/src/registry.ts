import { budgetDetector } from './budget/budget-detector.js';
import { extractionDetector } from './extraction/extraction-screen.js';
import { profileDetector } from './profile-detector.js';
import { squeezeDetector } from './squeeze/squeeze-detector.js';
import { structuralDetector } from './structural.js';

/**
 * Every detector vigil has, in the order they run within a phase. The model.yaml `detectors:`
 * section, the policy's `detectors:` actions, the refusal codes and the metrics' label values
 * are all derived from this list: adding a detector is its file plus one line here.
 */
export const DETECTOR_REGISTRY = [structuralDetector, profileDetector, squeezeDetector, extractionDetector, budgetDetector] as const;

export type RegisteredDetector = (typeof DETECTOR_REGISTRY)[number];
export type DetectorName = RegisteredDetector['name'];
export const DETECTORS: readonly DetectorName[] = DETECTOR_REGISTRY.map((d) => d.name);
