import { VigilError } from '../errors.js';
import { refuse, type Stage } from '../stage.js';

/** drain stage: once vigil is stopping, new requests are refused (503) while in-flight ones finish. */
export function createDrainStage(isDraining: () => boolean): Stage {
  return {
    name: 'drain',
    run() {
      if (isDraining()) return refuse(new VigilError('SHUTTING_DOWN', 'vigil is shutting down', { connection: 'close' }), 'stage:drain');
    },
  };
}
