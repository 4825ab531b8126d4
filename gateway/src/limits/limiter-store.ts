import { RateLimiterMemory, type RateLimiterAbstract } from 'rate-limiter-flexible';

/**
 * Where rate-limit counters live: the seam for sharing them between gateway replicas.
 * Memory now; a Redis store (rate-limiter-flexible's RateLimiterRedis) plugs in here later.
 */
export interface LimiterStore {
  readonly name: string;
  limiter(opts: { keyPrefix: string; points: number; duration: number }): RateLimiterAbstract;
}

export class MemoryLimiterStore implements LimiterStore {
  readonly name = 'memory';
  limiter(opts: { keyPrefix: string; points: number; duration: number }): RateLimiterAbstract {
    return new RateLimiterMemory(opts);
  }
}
