import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, PutCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { HistoryEntry } from '../../core/deal.ts';
import {
  DEAD_LETTER_PARTITION,
  deadLetterKey,
  digestRunKey,
  failureHistoryKey,
  KEPT_DAYS,
  noticeKey,
  outboxKey,
  TABLE_KEYS,
  ttlAfter,
} from './keys.ts';
import { claimLease, heldBy, type Lease, LeaseLostError, leaseClaim } from './leases.ts';
import { type ItemUpdate, SharedUpdates } from './shared-writes.ts';
import { isConditionFailure, queryAll, type TableRef } from './table-ref.ts';

/** A side effect given up for a reason retrying cannot fix: what the dead-letter item and the deal's history say. */
export interface EffectFailure {
  pipeline: string;
  dealId: string;
  /** The deal version (decision) whose effect failed; null when the stream record could not even be read. */
  version: number | null;
  /** The effect's name (`owner:stage`, `projection:insights`, …) or `record` for an unreadable record. */
  effect: string;
  /** The error's name and message. */
  reason: string;
  at: string;
  /** The stream record's sequence number, to find it again. */
  sequenceNumber: string | null;
}

/** An attempt of a digest run: the addresses emailed already, and whether an earlier attempt of the run began. */
export interface DigestAttempt {
  sent: Set<string>;
  retry: boolean;
}

/** One run of a decision's side effects, under a lease on its marks item. */
export interface EffectRunClaim {
  lease: Lease;
  /** The side effects of the decision already done. */
  done: Set<string>;
  /** True when a run of the decision was claimed before this one (false: nothing of it can have been done). */
  rerun: boolean;
}

/** Adds `effect` to a run's marks (and with `release`, ends its lease), fenced by the run's lease. */
function markUpdate(lease: Lease, effect: string, now: string, release: boolean): ItemUpdate {
  const fence = heldBy(lease);
  return {
    Key: lease.key,
    UpdateExpression: `ADD done :effect SET #ttl = :ttl${release ? ', leaseUntil = :zero' : ''}`,
    ConditionExpression: fence.ConditionExpression,
    ExpressionAttributeNames: { '#ttl': TABLE_KEYS.ttl },
    ExpressionAttributeValues: {
      ...fence.ExpressionAttributeValues,
      ':effect': new Set([effect]),
      ':ttl': ttlAfter(now, KEPT_DAYS.outboxMark),
      ...(release ? { ':zero': 0 } : {}),
    },
  };
}

/**
 * The outbox's own items: which side effects of a decision are done (a retried stream batch repeats none), and the
 * notices that may go out at most once a day.
 */
export class EffectMarks {
  /** Claims and releases of runs share calls: a stream batch's deals claim and release their runs together. */
  private readonly runUpdates: SharedUpdates;

  constructor(private readonly table: TableRef) {
    this.runUpdates = new SharedUpdates(table);
  }

  /**
   * Claims the run of one decision's side effects for `durationMs` (no longer than its handler may run): null while an
   * earlier run's lease lasts, so two runs of one decision never overlap. A first run creates the marks item (with
   * other deals' claims, in a shared call); a later one takes the lease over and reads what was done.
   */
  async claimRun(
    pipeline: string,
    dealId: string,
    version: number,
    nowMs: number,
    durationMs: number,
  ): Promise<EffectRunClaim | null> {
    const key = outboxKey(pipeline, dealId, version);
    const first = leaseClaim(key, nowMs, durationMs, 'first');
    if (await this.runUpdates.write(first.update)) return { lease: first.lease, done: new Set(), rerun: false };
    const claimed = await claimLease(this.table, key, nowMs, durationMs);
    if (!claimed) return null;
    const done = new Set((claimed.item.done as Set<string> | undefined) ?? []);
    return { lease: claimed.lease, done, rerun: true };
  }

  /**
   * Ends a run's lease once its effects are done or it failed, so a retry need not wait. With `lastDone`, that effect
   * is marked done in the same write (one write fewer per run); a run whose lease was taken over then throws
   * {@link LeaseLostError}, since its mark could not be written.
   */
  async releaseRun(lease: Lease, lastDone: { effect: string; now: string } | null = null): Promise<void> {
    const fence = heldBy(lease);
    const release: ItemUpdate =
      lastDone === null
        ? {
            Key: lease.key,
            UpdateExpression: 'SET leaseUntil = :zero',
            ConditionExpression: fence.ConditionExpression,
            ExpressionAttributeValues: { ...fence.ExpressionAttributeValues, ':zero': 0 },
          }
        : markUpdate(lease, lastDone.effect, lastDone.now, true);
    // A lease taken over needs no release; a mark that could not be written must be told.
    if (!(await this.runUpdates.write(release)) && lastDone !== null) throw new LeaseLostError(lease.key);
  }

  /** Records that one side effect of a decision is done; throws {@link LeaseLostError} when a later run took over. */
  async markDone(lease: Lease, effect: string, now: string): Promise<void> {
    try {
      await this.table.db.send(
        new UpdateCommand({ ...markUpdate(lease, effect, now, false), TableName: this.table.tableName }),
      );
    } catch (error) {
      if (isConditionFailure(error)) throw new LeaseLostError(lease.key);
      throw error;
    }
  }

  /**
   * Records a side effect given up: a dead-letter item (`OUTBOX#FAILED`, one per deal, version and effect, so a
   * repeat records nothing new) and, for a known decision, a `effect_failed` entry in the deal's history. True when
   * this call recorded it, false when it was recorded before.
   */
  async recordFailure(failure: EffectFailure): Promise<boolean> {
    const entry: HistoryEntry = {
      at: failure.at,
      type: 'effect_failed',
      from: null,
      to: null,
      outcome: 'failed',
      eventId: null,
      source: null,
      reasons: [],
      effect: failure.effect,
      error: failure.reason,
    };
    const once = { ConditionExpression: 'attribute_not_exists(pk)' };
    const { tableName } = this.table;
    try {
      await this.table.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: tableName,
                Item: {
                  ...deadLetterKey(failure.pipeline, failure.dealId, failure.version, failure.effect),
                  ...failure,
                  [TABLE_KEYS.ttl]: ttlAfter(failure.at, KEPT_DAYS.deadLetter),
                },
                ...once,
              },
            },
            ...(failure.version === null
              ? []
              : [
                  {
                    Put: {
                      TableName: tableName,
                      Item: {
                        ...failureHistoryKey(failure.pipeline, failure.dealId, failure.version, failure.effect),
                        entry,
                      },
                      ...once,
                    },
                  },
                ]),
          ],
        }),
      );
      return true;
    } catch (error) {
      const codes =
        error instanceof TransactionCanceledException ? (error.CancellationReasons ?? []).map((r) => r.Code) : [];
      if (codes.includes('ConditionalCheckFailed')) return false;
      throw error;
    }
  }

  /** The side effects given up (dead-letter items), newest last: what an operator looks at. */
  async failures(): Promise<EffectFailure[]> {
    const items = await queryAll(this.table, {
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': DEAD_LETTER_PARTITION },
    });
    return items
      .map(({ pipeline, dealId, version, effect, reason, at, sequenceNumber }) => ({
        pipeline,
        dealId,
        version,
        effect,
        reason,
        at,
        sequenceNumber,
      }))
      .sort((a, b) => String(a.at).localeCompare(String(b.at))) as EffectFailure[];
  }

  /**
   * Starts an attempt of one digest run (its scheduled time): the addresses an earlier attempt emailed already, and
   * whether an earlier attempt began (it may have died between a send and its mark).
   */
  async startDigestAttempt(pipeline: string, run: string, now: string): Promise<DigestAttempt> {
    const { Attributes } = await this.table.db.send(
      new UpdateCommand({
        TableName: this.table.tableName,
        Key: digestRunKey(pipeline, run),
        UpdateExpression: 'ADD attempts :one SET #ttl = :ttl',
        ExpressionAttributeNames: { '#ttl': TABLE_KEYS.ttl },
        ExpressionAttributeValues: { ':one': 1, ':ttl': ttlAfter(now, KEPT_DAYS.digestRun) },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return {
      sent: new Set((Attributes?.sent as Set<string> | undefined) ?? []),
      retry: Number(Attributes?.attempts ?? 1) > 1,
    };
  }

  /** Records that one digest run emailed `to`, so a retry of the run does not email it again. */
  async markDigestSent(pipeline: string, run: string, to: string, now: string): Promise<void> {
    await this.table.db.send(
      new UpdateCommand({
        TableName: this.table.tableName,
        Key: digestRunKey(pipeline, run),
        UpdateExpression: 'ADD sent :to SET #ttl = :ttl',
        ExpressionAttributeNames: { '#ttl': TABLE_KEYS.ttl },
        ExpressionAttributeValues: { ':to': new Set([to]), ':ttl': ttlAfter(now, KEPT_DAYS.digestRun) },
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
