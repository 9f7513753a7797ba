import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { PutCommand, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { CrmSource, CrmStageValue } from '../crm/types.ts';
import {
  KEPT_DAYS,
  TABLE_KEYS,
  ttlAfter,
  WRITE_BACK_DUE_PARTITION,
  WRITE_BACK_PREFIX,
  writeBackDueKeys,
  writeBackKey,
  writeBackLeaseKey,
  writeBackPartition,
} from './keys.ts';
import { claimLease, type Lease, LeaseLostError, leaseCheck, releaseLease } from './leases.ts';
import { isConditionFailure, queryAll, type TableRef, type TransactPart } from './table-ref.ts';

/**
 * One decision's write-back to the CRM, waiting in its deal's queue: what to write (fixed when the decision was
 * made) and how its tries went so far.
 */
export interface WriteBack {
  pipeline: string;
  dealId: string;
  /** The decision's deal version: the queue's order. */
  version: number;
  source: CrmSource;
  /** The deal's stage and visit after the decision: the stage written, and how a newer move is recognised. */
  stage: string;
  visit: number;
  /** The stage write, when the decision sets one: the CRM's value, and what the CRM deal shows meanwhile. */
  setStage: { value: CrmStageValue; shown: CrmStageValue | null } | null;
  /** The note, with its decision reference. */
  note: { text: string; ref: string } | null;
  eventId: string | null;
  enqueuedAt: string;
  /** When the next try may start. */
  dueAt: string;
  tries: number;
  /** When the first try failed: the retry budget counts from here. */
  firstFailedAt?: string;
  /** The stage write landed in an earlier try. */
  stageWritten?: boolean;
  /** A try began writing the note: a later one looks for it before writing. */
  noteBegun?: boolean;
  lastStatus?: number;
  lastMessage?: string;
  /** Set once the outcome is recorded (`crm_sync`); the item stays as a tombstone so the decision never enqueues again. */
  completedAt?: string;
}

/** What a try changes on its write-back when it does not finish it. */
export type WriteBackProgress = Partial<
  Pick<WriteBack, 'dueAt' | 'tries' | 'firstFailedAt' | 'stageWritten' | 'noteBegun' | 'lastStatus' | 'lastMessage'>
>;

/**
 * The write-back queues, one per deal (`WRITEBACK#<pipeline>#<dealId>`, an item per decision in version order, and
 * the deal's lease), and the list of due write-backs in the `byStage` index. The outbox enqueues; the write-back runs
 * take a deal's lease, try its write-backs in order, and record each outcome; every write of a run is fenced by its
 * lease.
 */
export class WriteBackQueue {
  constructor(private readonly table: TableRef) {}

  /** Adds a decision's write-back, once: false when it was enqueued before (a retried outbox run). */
  async enqueue(item: WriteBack): Promise<boolean> {
    try {
      await this.table.db.send(
        new PutCommand({
          TableName: this.table.tableName,
          Item: this.itemOf(item),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** The deals with a write-back due at `now`, oldest due first, at most `limit` (from the index: may lag a little). */
  async dueDeals(now: string, limit: number): Promise<{ pipeline: string; dealId: string }[]> {
    const { Items } = await this.table.db.send(
      new QueryCommand({
        TableName: this.table.tableName,
        IndexName: TABLE_KEYS.stageIndex,
        KeyConditionExpression: 'gsi1pk = :due AND gsi1sk <= :now',
        ExpressionAttributeValues: { ':due': WRITE_BACK_DUE_PARTITION, ':now': `${now}~` },
        Limit: limit * 4,
      }),
    );
    const deals = new Map<string, { pipeline: string; dealId: string }>();
    for (const item of Items ?? []) {
      const { pipeline, dealId } = item as WriteBack;
      deals.set(writeBackPartition(pipeline, dealId), { pipeline, dealId });
    }
    return [...deals.values()].slice(0, limit);
  }

  /** A deal's write-backs not yet completed, in decision order. */
  async pending(pipeline: string, dealId: string): Promise<WriteBack[]> {
    const items = await queryAll(this.table, {
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :item)',
      FilterExpression: 'attribute_not_exists(completedAt)',
      ExpressionAttributeValues: { ':pk': writeBackPartition(pipeline, dealId), ':item': WRITE_BACK_PREFIX },
      ConsistentRead: true,
    });
    return items.map((item) => {
      const { pk: _pk, sk: _sk, gsi1pk: _gsi1pk, gsi1sk: _gsi1sk, [TABLE_KEYS.ttl]: _ttl, ...writeBack } = item;
      return writeBack as unknown as WriteBack;
    });
  }

  /** Takes a deal's queue for `durationMs`: null while another run holds it. */
  async claim(pipeline: string, dealId: string, nowMs: number, durationMs: number): Promise<Lease | null> {
    return (await claimLease(this.table, writeBackLeaseKey(pipeline, dealId), nowMs, durationMs))?.lease ?? null;
  }

  release(lease: Lease): Promise<void> {
    return releaseLease(this.table, lease);
  }

  /** Records a try's progress (and when the next may start), fenced by the lease. */
  async update(lease: Lease, item: WriteBack, progress: WriteBackProgress): Promise<WriteBack> {
    const next = { ...item, ...progress };
    await this.fenced(lease, [
      {
        Put: {
          TableName: this.table.tableName,
          Item: this.itemOf(next),
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(completedAt)',
        },
      },
    ]);
    return next;
  }

  /** The transaction parts that complete a write-back, for the commit that records its outcome. */
  completion(lease: Lease, item: WriteBack, now: string): TransactPart[] {
    const { gsi1pk: _gsi1pk, gsi1sk: _gsi1sk, ...kept } = this.itemOf({ ...item, completedAt: now });
    return [
      leaseCheck(this.table, lease),
      {
        Put: {
          TableName: this.table.tableName,
          Item: { ...kept, [TABLE_KEYS.ttl]: ttlAfter(now, KEPT_DAYS.writeBack) },
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(completedAt)',
        },
      },
    ];
  }

  private async fenced(lease: Lease, parts: TransactPart[]): Promise<void> {
    try {
      await this.table.db.send(new TransactWriteCommand({ TransactItems: [leaseCheck(this.table, lease), ...parts] }));
    } catch (error) {
      if (error instanceof TransactionCanceledException) throw new LeaseLostError(lease.key);
      throw error;
    }
  }

  private itemOf(item: WriteBack): Record<string, unknown> {
    const pending = item.completedAt === undefined;
    return {
      ...writeBackKey(item.pipeline, item.dealId, item.version),
      ...(pending ? writeBackDueKeys(item.dueAt, item.pipeline, item.dealId, item.version) : {}),
      ...item,
      [TABLE_KEYS.ttl]: ttlAfter(item.dueAt, KEPT_DAYS.writeBack),
    };
  }
}
