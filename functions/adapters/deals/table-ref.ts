import {
  type DynamoDBDocumentClient,
  paginateQuery,
  type QueryCommandInput,
  type TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';

/** The deals' table, as every item kind's reads and writes reach it. */
export interface TableRef {
  db: DynamoDBDocumentClient;
  tableName: string;
}

/** True when a write's condition failed (the item exists, or its version moved on). */
export function isConditionFailure(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}

/** Every item a query matches, read page after page. */
export async function queryAll(
  table: TableRef,
  input: Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey'>,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  for await (const page of paginateQuery({ client: table.db }, { ...input, TableName: table.tableName })) {
    items.push(...(page.Items ?? []));
  }
  return items;
}

/** One part of a DynamoDB transaction, as lib-dynamodb's TransactWriteCommand takes it. */
export type TransactPart = NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>[number];
