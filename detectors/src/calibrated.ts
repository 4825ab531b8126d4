import { z } from 'zod';

/** The threshold fields of a scoring detector's config, as `vigil detectors calibrate` writes them. */
export const calibrated = {
  /** Score above this is anomalous. Absent: the detector scores but never finds anything anomalous. */
  threshold: z.number().nonnegative().optional(),
  /** Set by calibrate: the false-positive rate the threshold was chosen for, and on how many samples. */
  calibration: z.object({ fpr: z.number(), samples: z.number().int() }).strict().optional(),
};
