import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ensureTable } from '../../functions/adapters/table.ts';
import { stackUrls, uniqueId } from './api.ts';

/** A client of the test stack's DynamoDB Local, with the fixed local credentials it accepts. */
function localClient(): DynamoDBClient {
  return new DynamoDBClient({
    endpoint: stackUrls().dynamoDb,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

/** A document client of the test stack's DynamoDB Local (over `client`, when given). */
export function localDynamoDb(client = localClient()): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

/**
 * A table of the product's layout that one test has to itself (named `<prefix>-…`), on the test stack's DynamoDB
 * Local, with a document client for it.
 */
export async function scratchTable(prefix: string): Promise<{ db: DynamoDBDocumentClient; tableName: string }> {
  const client = localClient();
  const tableName = uniqueId(prefix);
  await ensureTable(client, tableName);
  return { db: localDynamoDb(client), tableName };
}
