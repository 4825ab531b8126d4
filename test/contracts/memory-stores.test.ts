// Every memory store against its contract (a networked store runs the same suites in its own test).
import { MemoryRateLimitStore } from '../../gateway/src/limits/limiter-store.js';
import { describeRateLimitStoreContract } from './rate-limit-store.contract.js';

describeRateLimitStoreContract('memory', () => new MemoryRateLimitStore());
