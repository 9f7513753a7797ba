import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { effectServicesFromEnvironment } from '../usecases/effect-services.ts';
import { outboxRecordHandler } from '../usecases/outbox-records.ts';

const logger = new Logger({ serviceName: 'stageflow-outbox' });
const metrics = new Metrics({ namespace: 'Stageflow', serviceName: 'stageflow-outbox' });
const services = effectServicesFromEnvironment({ logger, metrics });
// In order (processInParallel: false): a deal's changes take effect in the order they were committed.
const processor = new BatchProcessor(EventType.DynamoDBStreams);

/** The table's stream: every committed decision's side effects (workflow, emails, CRM write-back), with partial failures. */
export const handler = middy<DynamoDBStreamEvent, DynamoDBBatchResponse>()
  .use(injectLambdaContext(logger))
  .handler((event, context) =>
    processPartialResponse(event, outboxRecordHandler(services), processor, { context, processInParallel: false }),
  );
