import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, type IAlarmAction, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { UNMAPPED_CRM_STAGE_METRIC } from '../../../functions/adapters/telemetry.ts';

/** Properties of the alarms. */
export interface StageflowAlarmsProps {
  /** The functions, by a short name used in alarm names (e.g. `webhook`). */
  readonly functions: Record<string, IFunction>;
  /** The deal workflows, by pipeline id. */
  readonly stateMachines: Record<string, IStateMachine>;
  /** The dead-letter queue of failed executions. */
  readonly deadLetterQueue: IQueue;
  /** The outbox's on-failure queue: stream records whose side effects failed every retry. */
  readonly outboxFailureQueue?: IQueue;
  /** The mail log's failure queue: SES send events that could not be recorded. */
  readonly mailEventsFailureQueue?: IQueue;
  /** The Powertools service name of the webhook function, whose metrics the CRM stage-map alarm watches. */
  readonly webhookService?: string;
  /** Where every alarm notifies, e.g. an SNS topic. @default no action (visible in the console only) */
  readonly action?: IAlarmAction;
}

/**
 * What an operator must hear about: any failed or timed-out execution, any function error or throttle, and any
 * message in the dead-letter queue or the outbox's failure queue, and any CRM stage value a pipeline's stage map lacks
 * (an admin added a CRM stage and not its mapping: such moves are refused and written back to nobody). Each alarm fires on a single occurrence in five minutes: in a sales pipeline
 * every failure is a deal that stopped moving.
 */
export class StageflowAlarms extends Construct {
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: StageflowAlarmsProps) {
    super(scope, id);
    const period = Duration.minutes(5);
    for (const [pipeline, stateMachine] of Object.entries(props.stateMachines)) {
      this.add(`${pipeline}-ExecutionsFailed`, stateMachine.metricFailed({ period }), props.action);
      this.add(`${pipeline}-ExecutionsTimedOut`, stateMachine.metricTimedOut({ period }), props.action);
    }
    for (const [name, fn] of Object.entries(props.functions)) {
      this.add(`${name}-Errors`, fn.metricErrors({ period }), props.action);
      this.add(`${name}-Throttles`, fn.metricThrottles({ period }), props.action);
    }
    this.add(
      'DeadLetterQueue-Depth',
      props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }),
      props.action,
    );
    if (props.webhookService) {
      const unmapped = new Metric({
        namespace: 'Stageflow',
        metricName: UNMAPPED_CRM_STAGE_METRIC,
        dimensionsMap: { service: props.webhookService },
        statistic: 'Sum',
        period,
      });
      this.add('UnmappedCrmStage', unmapped, props.action);
    }
    if (props.outboxFailureQueue) {
      this.add(
        'OutboxFailureQueue-Depth',
        props.outboxFailureQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }),
        props.action,
      );
    }
    if (props.mailEventsFailureQueue) {
      this.add(
        'MailEventsFailureQueue-Depth',
        props.mailEventsFailureQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }),
        props.action,
      );
    }
  }

  private add(id: string, metric: Metric, action: IAlarmAction | undefined): void {
    const alarm = new Alarm(this, id, {
      alarmDescription: `Stageflow ${id}: at least one in five minutes`,
      metric,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    if (action) alarm.addAlarmAction(action);
    this.alarms.push(alarm);
  }
}
