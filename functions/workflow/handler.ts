import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import { servicesFromEnvironment } from '../usecases/services.ts';
import { runWorkflowTask } from '../usecases/workflow-tasks.ts';
import { WorkflowTaskSchema } from './schema.ts';

const logger = new Logger({ serviceName: 'stageflow-workflow' });
const metrics = new Metrics({ namespace: 'Stageflow', serviceName: 'stageflow-workflow' });
const services = servicesFromEnvironment({ logger, metrics });

/** The state machine's task function: stage waits, approval requests, reminders, expiry, closing notices. */
export const handler = middy<unknown, unknown>()
  .use(injectLambdaContext(logger))
  .handler(async (event) => {
    const task = WorkflowTaskSchema.parse(event);
    logger.appendKeys({ pipeline: task.pipeline, dealId: task.dealId, action: task.action });
    return (await runWorkflowTask(task, services)) ?? {};
  });
