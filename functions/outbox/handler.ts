import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { type CrmClientsOptions, crmClientsFromEnvironment } from '../adapters/crm/index.ts';
import { ENV, optionalEnv } from '../adapters/environment.ts';
import { Telemetry } from '../adapters/telemetry.ts';
import { logger, metrics } from '../powertools.ts';
import { effectServicesFromEnvironment } from '../usecases/effect-services.ts';
import { DEFAULT_OUTBOX_CONCURRENCY, outboxRecordHandler } from '../usecases/outbox-records.ts';

const telemetry = new Telemetry(logger, metrics);
const crmOptions: CrmClientsOptions = {
  onRetry: (notice) => telemetry.crmRetried(notice.source, notice.status, notice.attempt),
  onIncomplete: (source, problem) => logger.warn('CRM write-back not configured completely', { source, problem }),
};
const services = effectServicesFromEnvironment({ logger, metrics }, () => crmClientsFromEnvironment(crmOptions));
const concurrency = Number(optionalEnv(ENV.outboxConcurrency) ?? DEFAULT_OUTBOX_CONCURRENCY);
const processor = new BatchProcessor(EventType.DynamoDBStreams);

/**
 * The table's stream: every committed decision's side effects (workflow, emails, CRM write-back), with partial
 * failures. Every record is handed over at once; the record handler keeps each deal's changes in order and bounds how
 * many deals run at a time.
 */
export const handler = middy<DynamoDBStreamEvent, DynamoDBBatchResponse>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .handler((event, context) =>
    processPartialResponse(event, outboxRecordHandler(services, concurrency), processor, {
      context,
      processInParallel: true,
    }),
  );
