import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { EventSourceMapping, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { failureQueue } from './failure-queue.ts';
import type { StageflowFunction } from './stageflow-function.ts';

/** Properties of the outbox wiring. */
export interface OutboxProps {
  /** The Stageflow table; it must have its stream enabled (NEW_AND_OLD_IMAGES). */
  readonly table: ITable;
  /** The outbox function (functions/outbox/handler.ts). */
  readonly consumer: StageflowFunction;
  /**
   * How often a failing batch is retried before its records go to the failure queue. Only failures retrying can fix
   * fail a record (the outbox gives up the others itself), so the bound is the record age below, not this count: a
   * mail or Step Functions outage holds effects back for up to a day, never drops them sooner. @default 10,000
   */
  readonly retryAttempts?: number;
  /** Records older than this go to the failure queue instead of being retried (the stream keeps a day). @default one day */
  readonly maxRecordAge?: Duration;
  /**
   * Concurrent batches per stream shard. Lambda keeps each partition key's (each deal's) records in order across
   * them, so a slow deal holds back only the deals whose keys share its batches. @default 10 (the most Lambda allows)
   */
  readonly parallelizationFactor?: number;
  /** The outbox function's Powertools service name, the dimension of its metrics. @default stageflow-outbox */
  readonly serviceName?: string;
  /** Records per batch: the outbox runs a batch's deals concurrently (16 at once). @default 100 */
  readonly batchSize?: number;
}

/**
 * The durable outbox in the cloud: the table's stream feeds the outbox function through an event source mapping that
 * keeps per-deal order (per partition key, across the parallel batches of a shard), reports partial failures
 * (`ReportBatchItemFailures`, so a retry starts at the first failed record), splits a batch whose invocation fails as a
 * whole in two (`bisectBatchOnError`), retries for up to a day, and then sends the failed records' stream positions to
 * an SQS queue for an operator (alarmed on its depth by StageflowAlarms). Effects that retrying cannot fix never
 * reach it: the outbox gives them up itself (dead-letter item in the table, deal history, `OutboxEffectFailed`, alarmed
 * here), the same way the local stack does. A stream falling behind (`IteratorAge` over 15 minutes) alarms too. The
 * consumer gets the stream read actions on this stream only.
 */
export class Outbox extends Construct {
  readonly failureQueue: Queue;
  readonly mapping: EventSourceMapping;
  /** Any side effect given up (metric `OutboxEffectFailed`); an operator reads the dead-letter items. */
  readonly effectFailedAlarm: Alarm;
  /** The outbox is more than 15 minutes behind the table (the stream's `IteratorAge`). */
  readonly fallingBehindAlarm: Alarm;

  constructor(scope: Construct, id: string, props: OutboxProps) {
    super(scope, id);
    const streamArn = props.table.tableStreamArn;
    if (!streamArn) throw new Error('the outbox needs the table stream: enable it on the table (NEW_AND_OLD_IMAGES)');
    this.failureQueue = failureQueue(
      this,
      'FailureQueue',
      'This queue is the on-failure destination of the outbox; an operator inspects and re-drives it.',
    );
    this.mapping = new EventSourceMapping(this, 'Mapping', {
      target: props.consumer.function,
      eventSourceArn: streamArn,
      startingPosition: StartingPosition.TRIM_HORIZON,
      batchSize: props.batchSize ?? 100,
      // No batching window: a decision's email should not wait for others to fill a batch.
      maxBatchingWindow: Duration.seconds(0),
      parallelizationFactor: props.parallelizationFactor ?? 10,
      bisectBatchOnError: true,
      reportBatchItemFailures: true,
      retryAttempts: props.retryAttempts ?? 10_000,
      maxRecordAge: props.maxRecordAge ?? Duration.days(1),
      onFailure: new SqsDlq(this.failureQueue),
    });
    const alarm = (id: string, description: string, metric: Metric, threshold: number) =>
      new Alarm(this, id, {
        alarmDescription: description,
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
    this.effectFailedAlarm = alarm(
      'EffectFailed',
      'Stageflow outbox gave up a side effect: read the OUTBOX#FAILED items (deal, effect, reason); see docs/failure-model.md',
      new Metric({
        namespace: 'Stageflow',
        metricName: 'OutboxEffectFailed',
        dimensionsMap: { service: props.serviceName ?? 'stageflow-outbox' },
        statistic: 'Sum',
        period: Duration.minutes(5),
      }),
      1,
    );
    this.fallingBehindAlarm = alarm(
      'FallingBehind',
      'Stageflow outbox is more than 15 minutes behind the table: effects are retried or throttled',
      props.consumer.function.metric('IteratorAge', { statistic: 'Maximum', period: Duration.minutes(5) }),
      15 * 60 * 1000,
    );
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
