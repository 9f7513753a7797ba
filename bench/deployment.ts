import { resolve } from 'node:path';
import { App } from 'aws-cdk-lib';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { loadPipelines } from '../functions/adapters/config-files.ts';
import { addStageflow } from '../infra/cloud/stageflow.ts';
import { byFunction, FUNCTIONS, type FunctionName } from './bundles.ts';
import type { Architecture } from './cost-model.ts';

/** How a function is deployed, as far as its price goes. */
export interface DeployedFunction {
  memoryMb: number;
  architecture: Architecture;
}

/** Lambda's defaults when a function sets neither. */
const LAMBDA_DEFAULTS: DeployedFunction = { memoryMb: 128, architecture: 'x86_64' };

/**
 * Memory and architecture of each function as the CDK app declares them, so that the cost model follows any change
 * to infra/cloud. The app is only constructed, neither bundled (the benchmark bundles itself) nor synthesized.
 */
export function deployedFunctions(): Record<FunctionName, DeployedFunction> {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stacks = addStageflow(app, loadPipelines(resolve(import.meta.dirname, '../stage-config')));
  return byFunction((name) => {
    const cfn = stacks.app.functions[FUNCTIONS[name].stackKey].function.node.defaultChild as CfnFunction;
    return {
      memoryMb: cfn.memorySize ?? LAMBDA_DEFAULTS.memoryMb,
      architecture: cfn.architectures?.[0] === 'arm64' ? 'arm64' : LAMBDA_DEFAULTS.architecture,
    };
  });
}
