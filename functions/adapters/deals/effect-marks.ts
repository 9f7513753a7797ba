import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { KEPT_DAYS, noticeKey, outboxKey, TABLE_KEYS, ttlAfter } from './keys.ts';
import { isConditionFailure, type TableRef } from './table-ref.ts';

/**
 * The outbox's own items: which side effects of a decision are done (a retried stream batch repeats none), and the
 * notices that may go out at most once a day.
 */
export class EffectMarks {
  constructor(private readonly table: TableRef) {}

  /** The side effects of one decision (deal version) already done. */
  async done(pipeline: string, dealId: string, version: number): Promise<Set<string>> {
    const { Item } = await this.table.db.send(
      new GetCommand({
        TableName: this.table.tableName,
        Key: outboxKey(pipeline, dealId, version),
        ConsistentRead: true,
      }),
    );
    return new Set((Item?.done as Set<string> | undefined) ?? []);
  }

  /** Records that one side effect of a decision is done. */
  async markDone(pipeline: string, dealId: string, version: number, effect: string, now: string): Promise<void> {
    await this.table.db.send(
      new UpdateCommand({
        TableName: this.table.tableName,
        Key: outboxKey(pipeline, dealId, version),
        UpdateExpression: 'ADD done :effect SET #ttl = :ttl',
        ExpressionAttributeNames: { '#ttl': TABLE_KEYS.ttl },
        ExpressionAttributeValues: { ':effect': new Set([effect]), ':ttl': ttlAfter(now, KEPT_DAYS.outboxMark) },
      }),
    );
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
