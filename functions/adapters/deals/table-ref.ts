import {
  BatchGetCommand,
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

/** The most keys one BatchGetItem takes. */
const BATCH_GET_KEYS = 100;

/** The items of `keys` that exist, read by key in batches of 100 in parallel (unprocessed keys asked again). */
export async function getAll(
  table: TableRef,
  keys: Record<string, unknown>[],
  projection: { ProjectionExpression: string; ExpressionAttributeNames: Record<string, string> },
): Promise<Record<string, unknown>[]> {
  const batches = Array.from({ length: Math.ceil(keys.length / BATCH_GET_KEYS) }, (_, i) =>
    keys.slice(i * BATCH_GET_KEYS, (i + 1) * BATCH_GET_KEYS),
  );
  const read = await Promise.all(
    batches.map(async (batch) => {
      const items: Record<string, unknown>[] = [];
      let wanted: Record<string, unknown>[] = batch;
      while (wanted.length > 0) {
        const { Responses, UnprocessedKeys } = await table.db.send(
          new BatchGetCommand({ RequestItems: { [table.tableName]: { Keys: wanted, ...projection } } }),
        );
        items.push(...(Responses?.[table.tableName] ?? []));
        wanted = UnprocessedKeys?.[table.tableName]?.Keys ?? [];
      }
      return items;
    }),
  );
  return read.flat();
}

/** One part of a DynamoDB transaction, as lib-dynamodb's TransactWriteCommand takes it. */
export type TransactPart = NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>[number];
