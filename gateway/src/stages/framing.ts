import { VigilError } from '../errors.js';
import { refuse, type Stage } from '../stage.js';

/** Header lines a request may carry; Envoy's default bound too. */
export const MAX_HEADER_LINES = 100;

/**
 * framing stage: what Node's parser let through but vigil will not guess about. More header lines
 * than the bound: Node has already dropped the ones past it, so a later duplicate credential or
 * content header could go unseen; refuse (431) rather than act on part of the request.
 */
export const framingStage: Stage = {
  name: 'framing',
  run(ctx) {
    if (ctx.req.rawHeaders.length / 2 > MAX_HEADER_LINES) {
      return refuse(new VigilError('HEADERS_TOO_LARGE', `the request has more than ${MAX_HEADER_LINES} header lines`, { connection: 'close' }), 'stage:framing');
    }
  },
};
