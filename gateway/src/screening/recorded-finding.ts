import type { Finding } from '../../../detectors/src/finding.js';

/** A finding as audited: with the mode it ran in and what the policy made of it. */
export interface RecordedFinding extends Finding {
  mode: 'enforce' | 'shadow';
  /** What happened: none (clean), allow, flag, block, quarantine; in shadow mode, what would have. */
  action: 'none' | 'allow' | 'flag' | 'block' | 'quarantine';
}
