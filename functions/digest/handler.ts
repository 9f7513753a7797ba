import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import * as z from 'zod/mini';
import { logger, metrics } from '../powertools.ts';
import { type DigestReport, sendDigest } from '../usecases/digest.ts';
import { effectServicesFromEnvironment } from '../usecases/effect-services.ts';

const services = effectServicesFromEnvironment({ logger, metrics });

/** What the schedule sends: the run's scheduled time (the same on every retry of the run). */
const DigestRunSchema = z.catch(z.object({ scheduledTime: z.optional(z.string().check(z.minLength(1))) }), {});

/**
 * The daily stale-deal digest, run by an EventBridge Scheduler schedule (locally every DIGEST_INTERVAL_SECONDS). A
 * retry of the same scheduled run emails only the addresses the failed attempt missed.
 */
export const handler = middy<unknown, DigestReport>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .handler(async (event) => {
    const { scheduledTime } = DigestRunSchema.parse(event ?? {});
    const report = await sendDigest(services, scheduledTime);
    logger.info('digest sent', { ...report });
    return report;
  });
