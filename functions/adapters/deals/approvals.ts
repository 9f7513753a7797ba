import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { approvalKey, KEPT_DAYS, TABLE_KEYS, ttlAfter } from './keys.ts';
import { isConditionFailure, type TableRef } from './table-ref.ts';

/** What the server keeps about one approval request besides the deal: its review links and its workflow task. */
export interface ApprovalRecord {
  approvalId: string;
  pipeline: string;
  dealId: string;
  role: string;
  /** Keyed hashes of the review-link tokens sent for this request (the first email and the reminder). */
  tokenHashes: string[];
  /** The Step Functions task token waiting on this approval; never leaves the server. */
  taskToken: string | null;
  emailedAt: string | null;
  remindedAt: string | null;
  expiresAt: string;
}

/** What identifies an approval item, given with every update so that the first one creates it whole. */
export type ApprovalBase = Pick<ApprovalRecord, 'approvalId' | 'pipeline' | 'dealId' | 'role' | 'expiresAt'>;

/**
 * The approval items. An item is updated attribute by attribute (created if absent), so a task token attached by the
 * workflow and a link added by the outbox never overwrite each other.
 */
export class ApprovalItems {
  constructor(private readonly table: TableRef) {}

  async get(approvalId: string): Promise<ApprovalRecord | null> {
    const { Item } = await this.table.db.send(
      new GetCommand({ TableName: this.table.tableName, Key: approvalKey(approvalId), ConsistentRead: true }),
    );
    if (!Item) return null;
    // Items written before the outbox kept the record under one attribute.
    const record = (Item.approval ?? Item) as ApprovalRecord;
    return {
      approvalId: record.approvalId,
      pipeline: record.pipeline,
      dealId: record.dealId,
      role: record.role,
      tokenHashes: record.tokenHashes ?? [],
      taskToken: record.taskToken ?? null,
      emailedAt: record.emailedAt ?? null,
      remindedAt: record.remindedAt ?? null,
      expiresAt: record.expiresAt,
    };
  }

  /** Stores the task token the workflow waits with on this approval. */
  async attachTaskToken(base: ApprovalBase, taskToken: string): Promise<void> {
    await this.update(base, 'SET taskToken = :taskToken', { ':taskToken': taskToken });
  }

  /** Adds the hash of a review-link token about to be emailed; links emailed before stay valid. */
  async addReviewToken(base: ApprovalBase, tokenHash: string): Promise<void> {
    await this.update(base, 'SET tokenHashes = list_append(if_not_exists(tokenHashes, :none), :hash)', {
      ':hash': [tokenHash],
      ':none': [],
    });
  }

  /** Records that the request (`emailedAt`) or its reminder (`remindedAt`) reached the mail service. */
  async markSent(base: ApprovalBase, sent: 'emailedAt' | 'remindedAt', at: string): Promise<void> {
    await this.update(base, `SET ${sent} = :at`, { ':at': at });
  }

  /** Points an approval at the deal that now carries it (the survivor of a CRM merge); an unstored one is left. */
  async moveToDeal(approvalId: string, dealId: string): Promise<void> {
    try {
      await this.table.db.send(
        new UpdateCommand({
          TableName: this.table.tableName,
          Key: approvalKey(approvalId),
          UpdateExpression: 'SET dealId = :dealId',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':dealId': dealId },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  private async update(base: ApprovalBase, update: string, values: Record<string, unknown>) {
    await this.table.db.send(
      new UpdateCommand({
        TableName: this.table.tableName,
        Key: approvalKey(base.approvalId),
        UpdateExpression: `${update}, approvalId = :approvalId, pipeline = if_not_exists(pipeline, :pipeline), dealId = if_not_exists(dealId, :dealId), #role = if_not_exists(#role, :role), expiresAt = :expiresAt, #ttl = :ttl`,
        ExpressionAttributeNames: { '#role': 'role', '#ttl': TABLE_KEYS.ttl },
        ExpressionAttributeValues: {
          ...values,
          ':approvalId': base.approvalId,
          ':pipeline': base.pipeline,
          ':dealId': base.dealId,
          ':role': base.role,
          ':expiresAt': base.expiresAt,
          ':ttl': ttlAfter(base.expiresAt, KEPT_DAYS.approval),
        },
      }),
    );
  }
}
