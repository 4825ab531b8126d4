import type { z } from 'zod';
import type { InferenceRequest, ModelSignature } from '../../oip/src/signature.js';
import type { BudgetStore } from './budget/budget-store.js';
import type { ExtractionStore } from './extraction/extraction-store.js';
import type { Finding, ScreenBatch } from './finding.js';
import type { PoolScreenReport } from './squeeze/pool-screen.js';
import type { SqueezerName } from './squeeze/squeezers.js';

/**
 * When a detector's inspect runs. request: on the request, in the gateway, before anything
 * reaches a pool. pool: its scores are computed in the pool's own run (so they need the
 * model's outputs) and judged when the answer comes back. answer: in the gateway, on the
 * pool's answer and the caller's history, before the answer leaves.
 */
export type DetectorPhase = 'request' | 'pool' | 'answer';

/** What a detector may know of the model version it screens, at start. */
export interface ModelFacts {
  /** The model version's directory (files beside model.onnx, e.g. profile.json). */
  dir: string;
  signature: ModelSignature;
  /** Features of the one numeric input ([-1, features], FP32/FP64), when the numeric detectors apply; else null. */
  features: number | null;
  /** The declared value range of each input (model.yaml `range`), by name. */
  ranges: ReadonlyMap<string, readonly [number, number]>;
  /** model.yaml `profile`: the training profile's file name, when there is one. */
  profile?: string;
}

/** What the gateway shares with detectors that keep state across requests (chosen by config). */
export interface DetectorServices {
  extraction: ExtractionStore;
  budget: BudgetStore;
}

/** What a pool-phase or answer-phase detector needs the pool to compute in the same run. */
export interface PoolNeeds {
  /** Squeezed copies of each row to run beside it (pool phase). */
  squeezers?: SqueezerName[];
  image?: [number, number];
  /** Squeeze with a fresh secret draw of the randomised squeezers per request. */
  randomize?: boolean;
  /** The output holding class probabilities; absent: the default, 'probabilities'. */
  probabilities?: string;
}

/** One request as the detectors see it; the later phases also get the pool's report. */
export interface Inspection {
  /** Request phase only: the parsed tensors are released before the pool's round trip (the rows stay in batch). */
  request?: InferenceRequest;
  bodyBytes: number;
  /** The rows of the one numeric input, when the model has one. */
  batch: ScreenBatch | null;
  /** The caller's key (per principal, or per address when anonymous) and the model version ("name/version"). */
  caller: string;
  model: string;
  /** The API key's owner (policy `api_keys[].owner`), when the caller used one. */
  owner?: string;
  /** The caller's address as quotas count it (IPv6 by its /64). */
  source?: string;
  /** pool and answer phases: what the pool computed in the run. */
  report?: PoolScreenReport;
  /** pool and answer phases: per row, whether a request-phase detector found it anomalous. */
  flaggedRows?: boolean[];
}

export interface Inspected {
  findings: Finding[];
  /** Request phase: per batch row, whether this detector found it anomalous (the answer phase reads them). */
  flaggedRows?: boolean[];
}

/** A detector set up for one model version. */
export interface PreparedDetector {
  inspect(input: Inspection): Inspected | Promise<Inspected>;
  /** Pool and answer phases: what the pool must compute for it. */
  pool?: PoolNeeds;
}

/**
 * One detector: its model.yaml section, when it runs, what its blocked finding is refused with,
 * and how it is set up per model version. To add one, see detectors/README.md.
 */
export interface Detector<Name extends string = string, Schema extends z.ZodType = z.ZodType, Code extends string = string> {
  name: Name;
  phase: DetectorPhase;
  /** Its section under `detectors:` in model.yaml. */
  configSchema: Schema;
  /** The gateway error code a blocked finding is refused with (a catalogued code; the gateway's types check it). */
  refusalCode: Code;
  /** The refusal's message, for the caller; the finding's signal and detail are appended. */
  refusalMessage: string;
  /** What an anomalous verdict does when the policy does not say. */
  defaultAction: 'allow' | 'flag' | 'block' | 'quarantine';
  /**
   * Sets the detector up for one model version; null when it does not screen it (disabled or
   * unconfigured). Throws when it is enabled and cannot run: a model is never served with a
   * detector silently off.
   */
  prepare(config: z.output<Schema>, model: ModelFacts, services: DetectorServices): PreparedDetector | null | Promise<PreparedDetector | null>;
}

/** Declares a detector, keeping its name, schema and code as literal types (the registry derives its types from them). */
export function defineDetector<const Name extends string, Schema extends z.ZodType, const Code extends string>(d: Detector<Name, Schema, Code>): Detector<Name, Schema, Code> {
  return d;
}
