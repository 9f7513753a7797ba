import { type CfnElement, Duration, Stack, TimeZone, Validations } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { ContextAttribute, Schedule, ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';

/** Properties of the digest schedule. */
export interface DigestScheduleProps {
  /** The digest function (functions/digest/handler.ts). */
  readonly digest: IFunction;
  /** The hour of day (UTC) the digest goes out. @default 7 */
  readonly hourUtc?: number;
}

/**
 * Runs the stale-deal digest once a day with EventBridge Scheduler (locally: every DIGEST_INTERVAL_SECONDS). A failed
 * run is retried (up to 4 times within 2 hours, with Scheduler's backoff); each run carries its scheduled time, and the
 * digest marks each email of a run as sent, so a retry sends only what the failed attempt did not.
 */
export class DigestSchedule extends Construct {
  readonly schedule: Schedule;
  readonly role: Role;

  constructor(scope: Construct, id: string, props: DigestScheduleProps) {
    super(scope, id);
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com'),
      description: 'Lets the daily schedule invoke the digest function',
    });
    const functionId = Stack.of(this).getLogicalId(props.digest.node.defaultChild as CfnElement);
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${functionId}.Arn>:*]`,
      reason:
        'The scheduler target grants lambda:InvokeFunction on the digest function and its versions (CDK grantInvoke); ' +
        'no other function.',
    });
    this.schedule = new Schedule(this, 'Daily', {
      description: 'Stageflow: the daily stale-deal digest to owners and the pipeline summary',
      schedule: ScheduleExpression.cron({ minute: '0', hour: String(props.hourUtc ?? 7), timeZone: TimeZone.ETC_UTC }),
      target: new LambdaInvoke(props.digest, {
        role: this.role,
        input: ScheduleTargetInput.fromObject({ scheduledTime: ContextAttribute.scheduledTime }),
        retryAttempts: 4,
        maxEventAge: Duration.hours(2),
      }),
    });
  }
}
