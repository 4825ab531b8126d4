import { z } from 'zod';

/** The threshold fields of a scoring detector's config, as `vigil detectors calibrate` writes them. */
export const calibrated = {
  /** Score above this is anomalous. Absent: the detector scores but never finds anything anomalous. */
  threshold: z.number().nonnegative().optional(),
  /**
   * Set by calibrate: the false-positive rate the threshold was chosen for, on how many held-out
   * samples, and the benign variations of them it was held to as well.
   */
  calibration: z.object({ fpr: z.number(), samples: z.number().int(), variations: z.array(z.string()).optional() }).strict().optional(),
};
