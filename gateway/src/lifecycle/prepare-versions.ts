import type { DetectorServices } from '../../../detectors/src/detector.js';
import type { ModelVersion } from '../../../serving/src/model-repository.js';
import { loadModelScreening, type ModelScreening } from '../screening/model-screening.js';

/**
 * Sets up the detectors of each loadable version, at start and at a live load alike. A version
 * whose screening cannot be set up is refused, like one whose digest is wrong: it must not be
 * served unscreened.
 */
export async function prepareVersions(scanned: readonly ModelVersion[], services: DetectorServices): Promise<{ versions: ModelVersion[]; screening: Map<ModelVersion, ModelScreening> }> {
  const screening = new Map<ModelVersion, ModelScreening>();
  const versions = await Promise.all(
    scanned.map(async (v): Promise<ModelVersion> => {
      if (v.status === 'refused') return v;
      try {
        screening.set(v, await loadModelScreening(v.config, v.dir, services));
        return v;
      } catch (err) {
        return { ...v, status: 'refused', reason: `its detectors cannot be set up: ${(err as Error).message}` };
      }
    }),
  );
  return { versions, screening };
}
