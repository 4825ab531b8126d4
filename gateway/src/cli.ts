import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { ConfigFileError } from '../../oip/src/yaml-with-schema.js';
import { apikeyCreateCommand } from './commands/apikey-create.js';
import { auditQueryCommand, type AuditQueryOptions } from './commands/audit-query.js';
import { auditReportCommand, type AuditReportOptions } from './commands/audit-report.js';
import { auditVerifyCommand, type AuditVerifyOptions } from './commands/audit-verify.js';
import { configCheckCommand } from './commands/config-check.js';
import { detectorsCalibrateCommand, VARIATIONS_HELP, type CalibrateOptions } from './commands/detectors-calibrate.js';
import { modelsListCommand } from './commands/models-list.js';
import { policyCheckCommand } from './commands/policy-check.js';
import { poolServeCommand, type PoolServeOptions } from './commands/pool-serve.js';
import { poolsRestartCommand, type PoolsRestartOptions } from './commands/pools-restart.js';
import { modelsChangeCommand, type ModelsChangeOptions } from './commands/models-change.js';
import { modelsPullCommand, modelsPushCommand, type ModelsOciOptions } from './commands/models-oci.js';
import { policyExplainCommand, type PolicyExplainOptions } from './commands/policy-explain.js';
import { modelsSignCommand, type ModelsSignOptions } from './commands/models-sign.js';
import { startCommand } from './commands/start.js';
import { tokenCommand } from './commands/token.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const program = new Command('vigil')
  .description('vigil: a secured, observable Open Inference Protocol gateway in front of isolated ONNX Runtime pools')
  .version(VERSION, '-V, --version', 'print the version of vigil')
  .showHelpAfterError();

program
  .command('start')
  .description('start the gateway and a pool for every model version in the repository')
  .option('-c, --config <file>', 'config file (default: $VIGIL_CONFIG, else ./vigil.yaml)')
  .action(async (opts: { config?: string }) => {
    await startCommand(opts);
  });

const models = program.command('models').description('the model repository');
models
  .command('list')
  .description('list model versions, their signatures and whether each would be served')
  .option('-c, --config <file>', 'config file')
  .option('--json', 'print JSON')
  .action(async (opts: { config?: string; json?: boolean }) => {
    process.exitCode = await modelsListCommand(opts);
  });

models
  .command('sign <model> <version>')
  .description('sign a model version (its ONNX digest and model.yaml) with a private key: writes model.sig, checked at load against models.trusted_keys')
  .requiredOption('--key <file>', 'PKCS#8 PEM private key (e.g. openssl genpkey -algorithm ed25519)')
  .requiredOption('--kid <id>', 'key id, as models.trusted_keys names the public key')
  .option('--alg <alg>', 'EdDSA (default), ES256, ES384 or PS256')
  .option('-c, --config <file>', 'config file (its models.repository)')
  .action(async (model: string, version: string, opts: ModelsSignOptions) => {
    process.exitCode = await modelsSignCommand(model, version, opts);
  });

models
  .command('push <model> <version> <reference>')
  .description('push a model version (every file of its directory) to an OCI registry as one artifact: oci://host/repository[:tag]; prints the reference by digest')
  .option('--plain-http', "reach the registry over plain HTTP (a registry on loopback); else models.oci.registries says")
  .option('-c, --config <file>', 'config file (its models.repository and models.oci)')
  .action(async (model: string, version: string, reference: string, opts: ModelsOciOptions) => {
    process.exitCode = await modelsPushCommand(model, version, reference, opts);
  });
models
  .command('pull <reference>')
  .description('pull a model version from an OCI registry into the repository (oci://host/repository@sha256:…), every file checked against the manifest and the version as a load checks it')
  .option('--as <model/version>', 'the model and version to pull it as (default: those it was pushed as)')
  .option('--plain-http', 'reach the registry over plain HTTP (a registry on loopback)')
  .option('-c, --config <file>', 'config file (its models.repository and models.oci)')
  .action(async (reference: string, opts: ModelsOciOptions) => {
    process.exitCode = await modelsPullCommand(reference, opts);
  });

// The repository extension on the running gateway's admin port (RBAC admin:models, audited).
const adminOptions = (c: Command) =>
  c
    .option('--admin-url <url>', 'the admin port (default: from the config, http://<admin.host>:<admin.port>)')
    .option('--token <jwt>', 'an admin bearer token (default: $VIGIL_TOKEN; in dev_mode one is minted for you)')
    .option('--json', 'print the answer as JSON')
    .option('-c, --config <file>', 'config file');
adminOptions(models.command('load <model>').description("load a model live from the repository, or load it again after a change: digests, signatures and traffic.yaml are checked first; if any version fails, nothing changes")).action(
  async (model: string, opts: ModelsChangeOptions) => {
    process.exitCode = await modelsChangeCommand('load', model, undefined, opts);
  },
);
adminOptions(models.command('unload <model>').description('stop serving a model (requests in flight finish on the version they started on)')).action(async (model: string, opts: ModelsChangeOptions) => {
  process.exitCode = await modelsChangeCommand('unload', model, undefined, opts);
});
adminOptions(models.command('promote <model> <version>').description("send all of a model's unversioned traffic to a version (written to traffic.yaml); a shadow of it stops")).action(
  async (model: string, version: string, opts: ModelsChangeOptions) => {
    process.exitCode = await modelsChangeCommand('promote', model, version, opts);
  },
);
adminOptions(models.command('rollback <model>').description("take every canary's weight back to the stable version (the split's largest, or --to)").option('--to <version>', 'the version to go back to')).action(
  async (model: string, opts: ModelsChangeOptions) => {
    process.exitCode = await modelsChangeCommand('rollback', model, undefined, opts);
  },
);

program
  .command('pools')
  .description("the running gateway's model pools")
  .command('restart <model> <version>')
  .description('restart every worker of a model version\'s pool now (out of quarantine too), through the admin port; audited')
  .option('--admin-url <url>', 'the admin port (default: from the config, http://<admin.host>:<admin.port>)')
  .option('--token <jwt>', 'an admin bearer token (default: $VIGIL_TOKEN; in dev_mode one is minted for you)')
  .option('-c, --config <file>', 'config file')
  .action(async (model: string, version: string, opts: PoolsRestartOptions) => {
    process.exitCode = await poolsRestartCommand(model, version, opts);
  });

program
  .command('pool')
  .description('one model pool on its own')
  .command('serve')
  .description("serve one model version's pool over TCP as an Open Inference Protocol server with mutual TLS, for a gateway elsewhere (model.yaml backend: oip-http)")
  .requiredOption('--model <name>', 'model name')
  .option('--version <v>', 'model version (default: the highest that loads)')
  .option('--listen <host:port>', 'address to listen on', '0.0.0.0:8443')
  .option('--health-listen <host:port>', 'also answer /v2/health/live and /v2/health/ready here, plain HTTP and nothing else (for probes that cannot present a client certificate)')
  .option('--tls-cert <file>', "the server's certificate (PEM)")
  .option('--tls-key <file>', "the server's private key (PEM)")
  .option('--client-ca <file>', 'the CA that signs the certificates of gateways allowed in (PEM)')
  .option('--plaintext', 'no TLS and no client certificates (only where the network itself is trusted)')
  .option('-c, --config <file>', 'config file (its models.repository, pools and server limits)')
  .action(async (opts: PoolServeOptions) => {
    process.exitCode = await poolServeCommand(opts);
  });

program
  .command('detectors')
  .description("the models' input detectors")
  .command('calibrate')
  .description("compute detector thresholds from a model's held-out data at a target false-positive rate and write them to its model.yaml")
  .requiredOption('--model <name>', 'model name')
  .option('--version <v>', 'model version (default: the highest)')
  .option('--fpr <rate>', 'false-positive rate on legitimate inputs, for all detectors together', '0.05')
  .option('--variations <list>', VARIATIONS_HELP, 'auto')
  .option('-c, --config <file>', 'config file (its models.repository)')
  .action(async (opts: CalibrateOptions) => {
    process.exitCode = await detectorsCalibrateCommand(opts);
  });

const config = program.command('config').description('the configuration file');
config
  .command('check [file]')
  .description('validate a config file and report every problem with its line')
  .action(async (file: string | undefined) => {
    process.exitCode = await configCheckCommand(file);
  });

program
  .command('token')
  .description('mint a development token (auth.dev_mode) for trying vigil out')
  .requiredOption('--sub <subject>', 'who the token is for, e.g. alice')
  .option('--roles <roles>', 'comma-separated roles, e.g. analyst', '')
  .option('--ttl <duration>', 'lifetime: 30s, 15m, 1h, 1d (at most 1d)', '1h')
  .option('-c, --config <file>', 'config file')
  .action(async (opts: { sub: string; roles: string; ttl: string; config?: string }) => {
    process.exitCode = await tokenCommand(opts);
  });

const policy = program.command('policy').description('the authorization policy');
policy
  .command('check [file]')
  .description('validate a policy file and report every problem with its line')
  .option('--json', 'print JSON')
  .action(async (file: string | undefined, opts: { json?: boolean }) => {
    process.exitCode = await policyCheckCommand(file, opts);
  });
policy
  .command('explain')
  .description('what the policy decides for one request, which rule decided and why')
  .requiredOption('--action <action>', 'infer, metadata, health, admin:status, admin:reload, admin:pools, admin:models, audit:read')
  .option('--sub <subject>', 'a JWT subject (principal user:<sub>)')
  .option('--roles <roles>', 'comma-separated roles')
  .option('--api-key-id <id>', 'ask as this API key of the policy')
  .option('--model <model>')
  .option('--version <version>')
  .option('--source <ip>', 'client address', '127.0.0.1')
  .option('--time <iso>', 'when (default now)')
  .option('--policy <file>', 'policy file (default: the bundled one)')
  .option('--json', 'print JSON')
  .action(async (opts: Omit<PolicyExplainOptions, 'file'> & { policy?: string }) => {
    process.exitCode = await policyExplainCommand({ ...opts, file: opts.policy });
  });

program
  .command('apikey')
  .description('API keys for services')
  .command('create')
  .description('make a key, print it once, and print the policy entry (hash only) to paste')
  .requiredOption('--id <id>', 'key id; the principal is key:<id>')
  .requiredOption('--owner <owner>', 'who is responsible for it')
  .requiredOption('--roles <roles>', 'comma-separated roles')
  .option('--expires <date>', 'ISO date or date-time')
  .option('--policy <file>', 'check roles and id against this policy')
  .option('--json', 'print JSON')
  .action(async (opts: { id: string; owner: string; roles: string; expires?: string; policy?: string; json?: boolean }) => {
    process.exitCode = await apikeyCreateCommand({ ...opts, file: opts.policy });
  });

const audit = program.command('audit').description('the tamper-evident audit log');
audit
  .command('verify [dir]')
  .description('check the hash chain and checkpoints; name every edited, deleted, inserted, reordered or truncated record')
  .option('--hmac-key-file <file>', 'HMAC key the log was written with')
  .option('--public-key-file <file>', 'Ed25519 public key (PEM) of the checkpoints')
  .option('--checkpoints <file>', 'checkpoints kept elsewhere to hold the log against')
  .option('-c, --config <file>', 'config file (its audit.dir when no dir is given)')
  .option('--json', 'print JSON')
  .action(async (dir: string | undefined, opts: AuditVerifyOptions) => {
    process.exitCode = await auditVerifyCommand(dir, opts);
  });
audit
  .command('query [dir]')
  .description('who called which model, when, with what decision and why')
  .option('--principal <p>', 'exact or glob (key:*)')
  .option('--model <m>')
  .option('--version <v>')
  .option('--since <time>', 'ISO time or 15m, 2h, 7d ago')
  .option('--until <time>')
  .option('--decision <allow|deny|invalid>', 'deny: refused by a security decision; invalid: a malformed request')
  .option('--code <code>', 'exact or glob (TOKEN_*)')
  .option('--rule <rule>', 'exact or glob (deny:*, limit:*, stage:authenticate)')
  .option('--source <address>', 'exact or glob (10.0.*)')
  .option('--request-id <id>', "vigil's request id or the client's x-request-id")
  .option('--status <status>', '403, or a class: 4xx')
  .option('--auth-method <method>', 'jwt, api_key, anonymous, none')
  .option('--type <request|admin|alert>')
  .option('--action <action>')
  .option('--limit <n>', 'first N matches')
  .option('--last <n>', 'last N matches')
  .option('-f, --follow', 'keep printing new matches as they are written')
  .option('-c, --config <file>', 'config file (its audit.dir when no dir is given)')
  .option('--json', 'JSON lines')
  .option('--format <jsonl|ecs>', 'JSON lines as written, or Elastic Common Schema for a SIEM')
  .action(async (dir: string | undefined, opts: AuditQueryOptions) => {
    process.exitCode = await auditQueryCommand(dir, opts);
  });
audit
  .command('report [dir]')
  .description('summaries, like aureport: --auth --failed (failures by claimed identity), --summary principal|model|code|source|rule')
  .option('--auth', 'authentication: outcomes by method, or with --failed, failures by the identity they claimed')
  .option('--failed', 'with --auth: only failures, by claimed identity (unverified)')
  .option('--summary <key>', 'requests by principal, model, code, source or rule, split by decision')
  .option('--since <time>', 'ISO time or 15m, 2h, 7d ago')
  .option('--until <time>')
  .option('-c, --config <file>', 'config file (its audit.dir when no dir is given)')
  .option('--json', 'JSON lines')
  .action(async (dir: string | undefined, opts: AuditReportOptions) => {
    process.exitCode = await auditReportCommand(dir, opts);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`vigil: ${err instanceof ConfigFileError ? err.message : (err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
