/**
 * The CDK app behind `npm run synth` and `npm run deploy`: deploys every pipeline of `stage-config/` (or of the
 * folder given as `-c stageConfigDir=<folder>`). An invalid stage config or context value stops it before anything
 * is synthesized, with every error and where it is. cdk-nag's AWS Solutions rules check the result: any finding
 * not acknowledged with a reason (`Validations.of(construct).acknowledge`) fails the synthesis.
 */
import { relative, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadPipelines } from '../../functions/adapters/config-files.ts';
import { DealRepository } from '../../functions/adapters/deal-repository.ts';
import { formatConfigIssues } from '../../functions/core/config/read.ts';
import { InvalidConfigError } from '../../functions/core/errors.ts';
import { UnmappedRetiredStageError } from '../../functions/core/migrate.ts';
import type { VersionedPipeline } from '../../functions/core/pipeline-config.ts';
import { readRolloutPlan } from '../../functions/usecases/rollout.ts';
import { InvalidSettingsError } from './settings.ts';
import { addStageflow } from './stageflow.ts';

const app = new App();
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
const projectRoot = resolve(import.meta.dirname, '../..');
const configDir = resolve(projectRoot, app.node.tryGetContext('stageConfigDir') ?? 'stage-config');
// Relative to the working folder, so that errors name files as `stage-config/default.yaml:12:5`.
const shownConfigDir = relative(process.cwd(), configDir) || '.';

try {
  const pipelines = loadPipelines(shownConfigDir);
  const liveTable: unknown = app.node.tryGetContext('liveTable');
  if (typeof liveTable === 'string' && liveTable !== '') await refuseUndecidedRollouts(pipelines, liveTable);
  addStageflow(app, pipelines);
} catch (error) {
  if (error instanceof InvalidConfigError) {
    console.error(formatConfigIssues(error, shownConfigDir));
    console.error('Nothing was synthesized: fix the stage config (npm run config:check -- <file> checks one file).');
    process.exit(1);
  }
  if (error instanceof InvalidSettingsError) {
    console.error(error.message);
    process.exit(1);
  }
  if (error instanceof UnmappedRetiredStageError) {
    console.error(error.message);
    console.error('Nothing was synthesized: add a retiredStages entry (npm run config:plan -- <file> shows the plan).');
    process.exit(1);
  }
  throw error;
}

/**
 * With `-c liveTable=<name>` (the StageflowData stack's TableName output), synth reads the deployed table with the
 * caller's credentials and refuses a file whose rollout needs a decision, as `config:plan` reports it. Without it,
 * synth cannot know the open deals: the rollout custom resource refuses during the deploy instead (and rolls back).
 */
async function refuseUndecidedRollouts(pipelines: Map<string, VersionedPipeline>, tableName: string): Promise<void> {
  const deals = new DealRepository(DynamoDBDocumentClient.from(new DynamoDBClient({})), tableName);
  const unmapped = [];
  for (const pipeline of pipelines.values()) {
    const plan = await readRolloutPlan(deals, pipeline);
    if (plan.unmapped.length > 0) unmapped.push(new UnmappedRetiredStageError(pipeline.config.pipeline, plan.unmapped));
  }
  if (unmapped.length > 0) throw unmapped[0];
}
