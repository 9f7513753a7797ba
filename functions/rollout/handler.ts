import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { logger, metrics } from '../powertools.ts';
import { type RolloutResourceResult, rolloutDeployedVersion } from '../usecases/rollout-deployment.ts';
import { servicesFromEnvironment } from '../usecases/services.ts';

const services = servicesFromEnvironment({ logger, metrics });

/** The deploy's custom resource (CDK Provider framework, onEvent): a newly deployed version goes live. */
export const handler = middy<CloudFormationCustomResourceEvent, RolloutResourceResult>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .handler((event) => rolloutDeployedVersion(event, services, { logger, metrics }));
