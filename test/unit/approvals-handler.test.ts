import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ENV } from '../../functions/adapters/environment.ts';
import type { HttpResult } from '../../functions/http/responses.ts';
import { STATE_MACHINE_ARN, useTestSecrets } from '../support/approval-fakes.ts';

const dynamo = mockClient(DynamoDBDocumentClient);
let handler: (event: APIGatewayProxyEventV2, context: Context) => Promise<HttpResult>;

beforeAll(async () => {
  useTestSecrets();
  Object.assign(process.env, {
    [ENV.tableName]: 'stageflow-test',
    [ENV.pipelines]: JSON.stringify({ default: 'v1' }),
    [ENV.stateMachines]: JSON.stringify({ default: STATE_MACHINE_ARN }),
    [ENV.publicBaseUrl]: 'http://127.0.0.1:3000',
    [ENV.mailFrom]: 'stageflow@example.com',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    // The 500 case logs its error on purpose; keep the test output clean.
    POWERTOOLS_LOG_LEVEL: 'SILENT',
  });
  ({ handler } = (await import('../../functions/approvals/handler.ts')) as unknown as { handler: typeof handler });
});

beforeEach(() => {
  dynamo.reset();
  dynamo.on(GetCommand).resolves({});
});

const context = { functionName: 'stageflow-approvals', awsRequestId: 'req-1' } as Context;

function request(method: string, init: { token?: string; body?: string; contentType?: string } = {}) {
  return {
    routeKey: `${method === 'HEAD' ? 'GET' : method} /approvals/{approvalId}`,
    rawPath: '/approvals/apr-1',
    rawQueryString: init.token ? `token=${init.token}` : '',
    headers: init.contentType ? { 'content-type': init.contentType } : {},
    queryStringParameters: init.token ? { token: init.token } : undefined,
    pathParameters: { approvalId: 'apr-1' },
    body: init.body,
    isBase64Encoded: false,
    requestContext: { http: { method, path: '/approvals/apr-1' } },
  } as unknown as APIGatewayProxyEventV2;
}

describe('the approvals handler', () => {
  it.each(['GET', 'HEAD'])('answers %s for an unknown approval with the 404 page', async (method) => {
    const result = await handler(request(method, { token: 'abc' }), context);
    expect(result.statusCode).toBe(404);
    expect(result.headers?.['content-type']).toBe('text/html; charset=utf-8');
    expect(result.body).toContain('This approval link is not valid.');
  });

  it('answers a POST that is not a form with an HTML 415 page', async () => {
    const result = await handler(request('POST', { body: '{}', contentType: 'application/json' }), context);
    expect(result.statusCode).toBe(415);
    expect(result.headers?.['content-type']).toBe('text/html; charset=utf-8');
    expect(result.body).toContain('submit the form on the review page');
  });

  it('answers a failure with an HTML 500 page, without the error or a stack trace', async () => {
    dynamo.on(GetCommand).rejects(new Error('ProvisionedThroughputExceeded at table stageflow-test'));
    const result = await handler(request('GET', { token: 'abc' }), context);
    expect(result.statusCode).toBe(500);
    expect(result.headers?.['content-type']).toBe('text/html; charset=utf-8');
    expect(result.body).toContain('Something went wrong');
    expect(result.body).not.toMatch(/ProvisionedThroughput|stageflow-test|at .*\.ts/);
  });

  it('answers other methods with 405 and the methods it takes', async () => {
    const result = await handler(request('DELETE'), context);
    expect(result.statusCode).toBe(405);
    expect(result.headers?.allow).toBe('GET, HEAD, POST');
  });
});
