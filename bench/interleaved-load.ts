import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { ENV, requireEnv } from '../functions/adapters/environment.ts';
import { type Spread, spreadOf } from './stats.ts';
import { type FloorRound, type FloorTemplates, storageFloor } from './storage-floor.ts';
import { LOAD, type LoadRound, lanes, startWebhookSenders } from './webhook-load.ts';

/**
 * The webhook load and its storage floor in interleaved rounds on the same DynamoDB Local: both warm up, then each
 * round sends a fifth of the load's deals through the webhook and the same number of deals' calls straight to the
 * table, alternating which goes first (ABBA), so both see the same table state and the same machine. Each figure is
 * the median of its rounds; each ratio's spread is the range of the rounds' own ratios.
 */

export interface InterleavedLoad {
  webhooks: { perSecond: number; p50Ms: number; p99Ms: number; rounds: LoadRound[]; warmup: LoadRound };
  floor: { perSecond: number; p50Ms: number; p99Ms: number; rounds: FloorRound[]; itemBytes: Record<string, number> };
  /** Per figure (`webhooks_per_s`, `webhook_p50_ms`, `webhook_p99_ms`): the rounds' product/floor ratios. */
  ratioSpread: Record<string, Spread>;
}

const PIPELINE = 'default';

export async function runInterleavedLoad(api: string, secret: string, id: string): Promise<InterleavedLoad> {
  const dealsPerRound = LOAD.deals / LOAD.rounds;
  const senders = startWebhookSenders(api, secret);
  try {
    const warmup = await senders.send(lanes(`WARM-${id}`, LOAD.warmupDeals, LOAD.warmupEventsPerDeal, LOAD.senders));
    const floor = storageFloor(
      {
        tableName: requireEnv(ENV.tableName),
        endpoint: requireEnv(ENV.dynamoDbEndpoint),
        workers: LOAD.senders,
        prefix: id,
      },
      await floorTemplates(`WARM-${id}-0`),
    );
    const floorDeals = (round: string) => Array.from({ length: dealsPerRound }, (_, d) => `${round}-${d}`);
    await floor.round(
      Array.from({ length: LOAD.warmupDeals }, (_, d) => `warm-${d}`),
      LOAD.warmupEventsPerDeal,
    );
    const product: LoadRound[] = [];
    const floors: FloorRound[] = [];
    for (let round = 0; round < LOAD.rounds; round++) {
      const sendProduct = async () => {
        product.push(
          await senders.send(lanes(`LOAD-${id}-r${round}`, dealsPerRound, LOAD.eventsPerDeal, LOAD.senders)),
        );
      };
      const sendFloor = async () => {
        floors.push(await floor.round(floorDeals(`r${round}`), LOAD.eventsPerDeal));
      };
      if (round % 2 === 0) {
        await sendProduct();
        await sendFloor();
      } else {
        await sendFloor();
        await sendProduct();
      }
    }
    floor.close();
    const medianOf = <T>(rounds: T[], figure: (round: T) => number) => spreadOf(rounds.map(figure)).median;
    const ratios = (figure: (round: LoadRound | FloorRound) => number) =>
      spreadOf(product.map((round, i) => figure(round) / figure(floors[i] as FloorRound)));
    return {
      webhooks: {
        perSecond: medianOf(product, (r) => r.perSecond),
        p50Ms: medianOf(product, (r) => r.p50Ms),
        p99Ms: medianOf(product, (r) => r.p99Ms),
        rounds: product,
        warmup,
      },
      floor: {
        perSecond: medianOf(floors, (r) => r.perSecond),
        p50Ms: medianOf(floors, (r) => r.p50Ms),
        p99Ms: medianOf(floors, (r) => r.p99Ms),
        rounds: floors,
        itemBytes: floor.itemBytes,
      },
      ratioSpread: {
        webhooks_per_s: ratios((r) => r.perSecond),
        webhook_p50_ms: ratios((r) => r.p50Ms),
        webhook_p99_ms: ratios((r) => r.p99Ms),
      },
    };
  } finally {
    await senders.close();
  }
}

/** A deal item and a history item as the load stored them, and an event record of the repository's shape. */
async function floorTemplates(dealId: string): Promise<FloorTemplates> {
  const db = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: requireEnv(ENV.dynamoDbEndpoint) }));
  const TableName = requireEnv(ENV.tableName);
  const pk = `DEAL#${PIPELINE}#${dealId}`;
  const { Item: deal } = await db.send(new GetCommand({ TableName, Key: { pk, sk: 'DEAL' } }));
  const { Items: history = [] } = await db.send(
    new QueryCommand({
      TableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :h)',
      ExpressionAttributeValues: { ':pk': pk, ':h': 'HISTORY#' },
      ScanIndexForward: false,
      Limit: 1,
    }),
  );
  db.destroy();
  if (!deal || !history[0]) throw new Error(`the webhook load stored no deal ${dealId} to size the floor's items by`);
  const event = {
    record: {
      source: 'generic',
      eventId: `${dealId}-e-0000`,
      pipeline: PIPELINE,
      dealId,
      result: { outcome: 'applied', dealId, stage: 'qualify', reasons: [] },
      recordedAt: new Date().toISOString(),
      handedOff: true,
    },
    ttl: Math.floor(Date.now() / 1000) + 90 * 86_400,
  };
  return { deal, event, history: history[0] };
}
