/**
 * The CDK app behind `npm run synth` and `npm run deploy`: deploys every pipeline of `stage-config/` (or of the
 * folder given as `-c stageConfigDir=<folder>`). An invalid stage config or context value stops it before anything
 * is synthesized, with every error and where it is. cdk-nag's AWS Solutions rules check the result: any finding
 * not acknowledged with a reason (`Validations.of(construct).acknowledge`) fails the synthesis.
 */
import { relative, resolve } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { formatConfigIssues, loadPipelines } from '../../functions/core/config-loader.ts';
import { InvalidConfigError } from '../../functions/core/errors.ts';
import { InvalidSettingsError } from './settings.ts';
import { addStageflow } from './stageflow.ts';

const app = new App();
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
const projectRoot = resolve(import.meta.dirname, '../..');
const configDir = resolve(projectRoot, app.node.tryGetContext('stageConfigDir') ?? 'stage-config');
// Relative to the working folder, so that errors name files as `stage-config/default.yaml:12:5`.
const shownConfigDir = relative(process.cwd(), configDir) || '.';

try {
  addStageflow(app, loadPipelines(shownConfigDir));
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
  throw error;
}
