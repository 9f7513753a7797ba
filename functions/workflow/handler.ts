import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { parser } from '@aws-lambda-powertools/parser/middleware';
import middy from '@middy/core';
import { effectServicesFromEnvironment } from '../usecases/effect-services.ts';
import { runWorkflowTask, type WorkflowTask } from '../usecases/workflow-tasks.ts';
import { WorkflowTaskSchema } from './schema.ts';

const logger = new Logger({ serviceName: 'stageflow-workflow' });
const metrics = new Metrics({ namespace: 'Stageflow', serviceName: 'stageflow-workflow' });
const services = effectServicesFromEnvironment({ logger, metrics });

/** The state machine's task function: stage waits, approval requests, reminders, expiry, closing notices. */
export const handler = middy<WorkflowTask, unknown>()
  .use(injectLambdaContext(logger))
  .use(parser({ schema: WorkflowTaskSchema }))
  .handler(async (task) => {
    logger.appendKeys({ pipeline: task.pipeline, dealId: task.dealId, action: task.action });
    return (await runWorkflowTask(task, services)) ?? {};
  });
