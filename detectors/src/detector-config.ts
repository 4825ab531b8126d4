import { z } from 'zod';

/** A threshold written by `vigil detectors calibrate`, with what it was calibrated for. */
const calibrated = {
  /** Score above this is anomalous. Absent: the detector scores but never finds anything anomalous. */
  threshold: z.number().nonnegative().optional(),
  /** Set by calibrate: the false-positive rate the threshold was chosen for, and on how many samples. */
  calibration: z.object({ fpr: z.number(), samples: z.number().int() }).strict().optional(),
};

export const SQUEEZERS = ['bit_depth_1', 'bit_depth_2', 'bit_depth_3', 'bit_depth_4', 'bit_depth_5', 'median_2x2', 'median_3x3'] as const;
export type SqueezerName = (typeof SQUEEZERS)[number];

/**
 * The `detectors:` section of a model's model.yaml: which detectors screen this model, and with
 * what knobs and thresholds. What a verdict *does* (flag, block, quarantine) is the policy's call.
 */
export const detectorConfigSchema = z
  .object({
    structural: z
      .object({
        enabled: z.boolean().default(true),
        /** Elements across all input tensors of one request. */
        max_elements: z.number().int().positive().optional(),
        /** Bytes of the request body (tighter than server.max_body_bytes for this model). */
        max_body_bytes: z.number().int().positive().optional(),
        /** Bytes of one BYTES element (UTF-8). */
        max_bytes_element: z.number().int().positive().default(65536),
        /** Request-level `parameters` keys a client may send; anything else is refused. Absent: any. */
        parameters: z.array(z.string()).optional(),
        /** Per-tensor `parameters` keys a client may send. Absent: any. */
        tensor_parameters: z.array(z.string()).optional(),
      })
      .strict()
      .prefault({}),
    profile: z
      .object({
        enabled: z.boolean().default(true),
        /** Floor under each feature's training std, as a fraction of the input's declared range: a constant pixel is not infinitely surprising. */
        std_floor: z.number().positive().default(0.05),
        /** Cap on one feature's squared z-score, so a single odd feature cannot decide alone. */
        z2_cap: z.number().positive().default(256),
        ...calibrated,
      })
      .strict()
      .optional(),
    squeeze: z
      .object({
        enabled: z.boolean().default(true),
        /** Height and width of the image the flat input holds (median smoothing needs it). */
        image: z.tuple([z.number().int().positive(), z.number().int().positive()]).optional(),
        squeezers: z.array(z.enum(SQUEEZERS)).min(1).default(['bit_depth_1', 'median_2x2']),
        /** The model output holding class probabilities (a softmax). */
        probabilities: z.string().default('probabilities'),
        ...calibrated,
      })
      .strict()
      .optional(),
    extraction: z
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
      .optional(),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const median = cfg.squeeze?.squeezers.some((s) => s.startsWith('median_'));
    if (median && !cfg.squeeze?.image) {
      ctx.addIssue({ code: 'custom', path: ['squeeze', 'image'], message: 'median squeezers need the image shape [height, width]' });
    }
  });

export type DetectorConfig = z.output<typeof detectorConfigSchema>;
