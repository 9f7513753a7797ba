import { createHash } from 'node:crypto';
import { ArnFormat, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  CfnStateMachineAlias,
  CfnStateMachineVersion,
  DefinitionBody,
  LogLevel,
  StateMachine,
  StateMachineType,
} from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { PipelineConfig } from '../../../functions/core/pipeline-config.ts';
import { buildStateMachineDefinition, stateMachineName } from '../../../workflows/definition.ts';

/** Properties of a pipeline's deal workflow. */
export interface DealWorkflowProps {
  /** The stage config of the pipeline, at the version being deployed: the state machine mirrors its stages. */
  readonly config: PipelineConfig;
  /** The function every task of the state machine invokes; the state machine may invoke nothing else. */
  readonly workflowFunction: IFunction;
  /** How long execution logs are kept. @default one month */
  readonly logRetention?: RetentionDays;
}

/** The alias that new executions start through; functions only ever see its ARN. */
export const LIVE_ALIAS = 'live';

/** The definition's placeholder for the workflow function ARN, filled in by CloudFormation. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: a DefinitionSubstitutions placeholder, not a JS template
export const WORKFLOW_FUNCTION_ARN = '${WorkflowFunctionArn}';

/**
 * The ARNs of a pipeline's state machine and of its `live` alias. The state machine has a fixed name, so these are
 * known before it exists: the workflow function, which the state machine invokes, can be given them (and be allowed
 * to start executions) without a dependency cycle between the function, its policy and the state machine.
 */
export function workflowArns(scope: Construct, pipeline: string): { stateMachine: string; alias: string } {
  const arn = (resourceName: string) =>
    Stack.of(scope).formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
  const name = stateMachineName(pipeline);
  return { stateMachine: arn(name), alias: arn(`${name}:${LIVE_ALIAS}`) };
}

/**
 * One pipeline's deal workflow: a Standard state machine generated from the stage config by
 * `buildStateMachineDefinition` (the definition the local engine runs), logged and traced, published as a version
 * behind the alias `live`.
 *
 * A deploy that changes the definition changes the state machine's revision, which replaces the version resource:
 * CloudFormation publishes a new version and points `live` at it. The previous version is kept
 * (UpdateReplacePolicy Retain), so executions already running finish on the version they started on
 * and the alias can be pointed back at it.
 */
export class DealWorkflow extends Construct {
  readonly stateMachine: StateMachine;
  readonly version: CfnStateMachineVersion;
  readonly alias: CfnStateMachineAlias;
  /** The first 16 hex digits of the SHA-256 of the definition: named in the version's description. */
  readonly definitionHash: string;

  constructor(scope: Construct, id: string, props: DealWorkflowProps) {
    super(scope, id);
    const { config } = props;
    const definition = JSON.stringify(buildStateMachineDefinition(config, WORKFLOW_FUNCTION_ARN));
    this.definitionHash = createHash('sha256').update(definition).digest('hex').slice(0, 16);

    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineName: stateMachineName(config.pipeline),
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromString(definition),
      definitionSubstitutions: { WorkflowFunctionArn: props.workflowFunction.functionArn },
      logs: {
        destination: new LogGroup(this, 'Logs', { retention: props.logRetention ?? RetentionDays.ONE_MONTH }),
        level: LogLevel.ALL,
        // Execution data holds deal fields and task tokens: the history is enough to follow an execution.
        includeExecutionData: false,
      },
      tracingEnabled: true,
    });
    // Only the unqualified function: not its versions, not any other function.
    this.stateMachine.addToRolePolicy(
      new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [props.workflowFunction.functionArn] }),
    );
    Validations.of(this.stateMachine.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'CloudWatch Logs log delivery (logs:CreateLogDelivery and related) and X-Ray tracing support no ' +
        'resource-level permissions; AWS requires * for state machine logging and tracing.',
    });

    this.version = new CfnStateMachineVersion(this, 'Version', {
      stateMachineArn: this.stateMachine.stateMachineArn,
      stateMachineRevisionId: this.stateMachine.stateMachineRevisionId,
      // Only what determines the revision: publishing an unchanged revision again with another description fails.
      description: `definition ${this.definitionHash}`,
    });
    this.version.applyRemovalPolicy(RemovalPolicy.RETAIN);

    this.alias = new CfnStateMachineAlias(this, 'Alias', {
      name: LIVE_ALIAS,
      description: `New deals of pipeline '${config.pipeline}' start on this version`,
      routingConfiguration: [{ stateMachineVersionArn: this.version.attrArn, weight: 100 }],
    });
  }
}
