import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { TABLE_KEYS } from './deals/keys.ts';

/**
 * The table's key schema, as DynamoDB's CreateTable takes it. The local stack creates the table from this; the CDK
 * stack declares the same keys (a test compares the two).
 */
export function tableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: TABLE_KEYS.partition, AttributeType: 'S' },
      { AttributeName: TABLE_KEYS.sort, AttributeType: 'S' },
      { AttributeName: 'gsi1pk', AttributeType: 'S' },
      { AttributeName: 'gsi1sk', AttributeType: 'S' },
      { AttributeName: 'gsi2pk', AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: TABLE_KEYS.partition, KeyType: 'HASH' },
      { AttributeName: TABLE_KEYS.sort, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: TABLE_KEYS.stageIndex,
        KeySchema: [
          { AttributeName: 'gsi1pk', KeyType: 'HASH' },
          { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
      {
        IndexName: TABLE_KEYS.ownerIndex,
        KeySchema: [
          { AttributeName: 'gsi2pk', KeyType: 'HASH' },
          { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
        ],
        // What changes only with the stage or the owner: a deal's other writes leave the index alone.
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['gsi1pk', 'ownerKeys'] },
      },
    ],
    StreamSpecification: { StreamEnabled: true, StreamViewType: TABLE_STREAM_VIEW },
  };
}

/** The outbox derives every side effect from the old and the new image of a deal item. */
export const TABLE_STREAM_VIEW = 'NEW_AND_OLD_IMAGES';

/**
 * Creates the table unless it exists (a restarted local stack keeps its data), and brings a table created by an
 * earlier release up to the definition: its missing indexes are added (DynamoDB fills them from the items that carry
 * their keys) and its stream is turned on, through UpdateTable. Returns the stream's ARN.
 */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<string> {
  await createTable(client, tableName);
  await addMissingIndexes(client, tableName);
  const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
  const stream = Table?.StreamSpecification;
  if (stream?.StreamEnabled && stream.StreamViewType === TABLE_STREAM_VIEW && Table?.LatestStreamArn) {
    return Table.LatestStreamArn;
  }
  const { TableDescription } = await client.send(
    new UpdateTableCommand({
      TableName: tableName,
      StreamSpecification: { StreamEnabled: true, StreamViewType: TABLE_STREAM_VIEW },
    }),
  );
  if (!TableDescription?.LatestStreamArn) throw new Error(`table ${tableName} has no stream after enabling it`);
  return TableDescription.LatestStreamArn;
}

/** How long an index added to an existing table may take to become active (DynamoDB Local: moments). */
const INDEX_ACTIVE_TIMEOUT_MS = 120_000;

/** Adds each index of {@link tableDefinition} the table lacks, one at a time (one per UpdateTable), and waits for it. */
async function addMissingIndexes(client: DynamoDBClient, tableName: string): Promise<void> {
  const wanted = tableDefinition(tableName);
  for (const index of wanted.GlobalSecondaryIndexes ?? []) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.GlobalSecondaryIndexes?.some((existing) => existing.IndexName === index.IndexName)) continue;
    const keys = new Set(index.KeySchema?.map((key) => key.AttributeName));
    await client.send(
      new UpdateTableCommand({
        TableName: tableName,
        AttributeDefinitions: wanted.AttributeDefinitions?.filter((a) => keys.has(a.AttributeName)),
        GlobalSecondaryIndexUpdates: [{ Create: index }],
      }),
    );
    const deadline = Date.now() + INDEX_ACTIVE_TIMEOUT_MS;
    for (;;) {
      const { Table: now } = await client.send(new DescribeTableCommand({ TableName: tableName }));
      const added = now?.GlobalSecondaryIndexes?.find((existing) => existing.IndexName === index.IndexName);
      if (added?.IndexStatus === 'ACTIVE' && now?.TableStatus === 'ACTIVE') break;
      if (Date.now() > deadline) throw new Error(`index ${index.IndexName} of ${tableName} did not become active`);
      await sleep(200);
    }
  }
}

async function createTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(new CreateTableCommand(tableDefinition(tableName)));
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: TABLE_KEYS.ttl, Enabled: true },
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
}
