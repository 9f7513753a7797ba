import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { logger, metrics } from '../powertools.ts';
import { effectServicesFromEnvironment } from '../usecases/effect-services.ts';
import { outboxRecordHandler } from '../usecases/outbox-records.ts';

const services = effectServicesFromEnvironment({ logger, metrics });
// In order (processInParallel: false): a deal's changes take effect in the order they were committed.
const processor = new BatchProcessor(EventType.DynamoDBStreams);

/**
 * The table's stream: every committed decision's side effects (workflow, emails, the CRM write-back handed to its
 * queue), with partial failures.
 */
export const handler = middy<DynamoDBStreamEvent, DynamoDBBatchResponse>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .handler((event, context) =>
    processPartialResponse(event, outboxRecordHandler(services), processor, { context, processInParallel: false }),
  );
