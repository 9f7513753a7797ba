import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { ENV, optionalEnv } from '../adapters/environment.ts';
import { logger, metrics } from '../powertools.ts';
import { effectServicesFromEnvironment } from '../usecases/effect-services.ts';
import { DEFAULT_OUTBOX_CONCURRENCY, outboxRecordHandler } from '../usecases/outbox-records.ts';

const services = effectServicesFromEnvironment({ logger, metrics });
const concurrency = Number(optionalEnv(ENV.outboxConcurrency) ?? DEFAULT_OUTBOX_CONCURRENCY);
const processor = new BatchProcessor(EventType.DynamoDBStreams);

/**
 * The table's stream: every committed decision's side effects (workflow, emails, the CRM write-back handed to its
 * queue), with partial failures. Every record is handed over at once; the record handler keeps each deal's changes in
 * order and bounds how many deals run at a time.
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
