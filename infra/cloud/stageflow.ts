import type { App } from 'aws-cdk-lib';
import type { VersionedPipeline } from '../../functions/core/pipeline-config.ts';
import { StageflowAppStack } from './app-stack.ts';
import { StageflowDataStack } from './data-stack.ts';
import { readSettings } from './settings.ts';

/** The two stacks of a Stageflow deployment. */
export interface StageflowStacks {
  data: StageflowDataStack;
  app: StageflowAppStack;
}

/**
 * Adds Stageflow to a CDK app: the stateful `StageflowData` stack and the stateless `StageflowApp` stack, both
 * environment-agnostic (no account or region needed to synthesize).
 * @param pipelines - every pipeline to deploy, as `loadPipelines` returns them
 * @throws InvalidSettingsError when a context value is invalid
 */
export function addStageflow(app: App, pipelines: ReadonlyMap<string, VersionedPipeline>): StageflowStacks {
  const settings = readSettings(app.node);
  const data = new StageflowDataStack(app, 'StageflowData', {
    description: 'Stageflow data: the deals table (retained, deletion-protected)',
    terminationProtection: true,
  });
  const stack = new StageflowAppStack(app, 'StageflowApp', {
    description: 'Stageflow: functions, deal workflows, HTTP API and operations',
    table: data.table,
    pipelines,
    settings,
  });
  return { data, app: stack };
}
