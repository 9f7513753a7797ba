import { requiredExitApprovals } from './approval-gate.ts';
import { routeApproval } from './approver-routing.ts';
import type { Approval, Deal, Decision, DecisionContext, HistoryEntry } from './deal.ts';
import { approvalNotNeeded, type Reason, stageRetired } from './decide/reasons.ts';
import type { PipelineConfig, StageConfig, VersionedPipeline } from './pipeline-config.ts';
import { stageOf } from './stages.ts';

/**
 * Config rollouts: what a new version of a pipeline does to one open deal when it goes live.
 * Pure: the caller reads the deal, decides here and commits under the deal's optimistic lock.
 */

/** Open deals sit in stages the new version removes without a `retiredStages` entry: the rollout cannot go on. */
export class UnmappedRetiredStageError extends Error {
  /** The removed stages, each with the ids of the open deals in it. */
  readonly stages: { stage: string; dealIds: string[] }[];
  constructor(pipeline: string, stages: { stage: string; dealIds: string[] }[]) {
    super(unmappedStagesMessage(pipeline, stages));
    this.name = 'UnmappedRetiredStageError';
    this.stages = stages;
  }
}

/**
 * The one sentence that `config:plan`, `npm start` and the deploy print for open deals in removed, unmapped stages.
 * Long lists of deals are cut after ten ids per stage.
 */
export function unmappedStagesMessage(pipeline: string, stages: { stage: string; dealIds: string[] }[]): string {
  const parts = stages.map(({ stage, dealIds }) => {
    const shown = dealIds.slice(0, 10).join(', ');
    const more = dealIds.length > 10 ? ` and ${dealIds.length - 10} more` : '';
    return `'${stage}' (${dealIds.length} open ${dealIds.length === 1 ? 'deal' : 'deals'}: ${shown}${more})`;
  });
  const example = stages[0]?.stage ?? 'old_stage';
  return (
    `pipeline '${pipeline}': the new version removes ${parts.join(' and ')} — ` +
    `map each to a stage of the new version with top-level retiredStages (e.g. 'retiredStages: { ${example}: <stage> }'), ` +
    'or keep the stage'
  );
}

/**
 * The open stage a deal in `stage` sits in under `next`: the same stage, the one `retiredStages` maps it to, or
 * undefined when the new version removed it without a mapping.
 */
export function stageUnder(next: PipelineConfig, stage: string): StageConfig | undefined {
  return stageOf(next, stage) ?? stageOf(next, next.retiredStages[stage] ?? '');
}

/** Whether a rollout to `next` moves this deal: it is open and not on `next` yet. */
export function needsMigration(deal: Deal, next: VersionedPipeline): boolean {
  return deal.status === 'open' && deal.configVersion !== next.version;
}

/**
 * The pending approvals of the deal that `stage` (of the new version) no longer needs: roles it neither asks on
 * entry nor needs to leave forward with the deal's current fields. When the stage itself changes, all of them.
 */
export function approvalsNoLongerNeeded(deal: Deal, stage: StageConfig): Approval[] {
  const pending = deal.approvals.filter((a) => a.status === 'pending');
  if (stage.key !== deal.stage) return pending;
  const needed = new Set([...stage.entryApprovals, ...requiredExitApprovals(stage, deal.fields).map((a) => a.role)]);
  return pending.filter((a) => !needed.has(a.role) || a.stage !== deal.stage || a.visit !== deal.visit);
}

/**
 * The pending approvals the new version keeps ask whom its approvers name now: a request to someone the new version no
 * longer asks is withdrawn (they are told their link no longer decides), and the people it adds are asked.
 */
function rerouteUnder(next: PipelineConfig, deal: Deal, now: string): void {
  for (const approval of deal.approvals) {
    const approver = next.approvers[approval.role];
    if (approval.status === 'pending' && approver && approval.asks) routeApproval(approval, approver, deal.fields, now);
  }
}

/**
 * Moves one deal to the new version. The deal keeps its stage, or moves to the stage `retiredStages` maps a
 * removed one to (without any criteria check: the admin decided); approvals still pending for a role the stage no
 * longer needs end `cancelled` (`decision.ended`); those it keeps are asked of whom its approvers name now; a pending move whose approvals all ended is dropped, so the next
 * move asks what the new version needs. One history entry `{type: 'config', from: <old version>, to: <new>}`.
 * Closed deals and deals already on `next` come back unchanged with outcome `duplicate`, so a rerun is harmless.
 * @throws UnmappedRetiredStageError when `next` removed the deal's stage without a `retiredStages` entry.
 */
export function migrateDeal(
  current: VersionedPipeline,
  next: VersionedPipeline,
  deal: Deal,
  ctx: DecisionContext,
): Decision {
  if (!needsMigration(deal, next)) {
    return { outcome: 'duplicate', reasons: [], deal, history: [], requested: [], ended: [], moved: false };
  }
  const stage = stageUnder(next.config, deal.stage);
  if (stage === undefined) {
    throw new UnmappedRetiredStageError(next.config.pipeline, [{ stage: deal.stage, dealIds: [deal.dealId] }]);
  }
  const migrated: Deal = structuredClone(deal);
  const reasons: Reason[] = [];
  const cancelled = new Set(approvalsNoLongerNeeded(deal, stage).map((a) => a.approvalId));
  const ended: Approval[] = [];
  for (const approval of migrated.approvals) {
    if (!cancelled.has(approval.approvalId)) continue;
    approval.status = 'cancelled';
    approval.decidedAt = ctx.now;
    ended.push({ ...approval });
  }
  if (ended.length > 0) reasons.push(approvalNotNeeded(next.version, ended));
  rerouteUnder(next.config, migrated, ctx.now);
  const moved = stage.key !== deal.stage;
  if (moved) {
    migrated.stage = stage.key;
    migrated.visit += 1;
    migrated.pendingMove = null;
    reasons.push(stageRetired(next.version, deal.stage, stage.key));
  } else if (migrated.pendingMove !== null) {
    const target = stageUnder(next.config, migrated.pendingMove.to);
    const stillWaiting = migrated.approvals.some((a) => a.status === 'pending' && a.visit === migrated.visit);
    if (target === undefined || target.key === stage.key || (!stillWaiting && ended.length > 0)) {
      migrated.pendingMove = null;
    } else {
      migrated.pendingMove = { ...migrated.pendingMove, to: target.key };
    }
  }
  migrated.configVersion = next.version;
  migrated.updatedAt = ctx.now;
  const entry: HistoryEntry = {
    at: ctx.now,
    type: 'config',
    from: current.version,
    to: next.version,
    outcome: 'applied',
    eventId: null,
    source: null,
    reasons,
    ...(moved ? { stage: { from: deal.stage, to: stage.key } } : {}),
  };
  return { outcome: 'applied', reasons, deal: migrated, history: [entry], requested: [], ended, moved };
}
