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
   */
  async add(input: {
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
  }): Promise<boolean> {
    const markerSets = ['#version = :version'];
    const markerValues: Record<string, unknown> = { ':version': input.version };
    if (input.startedAt !== null) {
      markerSets.push('startedAt = if_not_exists(startedAt, :startedAt)');
      markerValues[':startedAt'] = input.startedAt;
    }
    if (input.entered !== null) markerValues[':entered'] = new Set([input.entered]);
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tableName,
                Key: markerKey(input.pipeline, input.dealId),
                UpdateExpression: `SET ${markerSets.join(', ')}${input.entered !== null ? ' ADD visited :entered' : ''}`,
                ConditionExpression: 'attribute_not_exists(#version) OR #version < :version',
                ExpressionAttributeNames: { '#version': 'version' },
                ExpressionAttributeValues: markerValues,
              },
            },
            ...(Object.keys(input.counters).length > 0
              ? [
                  {
                    Update: {
                      TableName: this.tableName,
                      Key: dayKey(input.pipeline, input.shard, input.day),
                      ...addCounters(input.counters),
                    },
                  },
                ]
              : []),
            ...(input.reason !== null
              ? [
                  {
                    Update: {
                      TableName: this.tableName,
                      Key: reasonKey(input.pipeline, input.shard, input.day, input.reason.reason),
                      ...addCounters({ [input.reason.name]: 1 }),
                    },
                  },
                ]
              : []),
            ...(Object.keys(input.totals).length > 0
              ? [
                  {
                    Update: {
                      TableName: this.tableName,
                      Key: totalsKey(input.pipeline, input.shard),
                      ...addCounters(input.totals),
                    },
                  },
                ]
              : []),
          ],
        }),
      );
      return true;
    } catch (error) {
      const codes =
        error instanceof TransactionCanceledException ? (error.CancellationReasons ?? []).map((r) => r.Code) : [];
      if (codes[0] === 'ConditionalCheckFailed') return false;
      throw error;
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
