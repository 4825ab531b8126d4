import { Command } from 'commander';
import { ConfigFileError } from '../../serving/src/yaml-with-schema.js';
import { configCheckCommand } from './commands/config-check.js';
import { modelsListCommand } from './commands/models-list.js';
import { startCommand } from './commands/start.js';

const program = new Command('vigil')
  .description('vigil: a secured, observable Open Inference Protocol gateway in front of isolated ONNX Runtime pools')
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

const config = program.command('config').description('the configuration file');
config
  .command('check [file]')
  .description('validate a config file and report every problem with its line')
  .action(async (file: string | undefined) => {
    process.exitCode = await configCheckCommand(file);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`vigil: ${err instanceof ConfigFileError ? err.message : (err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
