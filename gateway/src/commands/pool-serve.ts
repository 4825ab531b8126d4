import { readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { scanRepository } from '../../../serving/src/model-repository.js';
import { artifactSourceOf, ociSettingsOf } from '../config/oci-settings.js';
import type { Server } from 'node:http';
import { createPoolHealthServer, createPoolOipServer } from '../../../serving/src/pool-serve/pool-oip-server.js';
import { loadConfig } from '../config/load-config.js';
import { createLogger } from '../logger.js';
import { chooseIsolation } from '../isolation.js';
import { createPools, supervisorOf } from '../pools.js';
import { prepareRuntimeDir } from '../runtime-dir.js';

export interface PoolServeOptions {
  config?: string;
  model: string;
  version?: string;
  listen: string;
  /** A plain-HTTP port answering only /v2/health/live and /v2/health/ready, for probes that cannot present a client certificate (the kubelet's). */
  healthListen?: string;
  tlsCert?: string;
  tlsKey?: string;
  clientCa?: string;
  plaintext?: boolean;
}

/** Exit code for a pool that cannot be served (bad flags, a refused or remote version). */
const CANNOT_SERVE = 2;

/**
 * `vigil pool serve`: runs one model version's pool (the same supervised worker processes as
 * `vigil start`) and serves it over TCP with mutual TLS, for a gateway elsewhere to name as its
 * `backend: oip-http`. Runs until SIGTERM/SIGINT.
 */
export async function poolServeCommand(opts: PoolServeOptions): Promise<number> {
  const log = createLogger();
  const tlsFiles = [opts.tlsCert, opts.tlsKey, opts.clientCa];
  if (!opts.plaintext && tlsFiles.some((f) => !f)) {
    log.error('pool serve needs --tls-cert, --tls-key and --client-ca (mutual TLS), or --plaintext for a network you trust entirely');
    return CANNOT_SERVE;
  }
  const listen = hostPort(opts.listen);
  const healthListen = opts.healthListen === undefined ? undefined : hostPort(opts.healthListen);
  if (!listen || healthListen === null) {
    log.error({ listen: opts.listen, healthListen: opts.healthListen }, '--listen and --health-listen take host:port, e.g. 0.0.0.0:8443 or [::]:8443');
    return CANNOT_SERVE;
  }
  const { config } = await loadConfig(opts.config);
  const scan = await scanRepository(config.models.repository, undefined, artifactSourceOf(await ociSettingsOf(config.models)));
  const versions = scan.models.get(opts.model) ?? [];
  const version = opts.version === undefined ? (versions.find((v) => v.status === 'ok') ?? versions[0]) : versions.find((v) => v.version === opts.version);
  if (!version) {
    log.error({ model: opts.model, version: opts.version ?? null, repository: scan.root }, 'no such model version in the repository');
    return CANNOT_SERVE;
  }
  if (version.status === 'refused') {
    log.error({ model: version.name, version: version.version, reason: version.reason }, `MODEL REFUSED: ${version.reason}`);
    return CANNOT_SERVE;
  }
  if (version.config.backend.kind !== 'local') {
    log.error({ model: version.name, version: version.version }, 'this version names a remote backend itself; pool serve runs local pools only');
    return CANNOT_SERVE;
  }
  let tls;
  try {
    tls = opts.plaintext ? undefined : { cert: await readFile(opts.tlsCert!), key: await readFile(opts.tlsKey!), clientCa: await readFile(opts.clientCa!) };
  } catch (err) {
    log.error({ err: (err as Error).message }, 'cannot read the TLS files');
    return CANNOT_SERVE;
  }
  if (!tls) log.warn('PLAINTEXT: the pool is served without TLS or client certificates; anyone who reaches the port can run the model');

  const runtime = await prepareRuntimeDir(config.models.runtime_dir);
  const isolation = chooseIsolation(config.pools.isolation, log, config.pools.sandbox_uid);
  const supervisor = supervisorOf(config.pools, isolation.launcher, log);
  // No screening here: the gateway screens, and computes squeeze scores from extra rows it sends.
  const screening = new Map([[version, { features: null, request: [], answer: [] }]]);
  const [served] = createPools([version], supervisor, runtime.path, {
    maxBodyBytes: config.server.max_body_bytes,
    runTimeoutMs: config.server.request_timeout_ms,
    logLevel: log.level,
    maxQueue: config.pools.max_queue,
    screening,
    sandboxed: isolation.isolation.mode === 'sandbox',
    onRemoteEvent: () => undefined,
  });
  if (served.status !== 'serving') throw new Error(`unreachable: ${served.reason}`);
  await supervisor.start();
  const server = createPoolOipServer({
    model: served.model,
    version: served.version,
    signature: served.signature,
    platform: served.config.platform,
    backend: served.backend,
    maxBodyBytes: config.server.max_body_bytes,
    requestTimeoutMs: config.server.request_timeout_ms,
    maxConnections: config.server.max_connections,
    tls,
    onError: (err) => log.error({ err }, 'pool serve request failed'),
  });
  // Handshakes refused (no or wrong client certificate): logged, at most one line a minute.
  let lastTlsLog = 0;
  server.on('tlsClientError', (err: Error & { code?: string }) => {
    if (Date.now() - lastTlsLog < 60_000) return;
    lastTlsLog = Date.now();
    log.warn({ code: err.code ?? err.message }, 'refused a TLS client (no or untrusted client certificate); further refusals this minute are not logged');
  });
  await listenOn(server, listen);
  const health = healthListen && createPoolHealthServer(served.backend);
  if (health && healthListen) await listenOn(health, healthListen);
  const port = (server.address() as AddressInfo).port;
  const healthPort = health ? (health.address() as AddressInfo).port : null;
  log.info({ model: served.model, version: served.version, host: listen.host, port, healthPort, tls: !!tls }, 'vigil pool listening');

  const stop = async (signal: string) => {
    log.info({ signal }, 'shutting down');
    server.close();
    health?.close();
    await supervisor.stop(config.pools.stop_grace_ms);
    isolation.close();
    await served.backend.close();
    if (runtime.created) await rm(runtime.path, { recursive: true, force: true });
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  return 0;
}

function hostPort(value: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  if (!m || Number(m[3]) > 65535) return null;
  return { host: m[1] ?? m[2], port: Number(m[3]) };
}

function listenOn(server: Server, at: { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
