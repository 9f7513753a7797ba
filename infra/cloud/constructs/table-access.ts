import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { TABLE_KEYS } from '../../../functions/adapters/deals/keys.ts';

/** Item reads. No Scan: every read goes by key or through an index (the one-off backfill aside). */
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
 * Lets `grantee` use the Stageflow table: items by key, and queries of the `byStage` and `byOwner` indexes by name.
 * Unlike `Table.grantReadWriteData`, this names the indexes (no `index/*`) and leaves out Scan, DescribeTable and the
 * stream actions.
 */
export function grantTableAccess(table: ITable, grantee: IGrantable, access: 'read' | 'readWrite'): void {
  const actions = access === 'read' ? READ_ACTIONS : [...READ_ACTIONS, ...WRITE_ACTIONS];
  grantee.grantPrincipal.addToPrincipalPolicy(new PolicyStatement({ actions, resources: [table.tableArn] }));
  grantee.grantPrincipal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['dynamodb:Query'],
      resources: [TABLE_KEYS.stageIndex, TABLE_KEYS.ownerIndex].map((index) => `${table.tableArn}/index/${index}`),
    }),
  );
}

/**
 * Lets `grantee` scan the table: only the deploy's one-off pass that lists the deals stored before the owner index
 * existed in it (docs/data-model.md), never a request's read.
 */
export function grantIndexBackfill(table: ITable, grantee: IGrantable): void {
  grantee.grantPrincipal.addToPrincipalPolicy(
    new PolicyStatement({ actions: ['dynamodb:Scan'], resources: [table.tableArn] }),
  );
}
