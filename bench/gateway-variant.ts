// One gateway for bench/security-chain.ts, in its own process so its CPU can be measured:
//   node dist/bench/gateway-variant.js '{"chain":true,"tokenCache":10000,"telemetry":true,"runtimeDir":"/tmp/x","scratch":"/tmp/y"}'
// Prints {"port":…} once listening; stops on SIGTERM.
import { join } from 'node:path';
import pino from 'pino';
import { configSchema } from '../gateway/src/config/schema.js';
import type { StageLists, StageSet } from '../gateway/src/pipeline.js';
import { startVigil } from '../gateway/src/vigil.js';

const opts = JSON.parse(process.argv[2]) as { chain: boolean; tokenCache: number; runtimeDir: string; scratch: string; telemetry?: boolean; repository?: string };
const config = configSchema.parse({
  server: { port: 0 },
  admin: { port: 0 },
  models: { repository: opts.repository ?? 'models', runtime_dir: opts.runtimeDir },
  auth: { dev_mode: true, state_dir: join(opts.scratch, 'state'), token_cache_size: opts.tokenCache },
  // Quotas far above what the load reaches: the limit stage does its full work and never refuses.
  policy: { file: join(opts.scratch, 'policy.yaml'), watch: false },
  audit: { dir: join(opts.scratch, `audit-${process.pid}`) },
});
// Without the chain: no authenticate, quarantine, authorize, admit or items stage, no audit-health
// check and no audit record; everything else as vigil runs it.
const withoutChain = (s: StageSet): StageLists => ({
  front: [s.overload, s.drain, s.framing, s.route],
  server: [s.answer],
  model: [s.selectVersion, s.resolve, s.answer],
  inference: [s.selectVersion, s.resolve, s.queue, s.body, s.screen, s.proxy, s.screenAnswer, s.send],
});
const vigil = await startVigil(config, pino({ level: 'warn' }), {
  ...(opts.chain ? {} : { stages: withoutChain, recordAnswersTo: { append: async () => undefined } }),
  ...(opts.telemetry === false ? { observeRequestsWith: () => undefined } : {}),
});
const mnist = vigil.registry.resolve('mnist', undefined);
const poolPid = mnist.status === 'serving' ? mnist.pool!.workers[0].pid : undefined;
process.stdout.write(`${JSON.stringify({ port: vigil.port, poolSocket: join(opts.runtimeDir, 'mnist.1.0', 'pool.sock'), poolPid })}\n`);
process.once('SIGTERM', () => void vigil.stop().then(() => process.exit(0)));
