import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Deal, Owner } from '../../core/deal.ts';
import type { LastDecision, StoredDeal } from '../../core/stored-deal.ts';
import { toStoredDeal } from './deals.ts';
import { decodePageToken, encodePageToken, STAGE_INDEX_SHARDS, stagePartition, TABLE_KEYS } from './keys.ts';
import type { TableRef } from './table-ref.ts';
import { queryAll } from './table-ref.ts';

/** The attributes of a deal that a query asked for; the id is always among them. */
export type DealAttributes = Pick<Deal, 'dealId'> & Partial<Deal>;

/** A deal as a stage query reads it, with what was last decided about it when the query asked for that. */
export type StageDeal = DealAttributes & { lastDecision?: Pick<LastDecision, 'kind' | 'outcome' | 'target'> };

/** The most owners one query filters on: DynamoDB's `IN` takes up to 100 values, names and addresses both count. */
export const MAX_OWNER_FILTER = 40;

/** Which deals of a stage {@link StageIndex.query} reads, and which of their attributes. */
export interface StageQuery {
  /** Paths inside the deal to read, e.g. `['dealName']`, `['fields', 'amount']`; the deal id is always read. */
  attributes: string[][];
  /** Only deals that entered the stage before this time (ISO): the stale ones. */
  enteredBefore?: string;
  /** Only deals that entered the stage at or after this time (ISO). */
  enteredSince?: string;
  /** Only deals of these owners: an owner's address or name equal to one of theirs (at most {@link MAX_OWNER_FILTER}). */
  owners?: Owner[];
  /** Also read what was last decided about each deal (its kind, outcome and target stage). */
  lastDecision?: boolean;
  /** Only the deals longest in the stage, at most this many (read as the first of each shard, oldest entry first). */
  oldest?: number;
}

/**
 * A projection of the deal attributes a query asks for (the deal id always among them, and what was last decided
 * when `lastDecision`), with its attribute-name placeholders; `nameOf` adds a placeholder for a name the caller's
 * own expressions use.
 */
export function dealProjection(attributes: string[][], lastDecision: boolean) {
  const names: Record<string, string> = { '#deal': 'deal' };
  const nameOf = (part: string) => {
    const existing = Object.entries(names).find(([, name]) => name === part)?.[0];
    if (existing) return existing;
    const placeholder = `#a${Object.keys(names).length}`;
    names[placeholder] = part;
    return placeholder;
  };
  const paths = [['dealId'], ...attributes].map((path) => ['#deal', ...path.map(nameOf)].join('.'));
  if (lastDecision) {
    paths.push(...['kind', 'outcome', 'target'].map((part) => `${nameOf('lastDecision')}.${nameOf(part)}`));
  }
  return { names, nameOf, projection: [...new Set(paths)].join(', ') };
}

/** A deal item as a projection of {@link dealProjection} read it. */
export function toStageDeal(item: Record<string, unknown>): StageDeal {
  const deal = item.deal as StageDeal;
  return item.lastDecision ? { ...deal, lastDecision: item.lastDecision as StageDeal['lastDecision'] } : deal;
}

/** The deals of one stage, read through the sharded `byStage` index (never a scan). */
export class StageIndex {
  constructor(private readonly table: TableRef) {}

  /**
   * Deals of one pipeline in one stage, one page at a time: shard by shard, the most recent stage entries first within
   * a shard.
   */
  async list(
    pipeline: string,
    stage: string,
    page: { limit: number; nextToken?: string },
  ): Promise<{ deals: StoredDeal[]; nextToken: string | null }> {
    const deals: StoredDeal[] = [];
    let { shard, key } = page.nextToken ? decodePageToken(page.nextToken) : { shard: 0, key: undefined };
    while (shard < STAGE_INDEX_SHARDS && deals.length < page.limit) {
      const result = await this.table.db.send(
        new QueryCommand({
          TableName: this.table.tableName,
          IndexName: TABLE_KEYS.stageIndex,
          KeyConditionExpression: 'gsi1pk = :stage',
          ExpressionAttributeValues: { ':stage': stagePartition(pipeline, stage, shard) },
          ScanIndexForward: false,
          Limit: page.limit - deals.length,
          ExclusiveStartKey: key,
        }),
      );
      deals.push(...(result.Items ?? []).map(toStoredDeal));
      key = result.LastEvaluatedKey;
      if (!key) shard++;
    }
    return { deals, nextToken: shard < STAGE_INDEX_SHARDS ? encodePageToken({ shard, key }) : null };
  }

  /**
   * Every deal of one stage that the query selects (or its `oldest` ones), with only the attributes asked for: all
   * shards read in parallel, each to its end or its first `oldest`.
   */
  async query(pipeline: string, stage: string, query: StageQuery): Promise<StageDeal[]> {
    const { names, nameOf, projection } = dealProjection(query.attributes, query.lastDecision ?? false);
    const values: Record<string, unknown> = {};
    let range = '';
    if (query.enteredBefore !== undefined) {
      range += ' AND gsi1sk < :before';
      values[':before'] = query.enteredBefore;
    } else if (query.enteredSince !== undefined) {
      range += ' AND gsi1sk >= :since';
      values[':since'] = query.enteredSince;
    }
    let filter: string | undefined;
    if (query.owners !== undefined) {
      const owners = query.owners.slice(0, MAX_OWNER_FILTER);
      const placeholders = (part: 'email' | 'name') =>
        [...new Set(owners.flatMap((owner) => (owner[part] ? [owner[part]] : [])))].map((value, index) => {
          values[`:${part}${index}`] = value;
          return `:${part}${index}`;
        });
      const emails = placeholders('email');
      const ownerNames = placeholders('name');
      const owner = `#deal.${nameOf('owner')}`;
      // In any case through `ownerKeys`; items written before it existed match their exact address or name.
      const lowered = [
        ...new Set(owners.flatMap((o) => [o.email, o.name]).flatMap((v) => (v ? [v.toLocaleLowerCase('en')] : []))),
      ].map((value, index) => {
        values[`:lower${index}`] = value;
        return `contains(${nameOf('ownerKeys')}, :lower${index})`;
      });
      filter =
        [
          ...lowered,
          emails.length > 0 ? `${owner}.${nameOf('email')} IN (${emails.join(', ')})` : '',
          ownerNames.length > 0 ? `${owner}.${nameOf('name')} IN (${ownerNames.join(', ')})` : '',
        ]
          .filter((part) => part !== '')
          .join(' OR ') || undefined;
      if (filter === undefined) return [];
    }
    const readShard = async (shard: number) => {
      const input = {
        IndexName: TABLE_KEYS.stageIndex,
        KeyConditionExpression: `gsi1pk = :stage${range}`,
        FilterExpression: filter,
        ProjectionExpression: projection,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: { ...values, ':stage': stagePartition(pipeline, stage, shard) },
      };
      // The oldest N need only each shard's first page of N; everything else reads every page.
      const items =
        query.oldest === undefined
          ? await queryAll(this.table, input)
          : ((
              await this.table.db.send(
                new QueryCommand({ ...input, TableName: this.table.tableName, Limit: query.oldest }),
              )
            ).Items ?? []);
      return items.map(toStageDeal);
    };
    const shards = await Promise.all(Array.from({ length: STAGE_INDEX_SHARDS }, (_, shard) => readShard(shard)));
    const deals = shards.flat();
    if (query.oldest === undefined) return deals;
    const entered = (deal: StageDeal) => deal.stageEventAt ?? '';
    return deals.sort((a, b) => entered(a).localeCompare(entered(b))).slice(0, query.oldest);
  }
}
