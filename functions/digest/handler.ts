import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { logger, metrics } from '../powertools.ts';
import { type DigestReport, sendDigest } from '../usecases/digest.ts';
import { effectServicesFromEnvironment } from '../usecases/effect-services.ts';

const services = effectServicesFromEnvironment({ logger, metrics });

/** The daily stale-deal digest, run by an EventBridge Scheduler schedule (locally every DIGEST_INTERVAL_SECONDS). */
export const handler = middy<unknown, DigestReport>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .handler(async () => {
    const report = await sendDigest(services);
    logger.info('digest sent', { ...report });
    return report;
  });
