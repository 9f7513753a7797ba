import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { dynamoDb } from '../functions/adapters/aws-clients.ts';
import { dealItem } from '../functions/adapters/deals/deals.ts';
import { InsightsStore } from '../functions/adapters/insights-store.ts';
import type { Deal } from '../functions/core/deal.ts';
import type { StoredDeal } from '../functions/core/stored-deal.ts';
import { fieldsOnReaching, OPEN_STAGES, type OpenStage } from '../infra/local/default-story.ts';
import type { LocalStack } from '../infra/local/stack.ts';
import { TABLE_NAME } from '../infra/local/stack.ts';
import { percentile } from './stats.ts';

/**
 * The board benchmark: at least 10,000 open deals stored straight into the table (BatchWrite,
 * items shaped as the webhook writes them), then `GET /board?pipeline=default` once to warm up and 20 times in a row.
 */

export const BOARD_LOAD = { deals: 10_000, requests: 20, owners: 40, writers: 8 } as const;

export interface BoardBench {
  /** The open deals the board counted (the bench's and any the earlier parts of the run left open). */
  deals: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
  pageKb: number;
  loadSeconds: number;
}

function benchDeal(n: number, runId: string, version: string): StoredDeal {
  const stageIndex = n % OPEN_STAGES.length;
  const stage = OPEN_STAGES[stageIndex] as OpenStage;
  const fields: Record<string, unknown> = {
    amount: 1000 + (n % 97) * 750,
    currency: 'EUR',
    industry: 'Software',
    ...fieldsOnReaching(stage),
  };
  const enteredAt = new Date(Date.now() - ((n * 7919) % (60 * 86_400)) * 1000).toISOString();
  const created = new Date(Date.parse(enteredAt) - 20 * 86_400_000).toISOString();
  const deal: Deal = {
    pipeline: 'default',
    dealId: `BOARD-${runId}-${n}`,
    dealName: `Bench account ${n} expansion`,
    owner: { email: `rep${n % BOARD_LOAD.owners}@example.com`, name: `Rep ${n % BOARD_LOAD.owners}` },
    stage,
    status: 'open',
    configVersion: version,
    fields,
    fieldTimes: Object.fromEntries(Object.keys(fields).map((field) => [field, enteredAt])),
    stageEventAt: enteredAt,
    lastEventAt: enteredAt,
    visit: stageIndex + 1,
    approvals: [],
    pendingMove: null,
    createdAt: created,
    updatedAt: enteredAt,
  };
  return {
    deal,
    version: stageIndex + 2,
    workflow: { executionArn: null, generation: 1, waitToken: null, waitStage: stage, notifiedVisit: stageIndex + 1 },
  };
}

/** Stores the bench's open deals, 25 per BatchWrite, a few writers at a time, retrying what DynamoDB leaves unprocessed. */
async function storeDeals(runId: string, version: string): Promise<void> {
  const db = dynamoDb();
  let next = 0;
  const writer = async () => {
    while (next < BOARD_LOAD.deals) {
      const start = next;
      next = Math.min(BOARD_LOAD.deals, next + 25);
      const deals = Array.from({ length: next - start }, (_, i) => benchDeal(start + i, runId, version));
      let requests = deals.map((deal) => ({ PutRequest: { Item: dealItem(deal) } }));
      while (requests.length > 0) {
        const { UnprocessedItems } = await db.send(new BatchWriteCommand({ RequestItems: { [TABLE_NAME]: requests } }));
        requests = (UnprocessedItems?.[TABLE_NAME] ?? []) as typeof requests;
      }
    }
  };
  await Promise.all(Array.from({ length: BOARD_LOAD.writers }, writer));
}

/** The open deals of the default pipeline as the board's totals count them. */
async function openDeals(): Promise<number> {
  const totals = await new InsightsStore(dynamoDb(), TABLE_NAME).totals('default');
  return OPEN_STAGES.reduce((sum, stage) => sum + (totals[`count#${stage}`] ?? 0), 0);
}

/**
 * Waits until the outbox has projected the stored deals into the board's totals (it reads them from the table's stream
 * like any other deal change), so the timed requests do not compete with it.
 */
async function projected(atLeast: number): Promise<void> {
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    const open = await openDeals();
    if (open >= atLeast) return;
    if (Date.now() > deadline) throw new Error(`the outbox projected ${open} of ${atLeast} stored deals in 15 minutes`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** Stores the deals, then times the board page: one warm-up request, then {@link BOARD_LOAD.requests} in a row. */
export async function runBoardBench(stack: LocalStack, runId: string): Promise<BoardBench> {
  const version = stack.pipelines.get('default')?.version;
  if (!version) throw new Error('the local stack runs no default pipeline');
  const loadStart = performance.now();
  const before = await openDeals();
  await storeDeals(runId, version);
  await projected(before + BOARD_LOAD.deals);
  const loadSeconds = (performance.now() - loadStart) / 1000;
  const url = `${stack.url}/board?pipeline=default`;
  const get = async () => {
    const start = performance.now();
    const response = await fetch(url);
    const page = await response.text();
    if (response.status !== 200) throw new Error(`GET /board answered ${response.status}`);
    const open = Number(/(\d+) open deals?/.exec(page)?.[1] ?? Number.NaN);
    return { ms: performance.now() - start, bytes: Buffer.byteLength(page), open };
  };
  const warm = await get();
  const times: number[] = [];
  for (let i = 0; i < BOARD_LOAD.requests; i++) times.push((await get()).ms);
  const sorted = times.toSorted((a, b) => a - b);
  return {
    deals: warm.open,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    meanMs: times.reduce((sum, ms) => sum + ms, 0) / times.length,
    maxMs: sorted.at(-1) ?? 0,
    pageKb: Math.round(warm.bytes / 1024),
    loadSeconds,
  };
}
