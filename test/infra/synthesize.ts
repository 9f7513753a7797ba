import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { loadPipelines } from '../../functions/adapters/config-files.ts';
import type { VersionedPipeline } from '../../functions/core/pipeline-config.ts';
import { addStageflow, type StageflowStacks } from '../../infra/cloud/stageflow.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The pipelines `npm run synth` deploys. */
export const PIPELINES = loadPipelines(`${ROOT}stage-config`);

/** cdk.json's context (feature flags and settings), so that tests synthesize what `cdk synth` does. */
const CDK_CONTEXT = (JSON.parse(readFileSync(`${ROOT}cdk.json`, 'utf8')) as { context: Record<string, unknown> })
  .context;

export interface Synthesized extends StageflowStacks {
  cdkApp: App;
  dataTemplate: Template;
  appTemplate: Template;
}

/**
 * Builds and synthesizes the Stageflow app as `cdk synth` does.
 * @param options.bundle - bundle the functions with esbuild (seconds per function); off for tests that only look
 *   at the templates' structure
 * @param options.context - extra CDK context, e.g. settings
 */
export function synthesize(options: {
  bundle: boolean;
  context?: Record<string, unknown>;
  pipelines?: ReadonlyMap<string, VersionedPipeline>;
}): Synthesized {
  const context = { ...CDK_CONTEXT, ...options.context, ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }) };
  const cdkApp = new App({ context });
  const stacks = addStageflow(cdkApp, options.pipelines ?? PIPELINES);
  return {
    ...stacks,
    cdkApp,
    dataTemplate: Template.fromStack(stacks.data),
    appTemplate: Template.fromStack(stacks.app),
  };
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * A CloudFormation string value with its intrinsics written out as `{Ref:X}`, `{GetAtt:X.Y}`, … so that a value
 * built with `Fn::Join` (a JSON environment variable, an ARN) can be read and parsed as text.
 */
export function renderString(value: unknown): string {
  if (typeof value === 'string') return value;
  const node = value as { [key: string]: Json };
  if (Array.isArray(node['Fn::Join'])) {
    const [separator, parts] = node['Fn::Join'] as [string, Json[]];
    return parts.map(renderString).join(separator);
  }
  if (typeof node.Ref === 'string') return `{Ref:${node.Ref}}`;
  if (Array.isArray(node['Fn::GetAtt'])) return `{GetAtt:${(node['Fn::GetAtt'] as string[]).join('.')}}`;
  return `{${JSON.stringify(node).replaceAll('"', '')}}`;
}
