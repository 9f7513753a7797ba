import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Deal, Decision, EventResult, HistoryEntry, Outcome, Source } from '../core/deal.ts';
import type { Reason } from '../core/decide/reasons.ts';
import { BadRequestError, ConcurrentUpdateError } from '../core/errors.ts';
import type { PipelineConfig, VersionedPipeline } from '../core/pipeline-config.ts';

/**
 * The single-table design (see README "Data model"):
 *
 * | item              | pk                              | sk                      | gsi1pk / gsi1sk                      |
 * |-------------------|---------------------------------|-------------------------|--------------------------------------|
 * | deal              | DEAL#<pipeline>#<dealId>        | DEAL                    | STAGE#<pipeline>#<stage>#<shard> / <stageEventAt>#<dealId> |
 * | history entry     | DEAL#<pipeline>#<dealId>        | HISTORY#<version>#<n>   |                                      |
 * | event record      | EVENT#<source>#<eventId>        | EVENT                   |                                      |
 * | approval          | APPROVAL#<approvalId>           | APPROVAL                |                                      |
 * | pipeline config   | PIPELINE#<pipeline>             | VERSION#<version>       |                                      |
 * | live version      | PIPELINE#<pipeline>             | LIVE                    |                                      |
 * | side-effect marks | OUTBOX#<pipeline>#<dealId>      | <deal version>          |                                      |
 * | daily notice      | NOTICE#<pipeline>#<dealId>      | <day>#<notice key>      |                                      |
 *
 * The deal item carries `version` for optimistic locking; history items are written once and never changed; an event
 * record is written in the same transaction as the decision it caused, so an event applies exactly once. Every
 * decision also stamps `lastDecision` on the deal item, so the table's stream (old and new image) tells the outbox
 * what was decided; side-effect marks record which effects of a decision are done, so a retried batch repeats none.
 *
 * The `byStage` index key moves only when the deal changes stage: its sort key is the stage entry time (the CRM's
 * `occurredAt`, so a range on it finds the deals stale in a stage), and its partition is split into
 * {@link STAGE_INDEX_SHARDS} shards by deal id, so the deals of one large stage spread their index writes over several
 * partitions instead of one hot one (the index projects the whole item, so every deal write reaches it).
 */

export const TABLE_KEYS = { partition: 'pk', sort: 'sk', stageIndex: 'byStage', ttl: 'ttl' } as const;
const EVENT_RECORD_DAYS = 90;
const OUTBOX_MARK_DAYS = 30;

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

/** What kind of input a decision answered. */
export type DecisionKind = 'event' | 'approval' | 'expiry' | 'config' | 'reminder' | 'crm_sync';

/**
 * The decision the deal item was last written with (PLAN seam 1): the side-effect consumer derives every effect from
 * a stream record's old and new image, and this says what happened between them. Workflow-only writes keep it as it
 * is, so a record whose `lastDecision.version` did not change carries no decision.
 */
export interface LastDecision {
  /** The deal item version this decision was written at. */
  version: number;
  kind: DecisionKind;
  outcome: Outcome;
  reasons: Reason[];
  eventId: string | null;
  source: Source | 'approval' | 'workflow' | 'config' | null;
  /** Who made the change at the source (a CRM's own marker), when the source says. */
  origin?: string;
  at: string;
  occurredAt?: string;
  /** The stage the event asked for (a refused or held move's target). */
  target?: string;
  /** The approval a reminder, expiry or approver's decision is about. */
  approvalId?: string;
  /** True when the event was Stageflow's own CRM write coming back (CONTRACT 3.5). */
  echo?: boolean;
}

/** The CRM a deal came from, and Stageflow's recent stage writes to it: an echo of one of them never moves the deal. */
export interface CrmState {
  source: 'hubspot' | 'pipedrive' | 'salesforce';
  writes: { stage: string; at: string }[];
}

export interface StoredDeal {
  deal: Deal;
  version: number;
  workflow: WorkflowState;
  lastDecision?: LastDecision;
  crm?: CrmState;
}

export interface EventRecord {
  source: Source;
  eventId: string;
  pipeline: string;
  dealId: string;
  result: EventResult;
  recordedAt: string;
}

/** What identifies an approval item, given with every update so that the first one creates it whole. */
export type ApprovalBase = Pick<ApprovalRecord, 'approvalId' | 'pipeline' | 'dealId' | 'role' | 'expiresAt'>;

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
const outboxKey = (pipeline: string, dealId: string, version: number) => ({
  pk: `OUTBOX#${pipeline}#${dealId}`,
  sk: String(version).padStart(10, '0'),
});
const pipelineKey = (pipeline: string, version: string) => ({ pk: `PIPELINE#${pipeline}`, sk: `VERSION#${version}` });
const liveKey = (pipeline: string) => ({ pk: `PIPELINE#${pipeline}`, sk: 'LIVE' });

/**
 * How many partitions of the `byStage` index one stage is split into. Items keep the shard they were written with, so
 * this number and {@link stageShard} must never change once deals are stored.
 */
export const STAGE_INDEX_SHARDS = 8;

/** The index shard of a deal: a stable hash (FNV-1a) of its id. */
export function stageShard(dealId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < dealId.length; i++) {
    hash ^= dealId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % STAGE_INDEX_SHARDS;
}

const stagePartition = (pipeline: string, stage: string, shard: number) => `STAGE#${pipeline}#${stage}#${shard}`;
const stageIndexKeys = (deal: Deal) => ({
  gsi1pk: stagePartition(deal.pipeline, deal.stage, stageShard(deal.dealId)),
  gsi1sk: `${deal.stageEventAt}#${deal.dealId}`,
});

/** The attributes of a deal that a query asked for; the id is always among them. */
export type DealAttributes = Pick<Deal, 'dealId'> & Partial<Deal>;

/** A deal as its table item: keys, stage index keys and the stored deal (for bulk loads such as the benchmark's). */
export function dealItem(stored: StoredDeal): Record<string, unknown> {
  return { ...dealKey(stored.deal.pipeline, stored.deal.dealId), ...stageIndexKeys(stored.deal), ...stored };
}

/** Which deals of a stage {@link DealRepository.queryStage} reads, and which of their attributes. */
export interface StageQuery {
  /** Paths inside the deal to read, e.g. `['dealName']`, `['fields', 'amount']`; the deal id is always read. */
  attributes: string[][];
  /** Only deals that entered the stage before this time (ISO): the stale ones. */
  enteredBefore?: string;
  /** Only deals that entered the stage at or after this time (ISO). */
  enteredSince?: string;
  /** Only deals of this owner (email address). */
  ownerEmail?: string;
  /** Only the deals longest in the stage, at most this many (read as the first of each shard, oldest entry first). */
  oldest?: number;
}
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
  /** What was decided, for the outbox; the repository stamps the version. */
  lastDecision?: Omit<LastDecision, 'version'>;
  /** Stageflow's CRM writes, when this commit records one. */
  crm?: CrmState;
}

/** The deal item as `commit` will write it (the deal as it was when the decision changes nothing). */
export function storedAfter({
  before,
  decision,
  workflow,
  lastDecision,
  crm,
}: Omit<CommitInput, 'event'>): StoredDeal | null {
  if (!decision.deal) return before;
  const version = (before?.version ?? 0) + 1;
  const stored: StoredDeal = {
    deal: decision.deal,
    version,
    workflow: { ...(before?.workflow ?? NEW_WORKFLOW), ...workflow },
  };
  const decided = lastDecision ? { ...lastDecision, version } : before?.lastDecision;
  if (decided) stored.lastDecision = decided;
  const crmState = crm ?? before?.crm;
  if (crmState) stored.crm = crmState;
  return stored;
}

/** The decision a stream record carries: null when the write only changed the workflow state. */
export function decisionOf(before: StoredDeal | null, after: StoredDeal): LastDecision | null {
  const decided = after.lastDecision;
  if (!decided || decided.version !== after.version) return null;
  return before?.lastDecision?.version === decided.version ? null : decided;
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

  /**
   * Deals of one pipeline in one stage, one page at a time through the stage index (never a scan): shard by shard,
   * the most recent stage entries first within a shard.
   */
  async listDeals(
    pipeline: string,
    stage: string,
    page: { limit: number; nextToken?: string },
  ): Promise<{ deals: StoredDeal[]; nextToken: string | null }> {
    const deals: StoredDeal[] = [];
    let { shard, key } = page.nextToken ? decodePageToken(page.nextToken) : { shard: 0, key: undefined };
    while (shard < STAGE_INDEX_SHARDS && deals.length < page.limit) {
      const result = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
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
   * shards of the stage index read in parallel, each to its end or its first `oldest` (never a scan).
   */
  async queryStage(pipeline: string, stage: string, query: StageQuery): Promise<DealAttributes[]> {
    const names: Record<string, string> = { '#deal': 'deal' };
    const nameOf = (part: string) => {
      const existing = Object.entries(names).find(([, name]) => name === part)?.[0];
      if (existing) return existing;
      const placeholder = `#a${Object.keys(names).length}`;
      names[placeholder] = part;
      return placeholder;
    };
    const paths = [['dealId'], ...query.attributes].map((path) => ['#deal', ...path.map(nameOf)].join('.'));
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
    if (query.ownerEmail !== undefined) {
      filter = `#deal.${nameOf('owner')}.${nameOf('email')} = :owner`;
      values[':owner'] = query.ownerEmail;
    }
    const readShard = async (shard: number) => {
      const deals: DealAttributes[] = [];
      let startKey: Record<string, unknown> | undefined;
      do {
        const page = await this.db.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: TABLE_KEYS.stageIndex,
            KeyConditionExpression: `gsi1pk = :stage${range}`,
            FilterExpression: filter,
            ProjectionExpression: [...new Set(paths)].join(', '),
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: { ...values, ':stage': stagePartition(pipeline, stage, shard) },
            ExclusiveStartKey: startKey,
            Limit: query.oldest,
          }),
        );
        for (const item of page.Items ?? []) deals.push(item.deal as DealAttributes);
        startKey = query.oldest === undefined ? page.LastEvaluatedKey : undefined;
      } while (startKey);
      return deals;
    };
    const shards = await Promise.all(Array.from({ length: STAGE_INDEX_SHARDS }, (_, shard) => readShard(shard)));
    const deals = shards.flat();
    if (query.oldest === undefined) return deals;
    const entered = (deal: DealAttributes) => deal.stageEventAt ?? '';
    return deals.sort((a, b) => entered(a).localeCompare(entered(b))).slice(0, query.oldest);
  }

  /**
   * Writes a decision in one transaction: the event record (condition: never seen), the deal (condition: unchanged
   * since read) and its new history entries. Throws DuplicateEventError or ConcurrentUpdateError.
   */
  async commit({ before, decision, event, workflow, lastDecision, crm }: CommitInput): Promise<StoredDeal | null> {
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
    const stored = storedAfter({ before, decision, workflow, lastDecision, crm });
    if (decision.deal && stored) {
      const { version } = stored;
      items.push({
        Put: {
          TableName: this.tableName,
          Item: {
            ...dealKey(decision.deal.pipeline, decision.deal.dealId),
            ...stageIndexKeys(decision.deal),
            ...stored,
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
      ...before,
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

  async getApproval(approvalId: string): Promise<ApprovalRecord | null> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: approvalKey(approvalId), ConsistentRead: true }),
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

  /**
   * Stores the task token the workflow waits with on this approval. The approval item is updated attribute by
   * attribute (created if absent), so a token attached by the workflow and a link added by the outbox never overwrite
   * each other.
   */
  async attachTaskToken(base: ApprovalBase, taskToken: string): Promise<void> {
    await this.updateApproval(base, 'SET taskToken = :taskToken', { ':taskToken': taskToken });
  }

  /** Adds the hash of a review-link token about to be emailed; links emailed before stay valid. */
  async addReviewToken(base: ApprovalBase, tokenHash: string): Promise<void> {
    await this.updateApproval(base, 'SET tokenHashes = list_append(if_not_exists(tokenHashes, :none), :hash)', {
      ':hash': [tokenHash],
      ':none': [],
    });
  }

  /** Records that the request (`emailedAt`) or its reminder (`remindedAt`) reached the mail service. */
  async markApprovalSent(base: ApprovalBase, sent: 'emailedAt' | 'remindedAt', at: string): Promise<void> {
    await this.updateApproval(base, `SET ${sent} = :at`, { ':at': at });
  }

  private async updateApproval(base: ApprovalBase, update: string, values: Record<string, unknown>) {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
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
          ':ttl': epochSeconds(base.expiresAt) + EVENT_RECORD_DAYS * 86_400,
        },
      }),
    );
  }

  /** The side effects of one decision (deal version) already done: a retried stream batch skips them. */
  async doneEffects(pipeline: string, dealId: string, version: number): Promise<Set<string>> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: outboxKey(pipeline, dealId, version), ConsistentRead: true }),
    );
    return new Set((Item?.done as Set<string> | undefined) ?? []);
  }

  /** Records that one side effect of a decision is done. */
  async markEffectDone(pipeline: string, dealId: string, version: number, effect: string, now: string) {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: outboxKey(pipeline, dealId, version),
        UpdateExpression: 'ADD done :effect SET #ttl = :ttl',
        ExpressionAttributeNames: { '#ttl': TABLE_KEYS.ttl },
        ExpressionAttributeValues: {
          ':effect': new Set([effect]),
          ':ttl': epochSeconds(now) + OUTBOX_MARK_DAYS * 86_400,
        },
      }),
    );
  }

  /**
   * Claims a notice that may go out at most once a day (e.g. the same refusal): true for the first claim of the day.
   */
  async claimDailyNotice(pipeline: string, dealId: string, notice: string, now: string): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: `NOTICE#${pipeline}#${dealId}`,
            sk: `${now.slice(0, 10)}#${notice}`,
            [TABLE_KEYS.ttl]: epochSeconds(now) + 2 * 86_400,
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
    await this.db.send(
      new DeleteCommand({
        TableName: this.tableName,
        Key: { pk: `NOTICE#${pipeline}#${dealId}`, sk: `${now.slice(0, 10)}#${notice}` },
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

/** True for the key of a deal item (the outbox consumes those; history, events and approvals have their own keys). */
export function isDealKey(key: Record<string, unknown>): boolean {
  return typeof key.pk === 'string' && key.pk.startsWith('DEAL#') && key.sk === 'DEAL';
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

interface PageToken {
  shard: number;
  key?: Record<string, unknown>;
}

function encodePageToken(token: PageToken): string {
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

function decodePageToken(token: string): PageToken {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    const { shard, key } = (parsed ?? {}) as Partial<PageToken>;
    const validKey = key === undefined || (key !== null && typeof key === 'object' && !Array.isArray(key));
    if (Number.isInteger(shard) && (shard as number) >= 0 && (shard as number) < STAGE_INDEX_SHARDS && validKey) {
      return { shard: shard as number, key };
    }
  } catch {
    // fall through to the refusal below
  }
  throw new BadRequestError(
    'INVALID_NEXT_TOKEN',
    "nextToken is not one this API returned — pass the value of a previous answer's nextToken unchanged",
  );
}
