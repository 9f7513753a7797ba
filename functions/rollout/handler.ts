import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { type RolloutResourceResult, rolloutDeployedVersion } from '../usecases/rollout-deployment.ts';
import { servicesFromEnvironment } from '../usecases/services.ts';

const logger = new Logger({ serviceName: 'stageflow-rollout' });
const metrics = new Metrics({ namespace: 'Stageflow', serviceName: 'stageflow-rollout' });
const services = servicesFromEnvironment({ logger, metrics });

/** The deploy's custom resource (CDK Provider framework, onEvent): a newly deployed version goes live. */
export const handler = middy<CloudFormationCustomResourceEvent, RolloutResourceResult>()
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .handler((event) => rolloutDeployedVersion(event, services, { logger, metrics }));
