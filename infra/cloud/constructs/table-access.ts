import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { TABLE_KEYS } from '../../../functions/adapters/deals/keys.ts';

/** Item reads. No Scan: every read goes by key or through the stage index. */
const READ_ACTIONS = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'];
/** Item writes, alone or inside TransactWriteItems (which is authorized per contained operation). */
const WRITE_ACTIONS = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:BatchWriteItem',
];

/**
 * Lets `grantee` use the Stageflow table: items by key, and queries of the `byStage` index by name. Unlike
 * `Table.grantReadWriteData`, this names the one index (no `index/*`) and leaves out Scan, DescribeTable and the stream actions.
 */
export function grantTableAccess(table: ITable, grantee: IGrantable, access: 'read' | 'readWrite'): void {
  const actions = access === 'read' ? READ_ACTIONS : [...READ_ACTIONS, ...WRITE_ACTIONS];
  grantee.grantPrincipal.addToPrincipalPolicy(new PolicyStatement({ actions, resources: [table.tableArn] }));
  grantee.grantPrincipal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['dynamodb:Query'],
      resources: [`${table.tableArn}/index/${TABLE_KEYS.stageIndex}`],
    }),
  );
}
