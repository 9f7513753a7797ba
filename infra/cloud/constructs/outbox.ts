import { Duration, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { EventSourceMapping, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { StageflowFunction } from './stageflow-function.ts';

/** Properties of the outbox wiring. */
export interface OutboxProps {
  /** The Stageflow table; it must have its stream enabled (NEW_AND_OLD_IMAGES). */
  readonly table: ITable;
  /** The outbox function (functions/outbox/handler.ts). */
  readonly consumer: StageflowFunction;
  /**
   * How often a failing batch is retried before its records go to the failure queue. Lambda retries a stream batch
   * without a pause, so this bounds a tight loop; the record age below bounds the time. @default 50
   */
  readonly retryAttempts?: number;
  /** Records older than this go to the failure queue instead of being retried. @default one day */
  readonly maxRecordAge?: Duration;
}

/**
 * The durable outbox in the cloud: the table's stream feeds the outbox function through an event source mapping that
 * keeps per-deal order (one batch per shard at a time), reports partial failures (`ReportBatchItemFailures`, so a
 * retry starts at the first failed record), splits a failing batch in two (`bisectBatchOnError`) to isolate a poison
 * record, retries a bounded number of times, and then sends the failed records' stream positions to an SQS queue for
 * an operator (alarmed on its depth by StageflowAlarms). The consumer gets the stream read actions on this stream only.
 */
export class Outbox extends Construct {
  readonly failureQueue: Queue;
  readonly mapping: EventSourceMapping;

  constructor(scope: Construct, id: string, props: OutboxProps) {
    super(scope, id);
    const streamArn = props.table.tableStreamArn;
    if (!streamArn) throw new Error('the outbox needs the table stream: enable it on the table (NEW_AND_OLD_IMAGES)');
    this.failureQueue = new Queue(this, 'FailureQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.failureQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is the on-failure destination of the outbox; an operator inspects and re-drives it.',
    });
    this.mapping = new EventSourceMapping(this, 'Mapping', {
      target: props.consumer.function,
      eventSourceArn: streamArn,
      startingPosition: StartingPosition.TRIM_HORIZON,
      batchSize: 25,
      maxBatchingWindow: Duration.seconds(0),
      parallelizationFactor: 1,
      bisectBatchOnError: true,
      reportBatchItemFailures: true,
      retryAttempts: props.retryAttempts ?? 50,
      maxRecordAge: props.maxRecordAge ?? Duration.days(1),
      onFailure: new SqsDlq(this.failureQueue),
    });
    props.consumer.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: [
          'dynamodb:DescribeStream',
          'dynamodb:GetRecords',
          'dynamodb:GetShardIterator',
          'dynamodb:ListStreams',
        ],
        resources: [streamArn],
      }),
    );
  }
}
