import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionFailure, type TableRef } from './table-ref.ts';

/** A conditional update of one item of the table, as {@link SharedUpdates} takes it. */
export interface ItemUpdate {
  Key: { pk: string; sk: string };
  UpdateExpression: string;
  ConditionExpression: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, unknown>;
}

/** DynamoDB's limit on the items of one transaction. */
const MAX_TRANSACTION_ITEMS = 100;

interface QueuedUpdate {
  update: ItemUpdate;
  answer: PromiseWithResolvers<boolean>;
}

/**
 * Conditional updates of different items that share calls: the updates asked for while a call is in flight go
 * together in the next one, a transaction of up to 100 (one alone is a plain update). Each update is answered on its
 * own: true when it was written, false when its own condition refused it (the others are then written again without
 * it), so each caller sees what a single update would have told it. A transaction fails as a whole for any other
 * reason (throttling, a conflict), and every update in it sees that error.
 *
 * Each update must stand on its own: a transaction writes all or none, but a caller learns only its own outcome.
 */
export class SharedUpdates {
  private readonly queued: QueuedUpdate[] = [];
  private writing = false;

  constructor(private readonly table: TableRef) {}

  /** Writes `update` with the next shared call: true once written, false when its condition refused it. */
  write(update: ItemUpdate): Promise<boolean> {
    const entry = { update, answer: Promise.withResolvers<boolean>() };
    this.queued.push(entry);
    this.flushSoon();
    return entry.answer.promise;
  }

  private flushSoon(): void {
    if (this.writing || this.queued.length === 0) return;
    this.writing = true;
    // The next macrotask: updates asked for in this turn (a batch's other deals) join the same call.
    setImmediate(() => {
      void this.flush(this.takeGroup()).finally(() => {
        this.writing = false;
        this.flushSoon();
      });
    });
  }

  /** The next queued updates, up to a transaction's limit, one per item (a transaction names an item once). */
  private takeGroup(): QueuedUpdate[] {
    const group: QueuedUpdate[] = [];
    const items = new Set<string>();
    for (let index = 0; index < this.queued.length && group.length < MAX_TRANSACTION_ITEMS; ) {
      const entry = this.queued[index] as QueuedUpdate;
      const item = `${entry.update.Key.pk}\u0000${entry.update.Key.sk}`;
      if (items.has(item)) {
        index += 1;
        continue;
      }
      items.add(item);
      group.push(entry);
      this.queued.splice(index, 1);
    }
    return group;
  }

  private async flush(group: QueuedUpdate[]): Promise<void> {
    let members = group;
    while (members.length > 1) {
      const TransactItems = members.map(({ update }) => ({ Update: { ...update, TableName: this.table.tableName } }));
      try {
        await this.table.db.send(new TransactWriteCommand({ TransactItems }));
        for (const member of members) member.answer.resolve(true);
        return;
      } catch (error) {
        const codes =
          error instanceof TransactionCanceledException ? (error.CancellationReasons ?? []).map((r) => r.Code) : [];
        const refused = new Set(members.filter((_, index) => codes[index] === 'ConditionalCheckFailed'));
        if (refused.size === 0) {
          for (const member of members) member.answer.reject(error);
          return;
        }
        for (const member of refused) member.answer.resolve(false);
        members = members.filter((member) => !refused.has(member));
      }
    }
    const [single] = members;
    if (single) await this.updateOne(single);
  }

  private async updateOne({ update, answer }: QueuedUpdate): Promise<void> {
    try {
      await this.table.db.send(new UpdateCommand({ ...update, TableName: this.table.tableName }));
      answer.resolve(true);
    } catch (error) {
      if (isConditionFailure(error)) answer.resolve(false);
      else answer.reject(error);
    }
  }
}
