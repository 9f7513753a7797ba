import { GetCommand, PutCommand, paginateScan, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Deal, Owner } from '../../core/deal.ts';
import {
  dealKey,
  indexBackfillKey,
  ownerKeys,
  ownerPartition,
  ownerShardPartition,
  ownerText,
  STAGE_INDEX_SHARDS,
  TABLE_KEYS,
} from './keys.ts';
import { dealProjection, type StageDeal, toStageDeal } from './stage-index.ts';
import type { TableRef } from './table-ref.ts';
import { getAll, isConditionFailure, queryAll } from './table-ref.ts';

/**
 * The most owners one query reads: each is a partition of 8 shards (owners of one name share it), and the filter
 * names each address and name.
 */
export const MAX_OWNERS = 40;

/** Which deals {@link OwnerIndex.query} reads from the owners' partitions, and which of their attributes. */
export interface OwnerQuery {
  /**
   * The owners, as the read model lists them (address and name together) or as typed (an address alone, a name
   * alone): deals listed under any of them whose owner has one of their addresses or names, in any case (at most
   * {@link MAX_OWNERS}).
   */
  owners: Owner[];
  /** Paths inside the deal to read, as {@link StageQuery.attributes}; the deal id and its stage are always read. */
  attributes: string[][];
  /** Also read what was last decided about each deal. */
  lastDecision?: boolean;
  /** Which of the owners' deals to read, by the stage it is in and when it entered it (ISO); all when absent. */
  select?: (stage: string, enteredAt: string) => boolean;
}

/** A deal as the owner index reads it: with the stage it is in. */
export type OwnerDeal = StageDeal & Pick<Deal, 'stage'>;

/**
 * The deals of an owner, read through the `byOwner` index: one partition per owner name (else address), split into
 * the 8 shards a stage is, so an owner filter reads that owner's deals and no one else's (in 8 queries per name or
 * address, in parallel). Deals written before the index existed carry no `gsi2pk` until
 * {@link OwnerIndex.backfill} has given it to them; {@link OwnerIndex.ready} says when that is done.
 */
export class OwnerIndex {
  private isReady = false;

  constructor(private readonly table: TableRef) {}

  /** Every deal of the partitions whose owner matches, with the attributes asked for; partitions read in parallel. */
  async query(pipeline: string, query: OwnerQuery): Promise<OwnerDeal[]> {
    const owners = query.owners.slice(0, MAX_OWNERS);
    // An owner's deals are under their name, or under their address when the CRM sent no name.
    const partitions = new Set(
      owners.map((owner) => ownerPartition(pipeline, owner)).filter((partition) => partition !== null),
    );
    const shards = [...partitions].flatMap((partition) =>
      Array.from({ length: STAGE_INDEX_SHARDS }, (_, shard) => ownerShardPartition(partition, shard)),
    );
    const matching = new Set(
      owners.flatMap((owner) => [owner.email, owner.name]).flatMap((v) => (v ? [ownerText(v)] : [])),
    );
    if (matching.size === 0) return [];
    const values: Record<string, unknown> = {};
    const filter = [...matching]
      .map((text, index) => {
        values[`:owner${index}`] = text;
        return `contains(ownerKeys, :owner${index})`;
      })
      .join(' OR ');
    // The index holds each deal's keys, stage listing and owner only: it changes with the stage or the owner, not
    // with every write of the deal. The deals chosen are then read by key.
    const listed = await Promise.all(
      shards.map((partition) =>
        queryAll(this.table, {
          IndexName: TABLE_KEYS.ownerIndex,
          KeyConditionExpression: 'gsi2pk = :owner',
          FilterExpression: filter,
          ProjectionExpression: 'pk, sk, gsi1pk, gsi1sk',
          ExpressionAttributeValues: { ...values, ':owner': partition },
        }),
      ),
    );
    const stagePrefix = `STAGE#${pipeline}#`;
    const keys = listed.flat().flatMap((entry) => {
      const stage = String(entry.gsi1pk).slice(stagePrefix.length).split('#')[0] ?? '';
      const enteredAt = String(entry.gsi1sk).split('#')[0] ?? '';
      return (query.select?.(stage, enteredAt) ?? true) ? [{ pk: entry.pk, sk: entry.sk }] : [];
    });
    const { names, projection } = dealProjection([['stage'], ...query.attributes], query.lastDecision ?? false);
    const items = await getAll(this.table, keys, { ProjectionExpression: projection, ExpressionAttributeNames: names });
    return items.map((item) => toStageDeal(item) as OwnerDeal);
  }

  /** True once every deal stored before the index existed is listed in it (remembered for good once seen). */
  async ready(): Promise<boolean> {
    if (this.isReady) return true;
    const { Item } = await this.table.db.send(
      new GetCommand({ TableName: this.table.tableName, Key: indexBackfillKey(TABLE_KEYS.ownerIndex) }),
    );
    this.isReady = Item !== undefined;
    return this.isReady;
  }

  /**
   * Lists in the index every deal stored before it existed: each deal item in a stage's listing (`gsi1pk`) without
   * `gsi2pk` gets its owner attributes, on condition that it is still the version read (a deal written since has them
   * from its own write). Then marks the index ready. A one-off pass over the table, run at start-up (locally) or by
   * the deploy (the cloud) until the mark exists; returns how many deals it listed.
   */
  async backfill(): Promise<number> {
    if (await this.ready()) return 0;
    let listed = 0;
    const pages = paginateScan(
      { client: this.table.db },
      {
        TableName: this.table.tableName,
        FilterExpression: 'sk = :deal AND attribute_exists(gsi1pk) AND attribute_not_exists(gsi2pk)',
        ProjectionExpression: 'deal, version',
        ExpressionAttributeValues: { ':deal': 'DEAL' },
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        const deal = item.deal as Deal;
        const keys: Record<string, unknown> = ownerKeys(deal);
        if (keys.gsi2pk === undefined) continue;
        try {
          await this.table.db.send(
            new UpdateCommand({
              TableName: this.table.tableName,
              Key: dealKey(deal.pipeline, deal.dealId),
              UpdateExpression: 'SET gsi2pk = :partition, ownerKeys = :keys',
              ConditionExpression: '#version = :version AND attribute_not_exists(gsi2pk)',
              ExpressionAttributeNames: { '#version': 'version' },
              ExpressionAttributeValues: {
                ':partition': keys.gsi2pk,
                ':keys': keys.ownerKeys,
                ':version': item.version,
              },
            }),
          );
          listed++;
        } catch (error) {
          if (!isConditionFailure(error)) throw error;
        }
      }
    }
    await this.table.db.send(
      new PutCommand({
        TableName: this.table.tableName,
        Item: { ...indexBackfillKey(TABLE_KEYS.ownerIndex), at: new Date().toISOString(), listed },
      }),
    );
    this.isReady = true;
    return listed;
  }
}
