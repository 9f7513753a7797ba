import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { dynamoDbCounters } from '../adapters/aws-clients.ts';
import { CRM_SETTINGS, ENV, requireEnv } from '../adapters/environment.ts';
import { InsightsStore } from '../adapters/insights-store.ts';
import { NotFoundError } from '../core/errors.ts';
import { boardErrors } from '../http/html-errors.ts';
import type { HttpResult } from '../http/responses.ts';
import { logger, metrics } from '../powertools.ts';
import { exportBoard, showBoard, showDeal, showInsights } from '../usecases/board.ts';
import { servicesFromEnvironment } from '../usecases/services.ts';
import { boardLogin, loginSettingsFromEnvironment } from './login.ts';

const services = {
  ...servicesFromEnvironment({ logger, metrics }),
  insights: new InsightsStore(dynamoDbCounters(), requireEnv(ENV.tableName)),
  crmWebBases: { pipedrive: process.env[CRM_SETTINGS.pipedrive.baseUrl] },
};

/** The board's pages: the pipeline board (and its CSV), one deal, and the insights; behind a login in the cloud. */
export const handler = middy<APIGatewayProxyEventV2, HttpResult>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .use(boardErrors(logger))
  .use(boardLogin(loginSettingsFromEnvironment()))
  .handler((event) => {
    const query = event.queryStringParameters ?? {};
    switch (event.routeKey) {
      case 'GET /':
        return { statusCode: 302, headers: { location: '/board' }, body: '' };
      case 'GET /board':
        return showBoard(query, services);
      case 'GET /board/export.csv':
        return exportBoard(query, services);
      case 'GET /board/deals/{dealId}':
        return showDeal(event.pathParameters?.dealId ?? '', query, services);
      case 'GET /board/insights':
        return showInsights(query, services);
      default:
        throw new NotFoundError(`There is no page ${event.rawPath}.`);
    }
  });
