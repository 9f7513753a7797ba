import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Telemetry } from '../../functions/adapters/telemetry.ts';
import type { HttpResult } from '../../functions/http/responses.ts';
import type { Services } from '../../functions/usecases/services.ts';
import { approvalServices, InMemoryDeals, useTestSecrets } from '../support/approval-fakes.ts';

/**
 * The approvals function flushes what it records: a decision's `ApprovalsDecided` and `ApprovalLatency` reach the
 * function's output as one embedded-metric-format line (CloudWatch reads metrics from there), through `logMetrics`.
 * The handler runs whole — middy chain, use case, telemetry — on the in-memory deals of the approval tests.
 */

const NOW = new Date('2026-11-27T11:00:00.000Z');
const fake = vi.hoisted(() => ({ token: '' }));

/** The handler's services: the in-memory deals, observed by the handler's own logger and metrics. */
vi.mock('../../functions/usecases/services.ts', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../functions/usecases/services.ts')>();
  return {
    ...original,
    servicesFromEnvironment: (observability: Parameters<typeof original.servicesFromEnvironment>[0]): Services => {
      const deals = new InMemoryDeals();
      fake.token = deals.issueToken('apr-finance');
      const telemetry = new Telemetry(observability.logger, observability.metrics);
      return { ...approvalServices(deals, () => NOW), telemetry };
    },
  };
});

let handler: (event: APIGatewayProxyEventV2, context: Context) => Promise<HttpResult>;

beforeAll(async () => {
  useTestSecrets();
  delete process.env.POWERTOOLS_METRICS_DISABLED;
  delete process.env.POWERTOOLS_DEV;
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  ({ handler } = (await import('../../functions/approvals/handler.ts')) as unknown as { handler: typeof handler });
});

afterEach(() => {
  vi.restoreAllMocks();
});

function decisionForm(token: string): APIGatewayProxyEventV2 {
  return {
    routeKey: 'POST /approvals/{approvalId}',
    rawPath: '/approvals/apr-finance',
    rawQueryString: '',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    pathParameters: { approvalId: 'apr-finance' },
    body: new URLSearchParams({ token, decision: 'approve' }).toString(),
    isBase64Encoded: false,
    requestContext: { http: { method: 'POST', path: '/approvals/apr-finance' } },
  } as unknown as APIGatewayProxyEventV2;
}

describe('the approvals function', () => {
  it('flushes the metrics of a decision when the invocation ends', async () => {
    const written: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    const context = { functionName: 'stageflow-approvals', awsRequestId: 'req-1' } as Context;

    const result = await handler(decisionForm(fake.token), context);

    expect(result.statusCode).toBe(200);
    const emf = written.flatMap((line) => (line.includes('"_aws"') ? [JSON.parse(line)] : []));
    expect(emf).toHaveLength(1);
    expect(emf[0]._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'Stageflow',
      Metrics: expect.arrayContaining([{ Name: 'ApprovalsDecided', Unit: 'Count' }]),
    });
    expect(emf[0]).toMatchObject({ ApprovalsDecided: 1, ApprovalLatency: 3600 });
  });
});
