import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoDb, dynamoDbCounters } from '../../functions/adapters/aws-clients.ts';
import { DealRepository } from '../../functions/adapters/deal-repository.ts';
import { dealKey, indexBackfillKey, TABLE_KEYS } from '../../functions/adapters/deals/keys.ts';
import { InsightsStore } from '../../functions/adapters/insights-store.ts';
import { ensureTable, tableDefinition } from '../../functions/adapters/table.ts';
import { type LocalStack, TABLE_NAME } from '../../infra/local/stack.ts';
import { postGeneric, uniqueId, waitFor } from '../support/api.ts';
import { startInProcessStack } from '../support/in-process-stack.ts';

/**
 * What the board reads from the table: a pipeline of 200 stages holding a handful of deals, read through the stack's
 * own DynamoDB client so that every query the board makes is counted with what it read.
 */

const PIPELINE = 'wide';
const OPEN_STAGES = 198;
const stageKey = (n: number) => `s${String(n).padStart(3, '0')}`;
const DAY_MS = 86_400_000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY_MS).toISOString();

/** A pipeline of 198 open stages (any of them a start) and the two closed ones. */
function widePipeline(): string {
  const open = Array.from({ length: OPEN_STAGES }, (_, i) => stageKey(i + 1));
  const stages = [
    ...open.map(
      (key, i) => `  - key: ${key}\n    name: Stage ${i + 1}\n    definition: Step ${i + 1}.\n    staleAfterDays: 10`,
    ),
    '  - key: closed_won\n    name: Won\n    closed: won\n    definition: Signed.',
    '  - key: closed_lost\n    name: Lost\n    closed: lost\n    definition: Lost.',
  ];
  return [
    `pipeline: ${PIPELINE}`,
    'name: Wide pipeline',
    'rules:',
    '  allowSkips: true',
    '  allowBackward: true',
    `  startStages: [${open.join(', ')}]`,
    'approvers: {}',
    'approvalTiming:',
    '  reminderAfterHours: 24',
    '  expireAfterHours: 72',
    'stages:',
    ...stages,
    '',
  ].join('\n');
}

interface ReadLog {
  queries: number;
  /** Items the queries read (before any filter). */
  scanned: number;
  /** Items the queries returned. */
  returned: number;
}

/** Counts the queries on the deals' partitions of this pipeline while `read` runs (the stack shares this client). */
async function countReads<T>(read: () => Promise<T>): Promise<{ result: T; log: ReadLog }> {
  const log: ReadLog = { queries: 0, scanned: 0, returned: 0 };
  const name = uniqueId('countReads');
  dynamoDb().middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      const input = args.input as QueryCommandInput;
      const mine = Object.values(input.ExpressionAttributeValues ?? {}).some(
        (value) => typeof value === 'string' && /^(STAGE|OWNER|PIPELINE)#wide#/.test(value),
      );
      if (context.commandName === 'QueryCommand' && mine) {
        const output = result.output as QueryCommandOutput;
        log.queries += 1;
        log.scanned += output.ScannedCount ?? 0;
        log.returned += output.Count ?? 0;
      }
      return result;
    },
    { step: 'initialize', name },
  );
  try {
    return { result: await read(), log };
  } finally {
    dynamoDb().middlewareStack.remove(name);
  }
}

describe('the board of a pipeline with 200 stages and a handful of deals', () => {
  let stack: LocalStack | undefined;
  let dir = '';
  const owners = {
    eve: { email: `${uniqueId('eve').toLowerCase()}@example.com`, name: `Eve ${uniqueId('Martin')}` },
    noah: { email: `${uniqueId('noah').toLowerCase()}@example.com`, name: `Noah ${uniqueId('Berg')}` },
    nameOnly: { name: `Kim ${uniqueId('Nameonly')}` },
  };
  /** deal id → stage, owner */
  const deals: { dealId: string; stage: string; owner: keyof typeof owners; days: number }[] = [
    { dealId: 'W-1', stage: stageKey(3), owner: 'eve', days: 30 },
    { dealId: 'W-2', stage: stageKey(3), owner: 'noah', days: 2 },
    { dealId: 'W-3', stage: stageKey(40), owner: 'eve', days: 1 },
    { dealId: 'W-4', stage: stageKey(77), owner: 'noah', days: 12 },
    { dealId: 'W-5', stage: stageKey(90), owner: 'nameOnly', days: 4 },
    { dealId: 'W-6', stage: stageKey(120), owner: 'eve', days: 20 },
    { dealId: 'W-7', stage: stageKey(150), owner: 'noah', days: 3 },
    { dealId: 'W-8', stage: stageKey(160), owner: 'nameOnly', days: 40 },
    { dealId: 'W-9', stage: stageKey(197), owner: 'eve', days: 5 },
    { dealId: 'W-10', stage: stageKey(198), owner: 'noah', days: 6 },
    { dealId: 'W-11', stage: 'closed_won', owner: 'eve', days: 1 },
  ];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stageflow-wide-'));
    const file = join(dir, `${PIPELINE}.yaml`);
    writeFileSync(file, widePipeline());
    stack = await startInProcessStack({ configFile: file, configDir: dir });
    for (const deal of deals) {
      const created = deal.stage === 'closed_won' ? stageKey(1) : deal.stage;
      const first = await postGeneric(
        {
          eventId: uniqueId('E'),
          pipeline: PIPELINE,
          dealId: deal.dealId,
          stage: created,
          occurredAt: daysAgo(deal.days),
          dealName: `Deal ${deal.dealId}`,
          owner: owners[deal.owner],
          fields: { amount: 100, currency: 'EUR' },
        },
        { api: stack.url },
      );
      expect(first.body).toMatchObject({ outcome: 'applied' });
      if (created !== deal.stage) {
        const won = await postGeneric(
          { eventId: uniqueId('E'), pipeline: PIPELINE, dealId: deal.dealId, stage: deal.stage },
          { api: stack.url },
        );
        expect(won.body).toMatchObject({ outcome: 'applied' });
      }
    }
    // The columns' counts come from the read model, which the outbox keeps moments after each change: every deal's
    // last move is projected (a closed deal's too, whose creation would otherwise count it in its first stage for a
    // moment) and the totals are those of the open deals.
    const insights = new InsightsStore(dynamoDbCounters(), TABLE_NAME);
    const open = deals.filter((deal) => !deal.stage.startsWith('closed'));
    await waitFor(async () => {
      const markers = await Promise.all(deals.map((deal) => insights.getMarker(PIPELINE, deal.dealId)));
      if (!markers.every((marker, i) => marker?.visited.includes(deals[i]?.stage ?? ''))) return undefined;
      const totals = await insights.totals(PIPELINE);
      const counted = Object.entries(totals).filter(([name, n]) => name.startsWith('count#') && n > 0);
      const expected = Object.entries(Object.groupBy(open, (deal) => `count#${deal.stage}`)).map(
        ([name, inStage]) => [name, inStage?.length ?? 0] as const,
      );
      const sorted = (pairs: (readonly [string, number])[]) => JSON.stringify([...pairs].sort());
      return sorted(counted) === sorted(expected) || undefined;
    }, 'every open deal counted by the read model');
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const board = (query = '') =>
    countReads(async () => {
      const response = await fetch(`${stack?.url}/board?pipeline=${PIPELINE}${query}`);
      expect(response.status).toBe(200);
      return response.text();
    });
  const cardsOf = (html: string) => [...html.matchAll(/\/board\/deals\/(W-\d+)\?/g)].map((m) => m[1]).sort();

  it('shows every deal in its column with queries that follow the deals, not the stages', async () => {
    const started = performance.now();
    const { result: html, log } = await board();
    console.log(`board of 200 stages: ${log.queries} queries, ${Math.round(performance.now() - started)} ms`);
    expect(cardsOf(html)).toEqual(deals.map((d) => d.dealId).sort());
    for (const deal of deals) {
      const column = html.slice(html.indexOf(`id="col-${deal.stage}"`));
      expect(column.slice(0, column.indexOf('</section>'))).toContain(`/board/deals/${deal.dealId}?`);
    }
    // The closed columns (8 shards each) and one per stage holding deals: the 190 empty stages cost nothing.
    expect(log.queries).toBeLessThanOrEqual(8 * (2 + 9));
  });

  it('lists every deal of the pipeline through the read API, reading only the stages that hold deals', async () => {
    const { result: listed, log } = await countReads(async () => {
      const response = await fetch(`${stack?.url}/deals?pipeline=${PIPELINE}&limit=100`);
      expect(response.status).toBe(200);
      return (await response.json()) as { deals: { dealId: string }[]; nextToken: string | null };
    });
    expect(listed.deals.map((deal) => deal.dealId).sort()).toEqual(deals.map((d) => d.dealId).sort());
    expect(listed.nextToken).toBeNull();
    expect(log.queries).toBeLessThanOrEqual(8 * (2 + 9));
  });

  const ownerCases = [
    ['an address in upper case', owners.eve.email.toUpperCase(), 'eve'],
    ['a name in lower case', owners.eve.name.toLowerCase(), 'eve'],
    ['the name of an owner without address, in upper case', owners.nameOnly.name.toUpperCase(), 'nameOnly'],
    ['an address', owners.noah.email, 'noah'],
  ] as const;
  for (const [what, text, who] of ownerCases) {
    it(`filters by ${what}, reading that owner's deals only`, async () => {
      const { result: html, log } = await board(`&owner=${encodeURIComponent(text)}`);
      const theirs = deals.filter((deal) => deal.owner === who).map((deal) => deal.dealId);
      console.log(`owner=${what}: ${log.queries} queries, ${log.scanned} index items read`);
      expect(cardsOf(html)).toEqual(theirs.sort());
      expect(log.scanned).toBe(theirs.length);
      // At most three partitions (the name, the address, the typed text), each of 8 shards.
      expect(log.queries).toBeLessThanOrEqual(3 * 8);
    });
  }

  it('filters by owner and stale together from the same reads', async () => {
    const { result: html, log } = await board(`&owner=${encodeURIComponent(owners.eve.email)}&stale=1`);
    expect(cardsOf(html)).toEqual(['W-1', 'W-6']);
    expect(log.scanned).toBe(deals.filter((deal) => deal.owner === 'eve').length);
  });

  it('lists the deals stored before the owner index existed once the backfill ran', async () => {
    const db = dynamoDb();
    await db.send(
      new UpdateCommand({ TableName: TABLE_NAME, Key: dealKey(PIPELINE, 'W-9'), UpdateExpression: 'REMOVE gsi2pk' }),
    );
    await db.send(new DeleteCommand({ TableName: TABLE_NAME, Key: indexBackfillKey(TABLE_KEYS.ownerIndex) }));
    const before = await board(`&owner=${encodeURIComponent(owners.eve.email)}`);
    expect(cardsOf(before.result)).not.toContain('W-9');
    const deployed = new DealRepository(db, TABLE_NAME);
    expect(await deployed.ownerIndexReady()).toBe(false);
    expect(await deployed.backfillOwnerIndex()).toBe(1);
    expect(await deployed.ownerIndexReady()).toBe(true);
    expect(await deployed.backfillOwnerIndex()).toBe(0);
    const after = await board(`&owner=${encodeURIComponent(owners.eve.email)}`);
    expect(cardsOf(after.result)).toContain('W-9');
  });

  it('adds the owner index to a table created before it existed, which finds the items stored before', async () => {
    const client = new DynamoDBClient({ endpoint: stack?.dynamoDbUrl });
    const name = uniqueId('earlier');
    const earlier = tableDefinition(name);
    await client.send(
      new CreateTableCommand({
        ...earlier,
        AttributeDefinitions: earlier.AttributeDefinitions?.filter((a) => a.AttributeName !== 'gsi2pk'),
        GlobalSecondaryIndexes: earlier.GlobalSecondaryIndexes?.filter((i) => i.IndexName === TABLE_KEYS.stageIndex),
      }),
    );
    const items = DynamoDBDocumentClient.from(client);
    const stored = { ...dealKey(PIPELINE, 'OLD-1'), gsi1pk: 'STAGE#wide#s001#0', gsi1sk: '2026-01-01#OLD-1' };
    await items.send(new PutCommand({ TableName: name, Item: { ...stored, gsi2pk: 'OWNER#wide#name#old#0' } }));
    await ensureTable(client, name);
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    expect(Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName).sort()).toEqual(['byOwner', 'byStage']);
    const { Items } = await items.send(
      new QueryCommand({
        TableName: name,
        IndexName: TABLE_KEYS.ownerIndex,
        KeyConditionExpression: 'gsi2pk = :owner',
        ExpressionAttributeValues: { ':owner': 'OWNER#wide#name#old#0' },
      }),
    );
    expect(Items?.map((item) => item.pk)).toEqual([stored.pk]);
    // A second start finds nothing to add.
    await ensureTable(client, name);
  });
});
