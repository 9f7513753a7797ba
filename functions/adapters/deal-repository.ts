import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Deal, HistoryEntry } from '../core/deal.ts';
import type { VersionedPipeline } from '../core/pipeline-config.ts';
import type { StoredDeal, WorkflowState } from '../core/stored-deal.ts';
import { type ApprovalBase, ApprovalItems, type ApprovalRecord } from './deals/approvals.ts';
import { type DealWithConfig, getDealWithConfig } from './deals/deal-with-config.ts';
import { type CommitInput, DealItems } from './deals/deals.ts';
import { type DigestAttempt, type EffectFailure, EffectMarks, type EffectRunClaim } from './deals/effect-marks.ts';
import type { Lease } from './deals/leases.ts';
import { type OwnerDeal, OwnerIndex, type OwnerQuery } from './deals/owner-index.ts';
import { PipelineItems } from './deals/pipelines.ts';
import { type StageDeal, StageIndex, type StageQuery } from './deals/stage-index.ts';
import type { TableRef } from './deals/table-ref.ts';
import { WriteBackQueue } from './deals/write-backs.ts';

/**
 * The deals' table as the use cases see it: one object over the item kinds in `deals/` (deals and their history, the
 * stage index, approvals, the outbox's marks, pipeline configs) and the write-back queues (`writeBacks`). The table's
 * items are described in docs/data-model.md.
 */
export class DealRepository {
  readonly writeBacks: WriteBackQueue;
  private readonly deals: DealItems;
  private readonly stages: StageIndex;
  private readonly owners: OwnerIndex;
  private readonly approvals: ApprovalItems;
  private readonly marks: EffectMarks;
  private readonly pipelines: PipelineItems;
  private readonly table: TableRef;

  constructor(db: DynamoDBDocumentClient, tableName: string) {
    const table = { db, tableName };
    this.table = table;
    this.deals = new DealItems(table);
    this.stages = new StageIndex(table);
    this.owners = new OwnerIndex(table);
    this.approvals = new ApprovalItems(table);
    this.marks = new EffectMarks(table);
    this.pipelines = new PipelineItems(table);
    this.writeBacks = new WriteBackQueue(table);
  }

  getDeal(pipeline: string, dealId: string): Promise<StoredDeal | null> {
    return this.deals.get(pipeline, dealId);
  }

  /** See {@link getDealWithConfig}. */
  getDealWithPipelineVersion(pipeline: string, dealId: string, version: string): Promise<DealWithConfig> {
    return getDealWithConfig(this.table, pipeline, dealId, version);
  }

  /** See {@link DealItems.withHistory}. */
  getDealWithHistory(
    pipeline: string,
    dealId: string,
  ): Promise<{ stored: StoredDeal; history: HistoryEntry[] } | null> {
    return this.deals.withHistory(pipeline, dealId);
  }

  /** See {@link DealItems.copyHistory}. */
  copyHistory(pipeline: string, fromDealId: string, toDealId: string): Promise<void> {
    return this.deals.copyHistory(pipeline, fromDealId, toDealId);
  }

  /** Points pending approvals at the deal that carries them on (the survivor of a CRM merge). */
  async moveApprovals(approvals: readonly { approvalId: string }[], dealId: string): Promise<void> {
    for (const approval of approvals) await this.approvals.moveToDeal(approval.approvalId, dealId);
  }

  /** See {@link DealItems.commit}. */
  commit(input: CommitInput): Promise<StoredDeal | null> {
    return this.deals.commit(input);
  }

  updateWorkflow(before: StoredDeal, workflow: Partial<WorkflowState>, deal?: Deal): Promise<StoredDeal> {
    return this.deals.updateWorkflow(before, workflow, deal);
  }

  /** See {@link DealItems.updateWorkflowAt}. */
  updateWorkflowAt(
    pipeline: string,
    dealId: string,
    version: number,
    workflow: Partial<WorkflowState>,
  ): Promise<boolean> {
    return this.deals.updateWorkflowAt(pipeline, dealId, version, workflow);
  }

  /** See {@link StageIndex.list}. */
  listDeals(
    pipeline: string,
    stage: string,
    page: { limit: number; nextToken?: string },
  ): Promise<{ deals: StoredDeal[]; nextToken: string | null }> {
    return this.stages.list(pipeline, stage, page);
  }

  /** See {@link StageIndex.query}. */
  queryStage(pipeline: string, stage: string, query: StageQuery): Promise<StageDeal[]> {
    return this.stages.query(pipeline, stage, query);
  }

  /** See {@link OwnerIndex.query}. */
  queryOwners(pipeline: string, query: OwnerQuery): Promise<OwnerDeal[]> {
    return this.owners.query(pipeline, query);
  }

  /** See {@link OwnerIndex.ready}. */
  ownerIndexReady(): Promise<boolean> {
    return this.owners.ready();
  }

  /** See {@link OwnerIndex.backfill}. */
  backfillOwnerIndex(): Promise<number> {
    return this.owners.backfill();
  }

  getApproval(approvalId: string): Promise<ApprovalRecord | null> {
    return this.approvals.get(approvalId);
  }

  attachTaskToken(base: ApprovalBase, taskToken: string): Promise<void> {
    return this.approvals.attachTaskToken(base, taskToken);
  }

  addReviewToken(base: ApprovalBase, tokenHash: string): Promise<void> {
    return this.approvals.addReviewToken(base, tokenHash);
  }

  markApprovalSent(base: ApprovalBase, sent: 'emailedAt' | 'remindedAt', at: string): Promise<void> {
    return this.approvals.markSent(base, sent, at);
  }

  /** See {@link EffectMarks.claimRun}. */
  claimEffectRun(
    pipeline: string,
    dealId: string,
    version: number,
    nowMs: number,
    durationMs: number,
  ): Promise<EffectRunClaim | null> {
    return this.marks.claimRun(pipeline, dealId, version, nowMs, durationMs);
  }

  /** See {@link EffectMarks.releaseRun}. */
  releaseEffectRun(lease: Lease, lastDone: { effect: string; now: string } | null = null): Promise<void> {
    return this.marks.releaseRun(lease, lastDone);
  }

  /** See {@link EffectMarks.markDone}. */
  markEffectDone(lease: Lease, effect: string, now: string): Promise<void> {
    return this.marks.markDone(lease, effect, now);
  }

  /** Records a side effect given up (dead-letter item and history entry); false when recorded before. */
  recordEffectFailure(failure: EffectFailure): Promise<boolean> {
    return this.marks.recordFailure(failure);
  }

  /** The side effects given up, oldest first. */
  effectFailures(): Promise<EffectFailure[]> {
    return this.marks.failures();
  }

  /** The addresses one digest run has emailed already. */
  startDigestAttempt(pipeline: string, run: string, now: string): Promise<DigestAttempt> {
    return this.marks.startDigestAttempt(pipeline, run, now);
  }

  /** Records that one digest run emailed `to`. */
  markDigestSent(pipeline: string, run: string, to: string, now: string): Promise<void> {
    return this.marks.markDigestSent(pipeline, run, to, now);
  }

  claimDailyNotice(pipeline: string, dealId: string, notice: string, now: string): Promise<boolean> {
    return this.marks.claimDailyNotice(pipeline, dealId, notice, now);
  }

  releaseDailyNotice(pipeline: string, dealId: string, notice: string, now: string): Promise<void> {
    return this.marks.releaseDailyNotice(pipeline, dealId, notice, now);
  }

  putPipelineVersion(pipeline: VersionedPipeline): Promise<void> {
    return this.pipelines.putVersion(pipeline);
  }

  getPipelineVersion(pipeline: string, version: string): Promise<VersionedPipeline | null> {
    return this.pipelines.getVersion(pipeline, version);
  }

  listPipelineVersions(pipeline: string): Promise<VersionedPipeline[]> {
    return this.pipelines.listVersions(pipeline);
  }

  getLiveVersion(pipeline: string): Promise<string | null> {
    return this.pipelines.getLive(pipeline);
  }

  putLiveVersion(pipeline: string, version: string, at: string): Promise<void> {
    return this.pipelines.putLive(pipeline, version, at);
  }
}
