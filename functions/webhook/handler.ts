import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { httpErrors } from '../http/middleware.ts';
import type { HttpResult } from '../http/responses.ts';
import { receiveWebhook } from '../usecases/receive-webhook.ts';
import { servicesFromEnvironment } from '../usecases/services.ts';

const logger = new Logger({ serviceName: 'stageflow-webhook' });
const metrics = new Metrics({ namespace: 'Stageflow', serviceName: 'stageflow-webhook' });
const services = servicesFromEnvironment({ logger, metrics });

/** `POST /webhooks/{source}`: CRM and generic webhooks (CONTRACT section 3). */
export const handler = middy<APIGatewayProxyEventV2, HttpResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors(logger))
  .handler((event) => receiveWebhook(event, services));
