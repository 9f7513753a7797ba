import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Deal, Decision, EventResult, HistoryEntry, Source } from '../core/deal.ts';
import { BadRequestError, ConcurrentUpdateError } from '../core/errors.ts';
import type { PipelineConfig, VersionedPipeline } from '../core/pipeline-config.ts';

/**
 * The single-table design (see README "Data model"):
 *
 * | item              | pk                              | sk                      | gsi1pk / gsi1sk                      |
 * |-------------------|---------------------------------|-------------------------|--------------------------------------|
 * | deal              | DEAL#<pipeline>#<dealId>        | DEAL                    | STAGE#<pipeline>#<stage> / <updatedAt>#<dealId> |
 * | history entry     | DEAL#<pipeline>#<dealId>        | HISTORY#<version>#<n>   |                                      |
 * | event record      | EVENT#<source>#<eventId>        | EVENT                   |                                      |
 * | approval          | APPROVAL#<approvalId>           | APPROVAL                |                                      |
 * | pipeline config   | PIPELINE#<pipeline>             | VERSION#<version>       |                                      |
 * | live version      | PIPELINE#<pipeline>             | LIVE                    |                                      |
 *
 * The deal item carries `version` for optimistic locking; history items are written once and never changed; an event
 * record is written in the same transaction as the decision it caused, so an event applies exactly once.
 */

export const TABLE_KEYS = { partition: 'pk', sort: 'sk', stageIndex: 'byStage', ttl: 'ttl' } as const;
const EVENT_RECORD_DAYS = 90;

/** What the workflow needs on the deal item: which execution runs it and the task token it waits on. */
export interface WorkflowState {
  executionArn: string | null;
  /** Bumped each time a new execution takes over the deal (continue-as-new, restart). */
  generation: number;
  waitToken: string | null;
  waitStage: string | null;
  /** The stage visit whose entry guidance was already emailed to the owner. */
  notifiedVisit: number;
}

export interface StoredDeal {
  deal: Deal;
  version: number;
  workflow: WorkflowState;
}

export interface EventRecord {
  source: Source;
  eventId: string;
  pipeline: string;
  dealId: string;
  result: EventResult;
  recordedAt: string;
  /** False until the workflow was told; a redelivery of an event not handed off hands it off again. */
  handedOff: boolean;
}

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

/** Thrown when the event was recorded before: the transaction's not-seen condition failed. */
export class DuplicateEventError extends Error {
  constructor(source: Source, eventId: string) {
    super(`event ${source}:${eventId} was already recorded`);
    this.name = 'DuplicateEventError';
  }
}

const dealKey = (pipeline: string, dealId: string) => ({ pk: `DEAL#${pipeline}#${dealId}`, sk: 'DEAL' });
const eventKey = (source: Source, eventId: string) => ({ pk: `EVENT#${source}#${eventId}`, sk: 'EVENT' });
const approvalKey = (approvalId: string) => ({ pk: `APPROVAL#${approvalId}`, sk: 'APPROVAL' });
const pipelineKey = (pipeline: string, version: string) => ({ pk: `PIPELINE#${pipeline}`, sk: `VERSION#${version}` });
const liveKey = (pipeline: string) => ({ pk: `PIPELINE#${pipeline}`, sk: 'LIVE' });
const stageIndexKeys = (deal: Deal) => ({
  gsi1pk: `STAGE#${deal.pipeline}#${deal.stage}`,
  gsi1sk: `${deal.updatedAt}#${deal.dealId}`,
});
const epochSeconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

const NEW_WORKFLOW: WorkflowState = {
  executionArn: null,
  generation: 0,
  waitToken: null,
  waitStage: null,
  notifiedVisit: 0,
};

export interface CommitInput {
  /** The deal as read before deciding (null for a new deal): its version is the write condition. */
  before: StoredDeal | null;
  decision: Decision;
  /** The event that caused the decision; its record makes the write happen at most once. */
  event?: EventRecord;
  /** Changes to the workflow state written with the deal. */
  workflow?: Partial<WorkflowState>;
  /** What was decided, kept on the deal item for the consumers of the table's stream (CONTRACT seam: the outbox). */
  lastDecision?: LastDecision;
}

/** The decision behind a deal write, as the stream's consumers read it from the new image. */
export interface LastDecision {
  /** The deal item version this decision wrote. */
  version: number;
  kind: 'event' | 'approval' | 'expiry' | 'config' | 'crm_sync';
  outcome: Decision['outcome'];
  reasons: Decision['reasons'];
  eventId: string | null;
  source: HistoryEntry['source'];
  at: string;
  /** For `config`: the config versions the deal moved from and to. */
  configFrom?: string;
  configTo?: string;
}

/** The deal item as `commit` will write it (the deal as it was when the decision changes nothing). */
export function storedAfter({ before, decision, workflow }: Omit<CommitInput, 'event'>): StoredDeal | null {
  if (!decision.deal) return before;
  return {
    deal: decision.deal,
    version: (before?.version ?? 0) + 1,
    workflow: { ...(before?.workflow ?? NEW_WORKFLOW), ...workflow },
  };
}

/** DynamoDB access for deals, their history, event records, approvals and stored pipeline configs. */
export class DealRepository {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async getDeal(pipeline: string, dealId: string): Promise<StoredDeal | null> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: dealKey(pipeline, dealId), ConsistentRead: true }),
    );
    return Item ? toStoredDeal(Item) : null;
  }

  async getHistory(pipeline: string, dealId: string): Promise<HistoryEntry[]> {
    const entries: HistoryEntry[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :history)',
          ExpressionAttributeValues: { ':pk': dealKey(pipeline, dealId).pk, ':history': 'HISTORY#' },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) entries.push(item.entry as HistoryEntry);
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return entries;
  }

  /** Deals of one pipeline in one stage, newest change first, through the stage index (never a scan). */
  async listDeals(
    pipeline: string,
    stage: string,
    page: { limit: number; nextToken?: string },
  ): Promise<{ deals: StoredDeal[]; nextToken: string | null }> {
    const result = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: TABLE_KEYS.stageIndex,
        KeyConditionExpression: 'gsi1pk = :stage',
        ExpressionAttributeValues: { ':stage': `STAGE#${pipeline}#${stage}` },
        ScanIndexForward: false,
        Limit: page.limit,
        ExclusiveStartKey: page.nextToken ? decodePageToken(page.nextToken) : undefined,
      }),
    );
    return {
      deals: (result.Items ?? []).map(toStoredDeal),
      nextToken: result.LastEvaluatedKey ? encodePageToken(result.LastEvaluatedKey) : null,
    };
  }

  /**
   * Writes a decision in one transaction: the event record (condition: never seen), the deal (condition: unchanged
   * since read) and its new history entries. Throws DuplicateEventError or ConcurrentUpdateError.
   */
  async commit({ before, decision, event, workflow, lastDecision }: CommitInput): Promise<StoredDeal | null> {
    const items: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']> = [];
    if (event) {
      items.push({
        Put: {
          TableName: this.tableName,
          Item: {
            ...eventKey(event.source, event.eventId),
            record: event,
            [TABLE_KEYS.ttl]: epochSeconds(event.recordedAt) + EVENT_RECORD_DAYS * 86_400,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      });
    }
    const stored = storedAfter({ before, decision, workflow });
    if (decision.deal && stored) {
      const { version } = stored;
      items.push({
        Put: {
          TableName: this.tableName,
          Item: {
            ...dealKey(decision.deal.pipeline, decision.deal.dealId),
            ...stageIndexKeys(decision.deal),
            ...stored,
            ...(lastDecision ? { lastDecision } : {}),
          },
          ...versionCondition(before),
        },
      });
      decision.history.forEach((entry, n) => {
        items.push({
          Put: {
            TableName: this.tableName,
            Item: {
              pk: dealKey(decision.deal?.pipeline ?? '', decision.deal?.dealId ?? '').pk,
              sk: `HISTORY#${String(version).padStart(10, '0')}#${String(n).padStart(3, '0')}`,
              entry,
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        });
      });
    }
    if (items.length === 0) return stored;
    try {
      await this.db.send(new TransactWriteCommand({ TransactItems: items }));
    } catch (error) {
      throw translateCancellation(error, event);
    }
    return stored;
  }

  /** Changes only the workflow state of a deal, under the same optimistic lock as every deal write. */
  async updateWorkflow(before: StoredDeal, workflow: Partial<WorkflowState>, deal?: Deal): Promise<StoredDeal> {
    const next: StoredDeal = {
      deal: deal ?? before.deal,
      version: before.version + 1,
      workflow: { ...before.workflow, ...workflow },
    };
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...dealKey(next.deal.pipeline, next.deal.dealId), ...stageIndexKeys(next.deal), ...next },
          ...versionCondition(before),
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) {
        throw new ConcurrentUpdateError(`deal ${before.deal.dealId} changed meanwhile`, { cause: error });
      }
      throw error;
    }
    return next;
  }

  async getEvent(source: Source, eventId: string): Promise<EventRecord | null> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: eventKey(source, eventId), ConsistentRead: true }),
    );
    return Item ? (Item.record as EventRecord) : null;
  }

  async markHandedOff(source: Source, eventId: string): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: eventKey(source, eventId),
        UpdateExpression: 'SET #record.handedOff = :true',
        ExpressionAttributeNames: { '#record': 'record' },
        ExpressionAttributeValues: { ':true': true },
      }),
    );
  }

  async getApproval(approvalId: string): Promise<ApprovalRecord | null> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: approvalKey(approvalId), ConsistentRead: true }),
    );
    return Item ? (Item.approval as ApprovalRecord) : null;
  }

  async putApproval(approval: ApprovalRecord): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...approvalKey(approval.approvalId),
          approval,
          [TABLE_KEYS.ttl]: epochSeconds(approval.expiresAt) + EVENT_RECORD_DAYS * 86_400,
        },
      }),
    );
  }

  async putPipelineVersion(pipeline: VersionedPipeline): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...pipelineKey(pipeline.config.pipeline, pipeline.version), ...pipeline },
      }),
    );
  }

  /** Every stored version of a pipeline (one per deployed config), e.g. to resume deals pinned to older ones. */
  async listPipelineVersions(pipeline: string): Promise<VersionedPipeline[]> {
    const versions: VersionedPipeline[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :version)',
          ExpressionAttributeValues: { ':pk': `PIPELINE#${pipeline}`, ':version': 'VERSION#' },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        versions.push({ config: item.config as PipelineConfig, version: item.version as string });
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return versions;
  }

  /** The version of a pipeline that went live last (its open deals were moved to it), or null before the first. */
  async getLiveVersion(pipeline: string): Promise<string | null> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: liveKey(pipeline), ConsistentRead: true }),
    );
    return Item ? (Item.version as string) : null;
  }

  /** Records which version of a pipeline is live: what `config:plan` compares a file against. */
  async putLiveVersion(pipeline: string, version: string, at: string): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.tableName, Item: { ...liveKey(pipeline), version, at } }));
  }

  async getPipelineVersion(pipeline: string, version: string): Promise<VersionedPipeline | null> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: pipelineKey(pipeline, version) }),
    );
    return Item ? { config: Item.config as PipelineConfig, version: Item.version as string } : null;
  }
}

function versionCondition(before: StoredDeal | null) {
  return before
    ? { ConditionExpression: 'version = :version', ExpressionAttributeValues: { ':version': before.version } }
    : { ConditionExpression: 'attribute_not_exists(pk)' };
}

function toStoredDeal(item: Record<string, unknown>): StoredDeal {
  return { deal: item.deal as Deal, version: item.version as number, workflow: item.workflow as WorkflowState };
}

function isConditionFailure(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
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

function encodePageToken(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function decodePageToken(token: string): Record<string, unknown> {
  try {
    const key: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (key !== null && typeof key === 'object' && !Array.isArray(key)) return key as Record<string, unknown>;
  } catch {
    // fall through to the refusal below
  }
  throw new BadRequestError(
    'INVALID_NEXT_TOKEN',
    "nextToken is not one this API returned — pass the value of a previous answer's nextToken unchanged",
  );
}
