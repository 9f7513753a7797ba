import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { approvalErrors } from '../http/html-errors.ts';
import type { HttpResult } from '../http/responses.ts';
import { logger, metrics } from '../powertools.ts';
import { decideApproval, readApprovalForm, showApproval } from '../usecases/review-approval.ts';
import { servicesFromEnvironment } from '../usecases/services.ts';
import { problemPage } from '../views/approval-pages.ts';
import { htmlResponse } from '../views/page.ts';

const services = servicesFromEnvironment({ logger, metrics });

/** `GET`/`HEAD`/`POST /approvals/{approvalId}`: the approval review page and the decision form. */
export const handler = middy<APIGatewayProxyEventV2, HttpResult>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .use(approvalErrors(logger))
  .handler((event) => {
    const approvalId = event.pathParameters?.approvalId ?? '';
    switch (event.requestContext.http.method) {
      case 'GET':
      case 'HEAD':
        return showApproval(approvalId, event.queryStringParameters?.token, services);
      case 'POST':
        return decideApproval(approvalId, readApprovalForm(event), services);
      default: {
        const page = problemPage('Method not allowed', 'Open the link from your email, then use the page’s buttons.');
        return htmlResponse(405, page, { allow: 'GET, HEAD, POST' });
      }
    }
  });
