import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { logger, metrics } from '../powertools.ts';
import { type SweepReport, sweepWriteBacks } from '../usecases/write-back/runs.ts';
import { writeBackServicesFromEnvironment } from '../usecases/write-back/services.ts';

const services = writeBackServicesFromEnvironment({ logger, metrics });

/**
 * The due CRM write-backs, each deal's in decision order. Run by a schedule every minute and when the outbox
 * enqueues one (the table's stream, filtered to new write-backs); locally by the stack every second.
 */
export const handler = middy<unknown, SweepReport>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .handler(async (_event, context) => {
    const report = await sweepWriteBacks(services, { runMs: context.getRemainingTimeInMillis() });
    if (report.deals > 0) logger.info('write-backs swept', { ...report });
    return report;
  });
