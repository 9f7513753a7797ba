import { type CfnElement, Duration, Stack, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { EventSourceMapping, FilterCriteria, FilterRule, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { Schedule, ScheduleExpression } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';
import { WRITE_BACK_PARTITION_PREFIX, WRITE_BACK_PREFIX } from '../../../functions/adapters/deals/keys.ts';
import type { StageflowFunction } from './stageflow-function.ts';

/** Properties of the write-back runs' triggers. */
export interface WriteBackRunsProps {
  /** The Stageflow table; its stream must be enabled. */
  readonly table: ITable;
  /** The write-back function (functions/write-back/handler.ts). */
  readonly runner: StageflowFunction;
}

/**
 * What sets the CRM write-back runs going: each new write-back the outbox enqueues (the table's stream, filtered to
 * the inserts of write-back items, so the run starts within a second), and a schedule every minute that sweeps the
 * retries that came due. A run that fails is not retried by either trigger: the item stays due in the table and the
 * next sweep takes it. The runner gets the stream read actions on this stream only.
 */
export class WriteBackRuns extends Construct {
  readonly schedule: Schedule;
  readonly mapping: EventSourceMapping;
  readonly role: Role;

  constructor(scope: Construct, id: string, props: WriteBackRunsProps) {
    super(scope, id);
    const streamArn = props.table.tableStreamArn;
    if (!streamArn) throw new Error('the write-back runs need the table stream: enable it on the table');
    this.mapping = new EventSourceMapping(this, 'NewWriteBacks', {
      target: props.runner.function,
      eventSourceArn: streamArn,
      startingPosition: StartingPosition.LATEST,
      batchSize: 100,
      maxBatchingWindow: Duration.seconds(1),
      retryAttempts: 0,
      filters: [
        FilterCriteria.filter({
          eventName: FilterRule.isEqual('INSERT'),
          dynamodb: {
            Keys: {
              pk: { S: FilterRule.beginsWith(WRITE_BACK_PARTITION_PREFIX) },
              sk: { S: FilterRule.beginsWith(WRITE_BACK_PREFIX) },
            },
          },
        }),
      ],
    });
    props.runner.role.addToPrincipalPolicy(
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

    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com'),
      description: 'Lets the minute schedule invoke the CRM write-back function',
    });
    const functionId = Stack.of(this).getLogicalId(props.runner.function.node.defaultChild as CfnElement);
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${functionId}.Arn>:*]`,
      reason:
        'The scheduler target grants lambda:InvokeFunction on the write-back function and its versions (CDK ' +
        'grantInvoke); no other function.',
    });
    this.schedule = new Schedule(this, 'EveryMinute', {
      description: 'Stageflow: sweep the CRM write-backs that came due (retries, waits the CRM asked for)',
      schedule: ScheduleExpression.rate(Duration.minutes(1)),
      // A failed sweep leaves its items due: the next minute's sweep takes them.
      target: new LambdaInvoke(props.runner.function, { retryAttempts: 0, role: this.role }),
    });
  }
}
