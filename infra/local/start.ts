import { SECRET_NAMES } from '../../functions/adapters/environment.ts';
import { formatConfigIssues } from '../../functions/core/config/read.ts';
import { InvalidConfigError } from '../../functions/core/errors.ts';
import { UnmappedRetiredStageError } from '../../functions/core/migrate.ts';
import { DEVELOPMENT_SECRETS, optionsFromEnvironment, startLocalStack } from './stack.ts';
import { writeBackLines } from './write-back-status.ts';

/** `npm start`: the whole system on this machine until Ctrl-C. */
const options = optionsFromEnvironment();
const startedAt = performance.now();
try {
  const stack = await startLocalStack(options);
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
  const secretLines = SECRET_NAMES.map((name) => {
    const fromDefault = process.env[name] === DEVELOPMENT_SECRETS[name];
    return `  ${name.padEnd(26)} ${process.env[name]}${fromDefault ? '  (development default)' : ''}`;
  });
  console.log(
    [
      '',
      `Stageflow is running (started in ${seconds} s) — pipelines: ${[...stack.pipelines.keys()].join(', ')}`,
      '',
      `  Board                 ${stack.url}/board`,
      `  HTTP API              ${stack.url}   (webhooks, approval pages, read API: ${stack.url}/health)`,
      `  Mail viewer (SES)     ${stack.sesUrl}/   (JSON: ${stack.sesUrl}/store)`,
      `  DynamoDB Local        ${stack.dynamoDbUrl}`,
      `  Step Functions (local) ${stack.stepFunctionsUrl}`,
      `  Data                  ${options.dataDir ?? '(in memory: nothing is kept)'}`,
      '',
      'Secrets (set these variables to change them; the cloud has no defaults):',
      ...secretLines,
      '',
      'CRM write-back (on for each CRM whose credentials are set):',
      ...(await writeBackLines()),
      '',
      'Press Ctrl-C to stop.',
    ].join('\n'),
  );
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping…`);
    await stack.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
} catch (error) {
  if (error instanceof InvalidConfigError) {
    const source = options.configFile ?? options.configDir;
    console.error(`The stage config is invalid; nothing was started.\n${formatConfigIssues(error, source)}`);
  } else if (error instanceof UnmappedRetiredStageError) {
    console.error(`The stage config cannot go live; nothing was started.\n${error.message}`);
  } else {
    console.error(`Stageflow could not start: ${error instanceof Error ? error.message : String(error)}`);
  }
  process.exit(1);
}
