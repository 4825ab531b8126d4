import type { RequestContext } from '../context.js';
import { VigilError } from '../errors.js';

/** drain stage: once vigil is stopping, new requests are refused (503) while in-flight ones finish. */
export function createDrainStage(isDraining: () => boolean) {
  return function drain(_ctx: RequestContext): void {
    if (isDraining()) throw new VigilError('SHUTTING_DOWN', 'vigil is shutting down', { connection: 'close' });
  };
}
