import { type CfnElement, CustomResource, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, type IAlarmAction, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Provider } from 'aws-cdk-lib/custom-resources';
import { Construct, type IDependable } from 'constructs';
import { TABLE_KEYS } from '../../../functions/adapters/deals/keys.ts';
import type { VersionedPipeline } from '../../../functions/core/pipeline-config.ts';
import type { StageflowFunction } from './stageflow-function.ts';

/** Properties of the config rollout. */
export interface ConfigRolloutProps {
  /** The function that moves the open deals (`functions/rollout/handler.ts`), granted the table and mail. */
  readonly rolloutFunction: StageflowFunction;
  /** The pipelines being deployed, by id. */
  readonly pipelines: ReadonlyMap<string, VersionedPipeline>;
  /** What stores the versions: the rollout runs after it. */
  readonly storedVersions: IDependable;
  /** Where the failure alarm notifies. @default no action */
  readonly alarmAction?: IAlarmAction;
}

/**
 * Makes each deployed pipeline version live: one custom resource per pipeline whose property is
 * the version, so it runs once per new version, after the version is stored. Its function walks the open deals
 * through the `byStage` index and moves them; a refusal (open deals in a removed stage without `retiredStages`) or
 * any error fails the deployment, which rolls back. The `RolloutFailed` metric raises an alarm.
 */
export class ConfigRollout extends Construct {
  readonly provider: Provider;
  readonly failedAlarm: Alarm;

  constructor(scope: Construct, id: string, props: ConfigRolloutProps) {
    super(scope, id);
    // The framework function of the Provider gets an own role (no AWSLambdaBasicExecutionRole) and log group.
    const frameworkLogs = new LogGroup(this, 'FrameworkLogs', { retention: RetentionDays.ONE_MONTH });
    const frameworkRole = new Role(this, 'FrameworkRole', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    frameworkLogs.grantWrite(frameworkRole);
    this.provider = new Provider(this, 'Provider', {
      onEventHandler: props.rolloutFunction.function,
      frameworkOnEventRole: frameworkRole,
      logGroup: frameworkLogs,
    });
    const functionId = Stack.of(this).getLogicalId(props.rolloutFunction.function.node.defaultChild as CfnElement);
    Validations.of(frameworkRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${functionId}.Arn>:*]`,
      reason: 'The Provider framework invokes the rollout function by any version qualifier; it is the one function.',
    });
    for (const [pipeline, { version }] of props.pipelines) {
      const resource = new CustomResource(this, `Rollout-${pipeline}`, {
        serviceToken: this.provider.serviceToken,
        resourceType: 'Custom::StageflowConfigRollout',
        // Naming the indexes makes the deploy that adds one run the rollout again, which lists stored deals in it.
        properties: { Pipeline: pipeline, Version: version, Indexes: [TABLE_KEYS.stageIndex, TABLE_KEYS.ownerIndex] },
      });
      resource.node.addDependency(props.storedVersions);
    }
    const failures = new Metric({
      namespace: 'Stageflow',
      metricName: 'RolloutFailed',
      dimensionsMap: { service: 'stageflow-rollout' },
      statistic: 'Sum',
      period: Duration.minutes(5),
    });
    this.failedAlarm = new Alarm(this, 'Failed', {
      alarmDescription: 'Stageflow config rollout failed: the deployment rolled back; its log names the reason',
      metric: failures,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmAction) this.failedAlarm.addAlarmAction(props.alarmAction);
  }
}
