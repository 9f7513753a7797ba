import type { KeySchemaElement } from '@aws-sdk/client-dynamodb';
import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import {
  type Attribute,
  AttributeType,
  BillingMode,
  ProjectionType,
  StreamViewType,
  Table,
  TableEncryption,
} from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';
import { TABLE_KEYS } from '../../functions/adapters/deals/keys.ts';
import { tableDefinition } from '../../functions/adapters/table.ts';

/**
 * The stateful part of Stageflow: the one DynamoDB table holding deals, their history, events, approvals and every
 * deployed pipeline version. It lives in its own stack so that the stateless stack can be changed, replaced or
 * deleted freely; this one is retained and deletion-protected.
 */
export class StageflowDataStack extends Stack {
  readonly table: Table;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    // The keys come from the definition the local stack creates its table with, so both declare the same layout.
    const definition = tableDefinition('stageflow');
    const attribute = (schema: KeySchemaElement[] | undefined, type: 'HASH' | 'RANGE'): Attribute => {
      const name = schema?.find((key) => key.KeyType === type)?.AttributeName;
      const declared = definition.AttributeDefinitions?.find((candidate) => candidate.AttributeName === name);
      if (!name || declared?.AttributeType !== 'S') {
        throw new Error(`tableDefinition() must declare a string ${type} key; it declares ${name ?? 'none'}`);
      }
      return { name, type: AttributeType.STRING };
    };
    this.table = new Table(this, 'Table', {
      partitionKey: attribute(definition.KeySchema, 'HASH'),
      sortKey: attribute(definition.KeySchema, 'RANGE'),
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: TABLE_KEYS.ttl,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // The AWS managed key (aws/dynamodb, in this account, its use visible in CloudTrail) rather than a
      // customer-managed one: no one outside this account reads the data, so no key policy has to be written, AWS
      // rotates it, and no function needs KMS grants across the two stacks. Switching to a customer-managed key
      // later is an in-place update, not a replacement.
      encryption: TableEncryption.AWS_MANAGED,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
      // The outbox reads every committed decision from the stream. Adding a stream updates the table in place.
      stream: StreamViewType[definition.StreamSpecification?.StreamViewType ?? 'NEW_AND_OLD_IMAGES'],
    });
    for (const {
      IndexName: indexName = '',
      KeySchema: keys,
      Projection: projection,
    } of definition.GlobalSecondaryIndexes ?? []) {
      const included = projection?.ProjectionType === 'INCLUDE' ? projection.NonKeyAttributes : undefined;
      this.table.addGlobalSecondaryIndex({
        indexName,
        partitionKey: attribute(keys, 'HASH'),
        sortKey: attribute(keys, 'RANGE'),
        ...(included ? { projectionType: ProjectionType.INCLUDE, nonKeyAttributes: included } : {}),
        ...(included ? {} : { projectionType: ProjectionType.ALL }),
      });
    }
  }
}
