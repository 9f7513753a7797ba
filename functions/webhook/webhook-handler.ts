import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { httpErrors } from '../http/middleware.ts';
import type { HttpResult } from '../http/responses.ts';
import { logger, metrics } from '../powertools.ts';
import { receiveWebhook, type ServedSources } from '../usecases/receive-webhook.ts';
import { servicesFromEnvironment } from '../usecases/services.ts';

/**
 * The handler of a webhook function serving `served`. Each source deploys as a function of its own behind its own
 * route, so that each bundle carries only its own parser (Salesforce's XML parser stays out of the others); the
 * local stack serves the same routes with the same handlers.
 */
export function webhookHandler(served: ServedSources) {
  const services = servicesFromEnvironment({ logger, metrics });
  return middy<APIGatewayProxyEventV2, HttpResult>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .use(httpErrors(logger))
    .handler((event) => receiveWebhook(event, services, served));
}
