import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { parser } from '@aws-lambda-powertools/parser/middleware';
import middy from '@middy/core';
import { logger, metrics } from '../powertools.ts';
import { effectServicesFromEnvironment } from '../usecases/effect-services.ts';
import { runWorkflowTask, type WorkflowTask } from '../usecases/workflow-tasks.ts';
import { WorkflowTaskSchema } from './schema.ts';

const services = effectServicesFromEnvironment({ logger, metrics });

/** The state machine's task function: stage waits, approval requests, reminders, expiry, closing notices. */
export const handler = middy<WorkflowTask, unknown>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .use(parser({ schema: WorkflowTaskSchema }))
  .handler(async (task) => {
    logger.appendKeys({ pipeline: task.pipeline, dealId: task.dealId, action: task.action });
    return (await runWorkflowTask(task, services)) ?? {};
  });
