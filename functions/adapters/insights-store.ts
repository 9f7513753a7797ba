import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { Counters } from '../core/board.ts';
import { queryAll } from './deals/table-ref.ts';

/**
 * The insights read model, in the deals' table (its items are described in docs/data-model.md): day aggregates of
 * counters (`entered#qualify`, `dwell#propose#12`, …, added to atomically), the open-deal totals the board's columns
 * show, and a per-deal marker that makes a retried change count once. A deal's changes add to the shard of its id, so
 * a busy day spreads over {@link INSIGHTS_SHARDS} partitions.
 */

/** How many partitions one pipeline's day aggregates are split into; never change it once counters are stored. */
export const INSIGHTS_SHARDS = 4;

/** What the projection remembers about one deal. */
export interface ProjectionMarker {
  version: number;
  /** The CRM's time the deal was created at; null for a deal created before the projection ran. */
  startedAt: string | null;
  visited: string[];
}

const markerKey = (pipeline: string, dealId: string) => ({ pk: `INSIGHTS#${pipeline}#DEAL#${dealId}`, sk: 'MARKER' });
const dayKey = (pipeline: string, shard: number, day: string) => ({
  pk: `INSIGHTS#${pipeline}#${shard}`,
  sk: `DAY#${day}`,
});
/**
 * One lost reason's counter of one day: an item of its own, so that a day with thousands of distinct reasons is
 * thousands of small items, never one item near DynamoDB's 400 KB limit. It sorts right after its day's item.
 */
const reasonKey = (pipeline: string, shard: number, day: string, reason: string) => ({
  pk: `INSIGHTS#${pipeline}#${shard}`,
  sk: `DAY#${day}#REASON#${reason}`,
});
/** The sort key just past a day and its reason items (`$` sorts right after `#`). */
const dayEnd = (day: string) => `DAY#${day}$`;

const totalsKey = (pipeline: string, shard: number) => ({ pk: `INSIGHTS#${pipeline}#${shard}`, sk: 'TOTALS' });

/** An `ADD` update of counters: names and values as placeholders, since counter names hold stage keys and free text. */
function addCounters(counters: Counters) {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const adds = Object.entries(counters).map(([name, count], index) => {
    names[`#c${index}`] = name;
    values[`:c${index}`] = count;
    return `#c${index} :c${index}`;
  });
  return {
    UpdateExpression: `ADD ${adds.join(', ')}`,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

/** One deal change's contribution to the read model (see {@link InsightsStore.add}). */
export interface ProjectionWrite {
  pipeline: string;
  dealId: string;
  shard: number;
  version: number;
  day: string;
  counters: Counters;
  /** A lost deal's reason counter (`lostReason#<reason>`), kept in an item of its own. */
  reason: { name: string; reason: string } | null;
  totals: Counters;
  startedAt: string | null;
  entered: string | null;
}

interface QueuedWrite {
  input: ProjectionWrite;
  answer: PromiseWithResolvers<boolean>;
}

/** DynamoDB's limit of actions per transaction. */
const MAX_TRANSACTION_ITEMS = 100;

/**
 * Takes the writes of the next transaction off the queue: one per deal (a deal's later change waits for the next),
 * as many as keep the markers and the distinct counter items within one transaction.
 */
function takeGroup(queued: QueuedWrite[]): QueuedWrite[] {
  const group: QueuedWrite[] = [];
  const deals = new Set<string>();
  const counterItems = new Set<string>();
  for (let index = 0; index < queued.length; ) {
    const entry = queued[index] as QueuedWrite;
    const { input } = entry;
    const deal = `${input.pipeline}#${input.dealId}`;
    const keys = counterItemsOf(input).map(({ pk, sk }) => `${pk}|${sk}`);
    const more = keys.filter((key) => !counterItems.has(key));
    // A write needs at most four items, so the first always fits.
    if (deals.has(deal) || group.length + 1 + counterItems.size + more.length > MAX_TRANSACTION_ITEMS) {
      index += 1;
      continue;
    }
    deals.add(deal);
    for (const key of more) counterItems.add(key);
    group.push(entry);
    queued.splice(index, 1);
  }
  return group;
}

/** The counter items one write adds to, with what it adds to each. */
function counterItemsOf(input: ProjectionWrite): { pk: string; sk: string; counters: Counters }[] {
  return [
    ...(Object.keys(input.counters).length > 0
      ? [{ ...dayKey(input.pipeline, input.shard, input.day), counters: input.counters }]
      : []),
    ...(input.reason !== null
      ? [
          {
            ...reasonKey(input.pipeline, input.shard, input.day, input.reason.reason),
            counters: { [input.reason.name]: 1 },
          },
        ]
      : []),
    ...(Object.keys(input.totals).length > 0
      ? [{ ...totalsKey(input.pipeline, input.shard), counters: input.totals }]
      : []),
  ];
}

/**
 * The transaction of a group: first each deal's marker update (in the group's order, so a cancellation reason's
 * index names its deal), conditioned on the marker being older, then each counter item once with the group's sums.
 */
function transactionItems(tableName: string, group: QueuedWrite[]) {
  const markers = group.map(({ input }) => {
    const markerSets = ['#version = :version'];
    const markerValues: Record<string, unknown> = { ':version': input.version };
    if (input.startedAt !== null) {
      markerSets.push('startedAt = if_not_exists(startedAt, :startedAt)');
      markerValues[':startedAt'] = input.startedAt;
    }
    if (input.entered !== null) markerValues[':entered'] = new Set([input.entered]);
    return {
      Update: {
        TableName: tableName,
        Key: markerKey(input.pipeline, input.dealId),
        UpdateExpression: `SET ${markerSets.join(', ')}${input.entered !== null ? ' ADD visited :entered' : ''}`,
        ConditionExpression: 'attribute_not_exists(#version) OR #version < :version',
        ExpressionAttributeNames: { '#version': 'version' },
        ExpressionAttributeValues: markerValues,
      },
    };
  });
  const sums = new Map<string, { key: { pk: string; sk: string }; counters: Counters }>();
  for (const { input } of group) {
    for (const { pk, sk, counters } of counterItemsOf(input)) {
      const item = sums.get(`${pk}|${sk}`) ?? { key: { pk, sk }, counters: {} };
      for (const [name, count] of Object.entries(counters)) item.counters[name] = (item.counters[name] ?? 0) + count;
      sums.set(`${pk}|${sk}`, item);
    }
  }
  const counters = [...sums.values()].map(({ key, counters: added }) => ({
    Update: { TableName: tableName, Key: key, ...addCounters(added) },
  }));
  return [...markers, ...counters];
}

/** DynamoDB access for the insights read model. */
export class InsightsStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async getMarker(pipeline: string, dealId: string): Promise<ProjectionMarker | null> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: markerKey(pipeline, dealId), ConsistentRead: true }),
    );
    if (!Item) return null;
    return {
      version: Item.version as number,
      startedAt: (Item.startedAt as string | undefined) ?? null,
      visited: [...((Item.visited as Set<string> | undefined) ?? [])],
    };
  }

  /**
   * Adds `counters` to the deal's day aggregate and `totals` to the open-deal totals, and advances the deal's marker to
   * `version`, in one transaction whose condition is that the marker is older: a change projected before changes
   * nothing. Returns false then.
   *
   * Calls made while a write is in flight are written together in the next transaction (one marker per deal, each
   * counter item once with the sums): a bulk import's changes share a few day and totals items, so this is one write
   * per batch of deals instead of one per deal. A deal whose marker refuses (a change projected before) is taken out
   * and the others written again; each deal's own answer says whether its change counted.
   */
  add(input: ProjectionWrite): Promise<boolean> {
    const entry = { input, answer: Promise.withResolvers<boolean>() };
    this.queued.push(entry);
    this.flushSoon();
    return entry.answer.promise;
  }

  private readonly queued: QueuedWrite[] = [];
  private writing = false;

  private flushSoon(): void {
    if (this.writing || this.queued.length === 0) return;
    this.writing = true;
    // The next macrotask: changes handled together in this turn (a batch's other deals) join the same write.
    setImmediate(() => {
      void this.flush().finally(() => {
        this.writing = false;
        this.flushSoon();
      });
    });
  }

  private async flush(): Promise<void> {
    let members = takeGroup(this.queued);
    while (members.length > 0) {
      const items = transactionItems(this.tableName, members);
      try {
        await this.db.send(new TransactWriteCommand({ TransactItems: items }));
        for (const member of members) member.answer.resolve(true);
        return;
      } catch (error) {
        const codes =
          error instanceof TransactionCanceledException ? (error.CancellationReasons ?? []).map((r) => r.Code) : [];
        const refused = new Set(members.filter((_, index) => codes[index] === 'ConditionalCheckFailed'));
        if (refused.size === 0 || codes.slice(members.length).includes('ConditionalCheckFailed')) {
          for (const member of members) member.answer.reject(error);
          return;
        }
        for (const member of refused) member.answer.resolve(false);
        members = members.filter((member) => !refused.has(member));
      }
    }
  }

  /** The open-deal totals of a pipeline (every shard's `TOTALS` item summed). */
  async totals(pipeline: string): Promise<Counters> {
    const items = await Promise.all(
      Array.from({ length: INSIGHTS_SHARDS }, (_, shard) =>
        this.db.send(new GetCommand({ TableName: this.tableName, Key: totalsKey(pipeline, shard) })),
      ),
    );
    const totals: Counters = {};
    for (const { Item } of items) {
      for (const [name, value] of Object.entries(Item ?? {})) {
        if (typeof value === 'number') totals[name] = (totals[name] ?? 0) + value;
      }
    }
    return totals;
  }

  /** The counters of a pipeline summed over the days `from` to `to` (inclusive, `yyyy-mm-dd`), lost reasons included. */
  async sum(pipeline: string, from: string, to: string): Promise<Counters> {
    const totals: Counters = {};
    const readShard = async (shard: number) => {
      const items = await queryAll(
        { db: this.db, tableName: this.tableName },
        {
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: {
            ':pk': dayKey(pipeline, shard, '').pk,
            ':from': `DAY#${from}`,
            ':to': dayEnd(to),
          },
        },
      );
      for (const item of items) {
        for (const [name, value] of Object.entries(item)) {
          if (name === 'pk' || name === 'sk' || typeof value !== 'number') continue;
          totals[name] = (totals[name] ?? 0) + value;
        }
      }
    };
    await Promise.all(Array.from({ length: INSIGHTS_SHARDS }, (_, shard) => readShard(shard)));
    return totals;
  }
}
