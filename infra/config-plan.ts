/**
 * `npm run config:plan -- [file] [--json] [--table <name>]`: what making the file live would change against the live
 * version, and its impact on the open deals. Exit 0: no decision needed; 1: invalid file; 2: a
 * decision is needed (open deals in a removed stage without a `retiredStages` entry).
 *
 * Where the live version and the deals are read:
 * - `--table <name>`: the deployed table (the `TableName` output of StageflowData), with the caller's AWS credentials;
 * - otherwise the local data: the running stack's DynamoDB Local when it answers on `DYNAMODB_PORT` (8000), else the
 *   data folder (`STAGEFLOW_DATA_DIR`, `.stageflow/`) opened with a DynamoDB Local of our own, stopped afterwards.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { loadPipelineConfig, resolveConfigFile } from '../functions/adapters/config-files.ts';
import { DealRepository } from '../functions/adapters/deal-repository.ts';
import { formatRolloutPlan, planRollout, type RolloutPlan } from '../functions/core/config/plan.ts';
import { formatConfigIssues } from '../functions/core/config/read.ts';
import { InvalidConfigError } from '../functions/core/errors.ts';
import type { VersionedPipeline } from '../functions/core/pipeline-config.ts';
import { readRolloutPlan } from '../functions/usecases/rollout.ts';
import { freePort, type RunningProcess, startDynamoDbLocal } from './local/emulators.ts';
import { TABLE_NAME } from './local/stack.ts';

const LOCAL = { region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { json: { type: 'boolean', default: false }, table: { type: 'string' } },
});
const file = resolveConfigFile(positionals[0]);

let next: VersionedPipeline;
try {
  next = loadPipelineConfig(file);
} catch (error) {
  if (!(error instanceof InvalidConfigError)) throw error;
  console.error(formatConfigIssues(error, file));
  process.exit(1);
}

const plan = values.table ? await planAgainst(new DynamoDBClient({}), values.table) : await planLocally();
console.log(values.json ? JSON.stringify(plan, null, 2) : formatRolloutPlan(plan));
process.exitCode = plan.decisionNeeded ? 2 : 0;

async function planAgainst(client: DynamoDBClient, tableName: string): Promise<RolloutPlan> {
  try {
    return await readRolloutPlan(new DealRepository(DynamoDBDocumentClient.from(client), tableName), next);
  } catch (error) {
    if (error instanceof Error && error.name === 'ResourceNotFoundException')
      return planRollout(null, next, [], new Map(), new Date().toISOString());
    throw error;
  } finally {
    client.destroy();
  }
}

/** The running stack's DynamoDB Local, else the data folder with one of our own, else nothing is live yet. */
async function planLocally(): Promise<RolloutPlan> {
  const running = `http://127.0.0.1:${process.env.DYNAMODB_PORT ?? 8000}`;
  if (await answers(running)) return planAgainst(new DynamoDBClient({ ...LOCAL, endpoint: running }), TABLE_NAME);
  const dataDir = join(resolve(process.env.STAGEFLOW_DATA_DIR ?? '.stageflow'), 'dynamodb');
  if (!existsSync(dataDir)) return planRollout(null, next, [], new Map(), new Date().toISOString());
  let dynamo: RunningProcess | undefined;
  try {
    dynamo = await startDynamoDbLocal({ port: await freePort(), dataDir });
    return await planAgainst(new DynamoDBClient({ ...LOCAL, endpoint: dynamo.url }), TABLE_NAME);
  } finally {
    await dynamo?.stop();
  }
}

async function answers(endpoint: string): Promise<boolean> {
  const client = new DynamoDBClient({ ...LOCAL, endpoint, maxAttempts: 1 });
  try {
    await client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(1_000) });
    return true;
  } catch {
    return false;
  } finally {
    client.destroy();
  }
}
