import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { httpErrors } from '../http/middleware.ts';
import type { HttpResult } from '../http/responses.ts';
import { logger, metrics } from '../powertools.ts';
import { receiveWebhook } from '../usecases/receive-webhook.ts';
import { servicesFromEnvironment } from '../usecases/services.ts';

const services = servicesFromEnvironment({ logger, metrics });

/** `POST /webhooks/{source}`: CRM and generic webhooks. */
export const handler = middy<APIGatewayProxyEventV2, HttpResult>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .use(httpErrors(logger))
  .handler((event) => receiveWebhook(event, services));
