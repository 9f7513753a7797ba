import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';

/**
 * The baseline of `cold_init_floor_ms`: the least a DynamoDB-touching function can cost — a client created at import,
 * as every function does, and one `GetItem` — bundled and flagged like the real functions.
 */
const client = new DynamoDBClient(process.env.DYNAMODB_ENDPOINT ? { endpoint: process.env.DYNAMODB_ENDPOINT } : {});

export const handler = async () => {
  const { Item } = await client.send(
    new GetItemCommand({
      TableName: process.env.TABLE_NAME,
      Key: { pk: { S: 'FLOOR#cold-init' }, sk: { S: 'DEAL' } },
      ConsistentRead: true,
    }),
  );
  return { statusCode: 200, body: Item ? 'found' : 'not found' };
};
