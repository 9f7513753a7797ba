import { marshall } from '@aws-sdk/util-dynamodb';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  AwsCustomResource,
  AwsCustomResourcePolicy,
  type AwsSdkCall,
  Logging,
  PhysicalResourceId,
} from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { pipelineKey } from '../../../functions/adapters/deals/keys.ts';
import type { VersionedPipeline } from '../../../functions/core/pipeline-config.ts';

/** Properties of the stored pipeline versions. */
export interface PipelineVersionsProps {
  /** The Stageflow table. */
  readonly table: ITable;
  /** The pipelines being deployed, by id. */
  readonly pipelines: ReadonlyMap<string, VersionedPipeline>;
}

/**
 * Stores each deployed pipeline version in the table, where the functions read the version a deal is pinned to: one
 * pipeline config version item per version (see docs/data-model.md). A new version is a new item; earlier ones are
 * never deleted, because deals in flight are still evaluated under them.
 */
export class PipelineVersions extends Construct {
  /** The role of the function that writes the items. */
  readonly role: Role;

  constructor(scope: Construct, id: string, props: PipelineVersionsProps) {
    super(scope, id);
    // One log group and one role for the one function behind every AwsCustomResource of the stack; an own role
    // rather than CDK's default, which carries the AWSLambdaBasicExecutionRole managed policy (any log group).
    const logGroup = new LogGroup(this, 'Logs', { retention: RetentionDays.ONE_MONTH });
    this.role = new Role(this, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    logGroup.grantWrite(this.role);
    for (const [pipelineId, { config, version }] of props.pipelines) {
      const key = pipelineKey(pipelineId, version);
      const put: AwsSdkCall = {
        service: 'DynamoDB',
        action: 'PutItem',
        parameters: {
          TableName: props.table.tableName,
          Item: marshall({ ...key, config, version }, { removeUndefinedValues: true }),
        },
        // A new version is a new resource; the old one's delete does nothing, so its item stays.
        physicalResourceId: PhysicalResourceId.of(`${key.pk}/${key.sk}`),
        logging: Logging.withDataHidden(),
      };
      new AwsCustomResource(this, `Pipeline-${pipelineId}`, {
        resourceType: 'Custom::StageflowPipelineVersion',
        onUpdate: put,
        installLatestAwsSdk: false,
        logGroup,
        role: this.role,
        policy: AwsCustomResourcePolicy.fromStatements([
          new PolicyStatement({
            actions: ['dynamodb:PutItem'],
            resources: [props.table.tableArn],
            conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [key.pk] } },
          }),
        ]),
      });
    }
  }
}
