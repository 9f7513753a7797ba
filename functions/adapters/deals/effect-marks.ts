import { DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { KEPT_DAYS, noticeKey, outboxKey, TABLE_KEYS, ttlAfter } from './keys.ts';
import { claimLease, heldBy, type Lease, LeaseLostError, releaseLease } from './leases.ts';
import { isConditionFailure, type TableRef } from './table-ref.ts';

/** One run of a decision's side effects, under a lease on its marks item. */
export interface EffectRunClaim {
  lease: Lease;
  /** The side effects of the decision already done. */
  done: Set<string>;
}

/**
 * The outbox's own items: which side effects of a decision are done (a retried stream batch repeats none), and the
 * notices that may go out at most once a day.
 */
export class EffectMarks {
  constructor(private readonly table: TableRef) {}

  /**
   * Claims the run of one decision's side effects for `durationMs` (no longer than its handler may run): null while an
   * earlier run's lease lasts, so two runs of one decision never overlap.
   */
  async claimRun(
    pipeline: string,
    dealId: string,
    version: number,
    nowMs: number,
    durationMs: number,
  ): Promise<EffectRunClaim | null> {
    const claimed = await claimLease(this.table, outboxKey(pipeline, dealId, version), nowMs, durationMs);
    if (!claimed) return null;
    return { lease: claimed.lease, done: new Set((claimed.item.done as Set<string> | undefined) ?? []) };
  }

  /** Ends a run's lease once its effects are done or it failed, so a retry need not wait. */
  releaseRun(lease: Lease): Promise<void> {
    return releaseLease(this.table, lease);
  }

  /** Records that one side effect of a decision is done; throws {@link LeaseLostError} when a later run took over. */
  async markDone(lease: Lease, effect: string, now: string): Promise<void> {
    const fence = heldBy(lease);
    try {
      await this.table.db.send(
        new UpdateCommand({
          TableName: this.table.tableName,
          Key: lease.key,
          UpdateExpression: 'ADD done :effect SET #ttl = :ttl',
          ConditionExpression: fence.ConditionExpression,
          ExpressionAttributeNames: { '#ttl': TABLE_KEYS.ttl },
          ExpressionAttributeValues: {
            ...fence.ExpressionAttributeValues,
            ':effect': new Set([effect]),
            ':ttl': ttlAfter(now, KEPT_DAYS.outboxMark),
          },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) throw new LeaseLostError(lease.key);
      throw error;
    }
  }

  /** Claims a notice that may go out at most once a day (e.g. the same refusal): true for the first claim of the day. */
  async claimDailyNotice(pipeline: string, dealId: string, notice: string, now: string): Promise<boolean> {
    try {
      await this.table.db.send(
        new PutCommand({
          TableName: this.table.tableName,
          Item: {
            ...noticeKey(pipeline, dealId, now.slice(0, 10), notice),
            [TABLE_KEYS.ttl]: ttlAfter(now, KEPT_DAYS.dailyNotice),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** Takes back a claimed notice whose email could not be sent, so the retry may send it. */
  async releaseDailyNotice(pipeline: string, dealId: string, notice: string, now: string): Promise<void> {
    await this.table.db.send(
      new DeleteCommand({
        TableName: this.table.tableName,
        Key: noticeKey(pipeline, dealId, now.slice(0, 10), notice),
      }),
    );
  }
}
