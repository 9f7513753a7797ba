import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { NotFoundError } from '../core/errors.ts';
import { httpErrors } from '../http/middleware.ts';
import { type HttpResult, json } from '../http/responses.ts';
import { logger, metrics } from '../powertools.ts';
import { readServicesFromEnvironment } from '../usecases/effect-services.ts';
import { checkHealth } from '../usecases/health.ts';
import { getDeal, listDeals, stageGuidance } from '../usecases/read-api.ts';

const services = readServicesFromEnvironment({ logger, metrics });

/** The read API: deals, stage guidance and health. */
export const handler = middy<APIGatewayProxyEventV2, HttpResult>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .use(httpErrors(logger))
  .handler(async (event) => {
    const query = event.queryStringParameters ?? {};
    const params = event.pathParameters ?? {};
    const pipeline = query.pipeline ?? 'default';
    switch (event.routeKey) {
      case 'GET /deals/{dealId}':
        return json(200, await getDeal(pipeline, params.dealId ?? '', services));
      case 'GET /deals':
        return json(200, await listDeals({ ...query, pipeline }, services));
      case 'GET /pipelines/{pipeline}/stages':
        return json(200, await stageGuidance(params.pipeline ?? '', services));
      case 'GET /health': {
        const health = await checkHealth(services);
        return health.status === 'ok' ? json(200, { status: 'ok' }) : json(503, health);
      }
      default:
        throw new NotFoundError(`no route ${event.routeKey}`);
    }
  });
