import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { percentile } from './stats.ts';

/**
 * The storage floor: the DynamoDB calls a webhook's answer path must make, alone — for each
 * event, read the deal, then one transaction writing the event record, the deal and one history item — issued
 * straight from Node with the AWS SDK by as many concurrent workers as the webhook load has senders, for as many
 * events over as many deals. No HTTP, no signature, no decision: what the product could reach if all but storage
 * were free.
 */

/** What one round of the floor measured. */
export interface FloorRound {
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  events: number;
  wallSeconds: number;
}

/** Items shaped and sized as the product writes them; `deal` is a real stored deal item used as the template. */
export interface FloorTemplates {
  deal: Record<string, unknown>;
  event: Record<string, unknown>;
  history: Record<string, unknown>;
}

interface FloorLoad {
  tableName: string;
  endpoint: string;
  workers: number;
  prefix: string;
}

const bytes = (item: unknown) => Buffer.byteLength(JSON.stringify(item), 'utf8');

/**
 * The floor's workers on one DynamoDB client: `round` runs the calls of `eventsPerDeal` events for each of `deals`
 * (deal keys of the caller's choosing, so rounds never share a deal) and times them.
 */
export function storageFloor(load: FloorLoad, templates: FloorTemplates) {
  const db = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: load.endpoint }), {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true },
  });
  const versions = new Map<string, number>();
  let sequence = 0;
  const one = async (dealKey: string): Promise<number> => {
    const started = performance.now();
    const pk = `FLOOR#${load.prefix}#${dealKey}`;
    await db.send(new GetCommand({ TableName: load.tableName, Key: { pk, sk: 'DEAL' }, ConsistentRead: true }));
    const version = (versions.get(dealKey) ?? 0) + 1;
    versions.set(dealKey, version);
    sequence += 1;
    await db.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Put: {
              TableName: load.tableName,
              Item: { ...templates.event, pk: `FLOOR-EVENT#${load.prefix}#${sequence}`, sk: 'EVENT' },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
          {
            Put: {
              TableName: load.tableName,
              Item: { ...templates.deal, pk, sk: 'DEAL', gsi1pk: `FLOOR-STAGE#${load.prefix}`, version },
              ...(version === 1
                ? { ConditionExpression: 'attribute_not_exists(pk)' }
                : { ConditionExpression: 'version = :v', ExpressionAttributeValues: { ':v': version - 1 } }),
            },
          },
          {
            Put: {
              TableName: load.tableName,
              Item: { ...templates.history, pk, sk: `HISTORY#${String(version).padStart(10, '0')}#000` },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
        ],
      }),
    );
    return performance.now() - started;
  };
  const run = async (deals: string[], eventsPerDeal: number) => {
    const lanes = Array.from({ length: load.workers }, (_, lane) => deals.filter((_, d) => d % load.workers === lane));
    const latencies: number[] = [];
    const started = performance.now();
    await Promise.all(
      lanes.map(async (own) => {
        for (let round = 0; round < eventsPerDeal; round++) {
          for (const deal of own) latencies.push(await one(deal));
        }
      }),
    );
    return { latencies, wallMs: performance.now() - started };
  };
  return {
    round: async (deals: string[], eventsPerDeal: number): Promise<FloorRound> => {
      const { latencies, wallMs } = await run(deals, eventsPerDeal);
      latencies.sort((a, b) => a - b);
      return {
        perSecond: latencies.length / (wallMs / 1000),
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        events: latencies.length,
        wallSeconds: wallMs / 1000,
      };
    },
    itemBytes: { deal: bytes(templates.deal), event: bytes(templates.event), history: bytes(templates.history) },
    close: () => db.destroy(),
  };
}
