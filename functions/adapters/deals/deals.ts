import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Deal, HistoryEntry } from '../../core/deal.ts';
import { ConcurrentUpdateError, DealTooLargeError } from '../../core/errors.ts';
import {
  type CrmState,
  type DealWrite,
  type LastDecision,
  type StoredDeal,
  storedAfter,
  type WorkflowState,
} from '../../core/stored-deal.ts';
import { DuplicateEventError, type EventRecord, eventRecordPut } from './events.ts';
import {
  copiedHistoryKey,
  dealKey,
  HISTORY_PREFIX,
  historyKey,
  historyVersionPrefix,
  ownerKeys,
  stageIndexKeys,
} from './keys.ts';
import { isConditionFailure, queryAll, type TableRef, type TransactPart } from './table-ref.ts';

/** One decision to commit, with the event that caused it. */
export interface CommitInput extends DealWrite {
  /** The event that caused the decision; its record makes the write happen at most once. */
  event?: EventRecord;
  /** Other writes that stand or fall with the decision (a completed write-back under its lease). */
  alongside?: TransactPart[];
}

/** A condition of a write committed {@link CommitInput.alongside} the decision failed: nothing was written. */
export class AlongsideWriteFailedError extends Error {
  constructor(options?: ErrorOptions) {
    super('a write that goes with the decision was refused; nothing was written', options);
    this.name = 'AlongsideWriteFailedError';
  }
}

/** A deal as its table item: keys, stage index keys and the stored deal (for bulk loads such as the benchmark's). */
export function dealItem(stored: StoredDeal): Record<string, unknown> {
  return {
    ...dealKey(stored.deal.pipeline, stored.deal.dealId),
    ...stageIndexKeys(stored.deal),
    ...ownerKeys(stored.deal),
    ...stored,
  };
}

/** A deal item (a query result or a stream image) as the use cases see it. */
export function toStoredDeal(item: Record<string, unknown>): StoredDeal {
  const stored: StoredDeal = {
    deal: item.deal as Deal,
    version: item.version as number,
    workflow: item.workflow as WorkflowState,
  };
  if (item.lastDecision) stored.lastDecision = item.lastDecision as LastDecision;
  if (item.crm) stored.crm = item.crm as CrmState;
  return stored;
}

/** The deal items and their history: read, committed with the event that caused a decision, or moved by the workflow. */
export class DealItems {
  constructor(private readonly table: TableRef) {}

  async get(pipeline: string, dealId: string): Promise<StoredDeal | null> {
    const { Item } = await this.table.db.send(
      new GetCommand({ TableName: this.table.tableName, Key: dealKey(pipeline, dealId), ConsistentRead: true }),
    );
    return Item ? toStoredDeal(Item) : null;
  }

  /**
   * The deal and its history as of the same version: the deal is read first, then (consistently) the history
   * entries of its versions up to that one. Read side by side, a decision committed between the two reads could
   * show the deal after it and the history before it.
   */
  async withHistory(pipeline: string, dealId: string): Promise<{ stored: StoredDeal; history: HistoryEntry[] } | null> {
    const stored = await this.get(pipeline, dealId);
    return stored ? { stored, history: await this.history(pipeline, dealId, stored.version) } : null;
  }

  /** A deal's history entries, oldest first: all of them, or those of its versions up to `throughVersion`. */
  private async history(pipeline: string, dealId: string, throughVersion?: number): Promise<HistoryEntry[]> {
    const items = await queryAll(this.table, {
      ...(throughVersion === undefined
        ? {
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :first)',
            ExpressionAttributeValues: { ':pk': dealKey(pipeline, dealId).pk, ':first': HISTORY_PREFIX },
          }
        : {
            KeyConditionExpression: 'pk = :pk AND sk BETWEEN :first AND :last',
            ExpressionAttributeValues: {
              ':pk': dealKey(pipeline, dealId).pk,
              ':first': HISTORY_PREFIX,
              // `$` sorts after `#`: every entry of that version, none of a later one.
              ':last': `${historyVersionPrefix(throughVersion)}$`,
            },
          }),
      ConsistentRead: true,
    });
    return items.map((item) => item.entry as HistoryEntry);
  }

  /**
   * Writes a decision in one transaction: the event record (condition: never seen), the deal (condition: unchanged
   * since read) and its new history entries. Throws DuplicateEventError or ConcurrentUpdateError.
   */
  async commit({ event, alongside = [], ...write }: CommitInput): Promise<StoredDeal | null> {
    const { tableName } = this.table;
    const items: TransactPart[] = [];
    if (event) items.push({ Put: eventRecordPut(tableName, event) });
    const stored = storedAfter(write);
    const { deal } = write.decision;
    if (deal && stored) {
      items.push({ Put: { TableName: tableName, Item: dealItem(stored), ...versionCondition(write.before) } });
      write.decision.history.forEach((entry, n) => {
        items.push({
          Put: {
            TableName: tableName,
            Item: { ...historyKey(deal.pipeline, deal.dealId, stored.version, n), entry },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        });
      });
    }
    const ownParts = items.length;
    items.push(...alongside);
    if (items.length === 0) return stored;
    try {
      await this.table.db.send(new TransactWriteCommand({ TransactItems: items }));
    } catch (error) {
      const codes = error instanceof TransactionCanceledException ? (error.CancellationReasons ?? []) : [];
      if (codes.slice(ownParts).some((reason) => reason.Code === 'ConditionalCheckFailed')) {
        throw new AlongsideWriteFailedError({ cause: error });
      }
      const subject = write.decision.deal ?? write.before?.deal;
      if (subject && isItemTooLarge(error))
        throw new DealTooLargeError(subject.pipeline, subject.dealId, { cause: error });
      throw translateCancellation(error, event);
    }
    return stored;
  }

  /**
   * Copies a deal's history to another deal (the survivor of a CRM merge continues it), ahead of that deal's own
   * entries. Repeating it writes the same items again.
   */
  async copyHistory(pipeline: string, fromDealId: string, toDealId: string): Promise<void> {
    const entries = await this.history(pipeline, fromDealId);
    for (const [n, entry] of entries.entries()) {
      await this.table.db.send(
        new PutCommand({
          TableName: this.table.tableName,
          Item: { ...copiedHistoryKey(pipeline, toDealId, n), entry },
        }),
      );
    }
  }

  /**
   * Changes the workflow state of a deal (and, with `deal`, the deal itself), under the same optimistic lock as every
   * deal write. A change of the workflow state alone updates those attributes only.
   */
  async updateWorkflow(before: StoredDeal, workflow: Partial<WorkflowState>, deal?: Deal): Promise<StoredDeal> {
    const next: StoredDeal = {
      ...before,
      deal: deal ?? before.deal,
      version: before.version + 1,
      workflow: { ...before.workflow, ...workflow },
    };
    if (deal === undefined) {
      if (!(await this.updateWorkflowAt(before.deal.pipeline, before.deal.dealId, before.version, workflow))) {
        throw new ConcurrentUpdateError(`deal ${before.deal.dealId} changed meanwhile`);
      }
      return next;
    }
    try {
      await this.table.db.send(
        new PutCommand({ TableName: this.table.tableName, Item: dealItem(next), ...versionCondition(before) }),
      );
    } catch (error) {
      if (isItemTooLarge(error)) throw new DealTooLargeError(next.deal.pipeline, next.deal.dealId, { cause: error });
      if (isConditionFailure(error)) {
        throw new ConcurrentUpdateError(`deal ${before.deal.dealId} changed meanwhile`, { cause: error });
      }
      throw error;
    }
    return next;
  }

  /**
   * Changes only the workflow state of the deal at `version`, without reading it first: true once written, false
   * when the deal is at another version (or gone), which the caller then reads and decides again.
   */
  async updateWorkflowAt(
    pipeline: string,
    dealId: string,
    version: number,
    workflow: Partial<WorkflowState>,
  ): Promise<boolean> {
    const fields = Object.entries(workflow);
    try {
      await this.table.db.send(
        new UpdateCommand({
          TableName: this.table.tableName,
          Key: dealKey(pipeline, dealId),
          UpdateExpression: `SET version = :next, ${fields.map((_, i) => `workflow.#f${i} = :f${i}`).join(', ')}`,
          ConditionExpression: 'version = :version',
          ExpressionAttributeNames: Object.fromEntries(fields.map(([name], i) => [`#f${i}`, name])),
          ExpressionAttributeValues: {
            ':version': version,
            ':next': version + 1,
            ...Object.fromEntries(fields.map(([, value], i) => [`:f${i}`, value])),
          },
        }),
      );
      return true;
    } catch (error) {
      if (isItemTooLarge(error)) throw new DealTooLargeError(pipeline, dealId, { cause: error });
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }
}

function versionCondition(before: StoredDeal | null) {
  return before
    ? { ConditionExpression: 'version = :version', ExpressionAttributeValues: { ':version': before.version } }
    : { ConditionExpression: 'attribute_not_exists(pk)' };
}

function translateCancellation(error: unknown, event: EventRecord | undefined): unknown {
  if (!(error instanceof TransactionCanceledException)) return error;
  const codes = (error.CancellationReasons ?? []).map((reason) => reason.Code);
  if (event && codes[0] === 'ConditionalCheckFailed') return new DuplicateEventError(event.source, event.eventId);
  if (codes.includes('ConditionalCheckFailed') || codes.includes('TransactionConflict')) {
    return new ConcurrentUpdateError('the deal changed while the decision was taken', { cause: error });
  }
  return error;
}

/**
 * DynamoDB's refusal of an item over its size limit, in either of its shapes: a `ValidationException` for the
 * request, or a transaction cancelled with a `ValidationError` reason.
 */
function isItemTooLarge(error: unknown): boolean {
  if (error instanceof TransactionCanceledException) {
    return (error.CancellationReasons ?? []).some(
      (reason) => reason.Code === 'ValidationError' && /item size/i.test(reason.Message ?? ''),
    );
  }
  return error instanceof Error && error.name === 'ValidationException' && /item size/i.test(error.message);
}
