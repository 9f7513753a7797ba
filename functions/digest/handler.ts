import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import { type DigestReport, sendDigest } from '../usecases/digest.ts';
import { effectServicesFromEnvironment } from '../usecases/effect-services.ts';

const logger = new Logger({ serviceName: 'stageflow-digest' });
const metrics = new Metrics({ namespace: 'Stageflow', serviceName: 'stageflow-digest' });
const services = effectServicesFromEnvironment({ logger, metrics });

/** The daily stale-deal digest, run by an EventBridge Scheduler schedule (locally every DIGEST_INTERVAL_SECONDS). */
export const handler = middy<unknown, DigestReport>()
  .use(injectLambdaContext(logger))
  .handler(async () => {
    const report = await sendDigest(services);
    logger.info('digest sent', { ...report });
    return report;
  });
