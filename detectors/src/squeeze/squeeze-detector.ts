import { z } from 'zod';
import { calibrated } from '../calibrated.js';
import { defineDetector } from '../detector.js';
import { rowsFinding } from '../finding.js';
import { SQUEEZERS } from './squeezers.js';

export const squeezeConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Height and width of the image the flat input holds (median smoothing needs it). */
    image: z.tuple([z.number().int().positive(), z.number().int().positive()]).optional(),
    squeezers: z.array(z.enum(SQUEEZERS)).min(1).default(['bit_depth_1', 'median_2x2']),
    /**
     * Squeeze each request with a fresh secret draw of the randomised squeezers (random rounding
     * points, random median windows), so an adaptive attacker has no fixed squeezer to optimise
     * against. Thresholds must be calibrated with the same setting.
     */
    randomize: z.boolean().default(true),
    /** The model output holding class probabilities (a softmax). */
    probabilities: z.string().default('probabilities'),
    ...calibrated,
  })
  .strict()
  .superRefine((cfg, ctx) => {
    if (cfg.squeezers.some((s) => s.startsWith('median_')) && !cfg.image) {
      ctx.addIssue({ code: 'custom', path: ['image'], message: 'median squeezers need the image shape [height, width]' });
    }
  })
  .optional();

/**
 * Feature squeezing (Xu, Evans, Qi, NDSS 2018): the pool runs squeezed copies of each row in the
 * same ONNX Runtime batch as the answer and reports how far the model's answer moved; the gateway
 * judges the worst row's score when the answer comes back.
 */
export const squeezeDetector = defineDetector({
  name: 'squeeze',
  phase: 'pool',
  configSchema: squeezeConfigSchema,
  refusalCode: 'ADVERSARIAL_INPUT',
  refusalMessage: "the model's answer is unstable under feature squeezing: the input looks adversarial",
  defaultAction: 'flag',
  prepare(cfg, model) {
    if (!cfg?.enabled) return null;
    if (model.features === null) throw new Error('the squeeze detector needs one FP32 input of shape [-1, features]');
    const threshold = cfg.threshold ?? null;
    return {
      pool: { squeezers: cfg.squeezers, image: cfg.image, randomize: cfg.randomize, probabilities: cfg.probabilities },
      inspect({ report, batch }) {
        if (!report?.squeeze || !report.by) return { findings: [] };
        return { findings: [rowsFinding('squeeze', report.by, report.squeeze, threshold, batch?.unique)] };
      },
    };
  },
});
