import {
  assessApprovals,
  changedConditionValues,
  requiredExitApprovals,
  unreadableConditions,
} from '../approval-gate.ts';
import { openExitCriteria, unmetCriteria } from '../criteria.ts';
import type { Fields, HistoryEntry, PendingMove } from '../deal.ts';
import type { ExitApproval, PipelineConfig, StageConfig } from '../pipeline-config.ts';
import { closableFrom, isClosed, nextOpenStage, requireStage, stageIndex, statusOf } from '../stages.ts';
import { endApproval, requestEntryApprovals, requestExitApprovals } from './approvals.ts';
import { type Draft, historyEntry } from './draft.ts';
import {
  approvalPending,
  approvalValuesChanged,
  backwardNotAllowed,
  closedStageNotReachable,
  conditionUnreadable,
  criteriaUnmet,
  type Reason,
  skipNotAllowed,
} from './reasons.ts';

/** What caused a move, for its history entry and its stage time. */
export interface Trigger {
  eventId: string | null;
  source: HistoryEntry['source'];
  occurredAt: string;
}

/** What a move out of the deal's stage came to, and its history entry. */
export interface MoveResult {
  outcome: 'applied' | 'pending_approval' | 'rejected';
  reasons: Reason[];
  moved: boolean;
  entry: HistoryEntry;
}

/** Judges a move out of the deal's (open) stage and applies it, asks for its approvals, or refuses it. */
export function attemptMove(draft: Draft, to: StageConfig, trigger: Trigger): MoveResult {
  const { deal, ctx, config } = draft;
  const from = requireStage(config, deal.stage);
  const result = (outcome: MoveResult['outcome'], reasons: Reason[], moved: boolean): MoveResult => ({
    outcome,
    reasons,
    moved,
    entry: historyEntry(ctx, 'move', from.key, to.key, outcome, trigger, reasons),
  });
  const judged = judgeMove(config, deal.fields, from, to);
  if (judged.reasons.length > 0) return result('rejected', judged.reasons, false);

  const { waiting, missing, outdated } = assessApprovals(deal, from, judged.gate);
  const changed = outdated.map((approval) => approvalValuesChanged(config, approval, deal.fields));
  for (const approval of outdated) {
    if (approval.status === 'pending') endApproval(draft, approval, 'cancelled');
  }
  if (waiting.length === 0 && missing.length === 0) {
    enterStage(draft, to, trigger.occurredAt);
    return result('applied', [], true);
  }
  const unreadable = unreadableConditions(judged.gate, deal.fields);
  requestExitApprovals(draft, from, missing, unreadable);
  if (deal.pendingMove?.to !== to.key) {
    deal.pendingMove = { to: to.key, requestedAt: ctx.now, eventId: trigger.eventId, occurredAt: trigger.occurredAt };
  }
  const roles = [...waiting, ...missing.map((m) => m.role)];
  const unread = unreadable
    .filter((need) => roles.includes(need.role))
    .map((need) => conditionUnreadable(config, need, deal.fields));
  return result('pending_approval', [...changed, approvalPending(config, from, to, roles), ...unread], false);
}

/**
 * Judges the deal's pending move again, as its approvals or fields changed: it applies, waits on approvals, or is
 * refused and no longer pending. A move it applies happened now, not when the CRM first asked for it: the deal's
 * stage time is the decision's, so a CRM change stamped before it (such as the late echo of the set-back that held
 * the move) is stale and never moves the deal back.
 */
export function retryPendingMove(draft: Draft, move: PendingMove): MoveResult {
  const result = attemptMove(draft, requireStage(draft.config, move.to), {
    eventId: move.eventId,
    source: 'approval',
    occurredAt: draft.ctx.now,
  });
  if (result.outcome === 'rejected') draft.deal.pendingMove = null;
  return result;
}

/**
 * After fields changed: when the deal waits on a move whose approvals no longer cover its values (a discount raised
 * while the manager's approval was pending), the move is judged again, which asks those approvals anew.
 */
export function reaskOutdatedApprovals(draft: Draft): MoveResult | null {
  const { deal } = draft;
  const move = deal.pendingMove;
  if (move === null) return null;
  const outdated = deal.approvals.some(
    (a) =>
      a.status === 'pending' &&
      a.stage === deal.stage &&
      a.visit === deal.visit &&
      changedConditionValues(a, deal.fields).length > 0,
  );
  return outdated ? retryPendingMove(draft, move) : null;
}

/**
 * Every rule a move from an open stage breaks (all of them, so the owner can fix everything at once), and the
 * exit approvals it needs if it breaks none. Forward moves and moves to a won stage leave `from` forward: they
 * need its exit criteria and approvals.
 */
function judgeMove(
  config: PipelineConfig,
  fields: Fields,
  from: StageConfig,
  to: StageConfig,
): { reasons: Reason[]; gate: ExitApproval[] } {
  const reasons: Reason[] = [];
  let forward: boolean;
  if (isClosed(to)) {
    const reachable = closableFrom(config, to);
    if (!reachable.includes(from.key)) reasons.push(closedStageNotReachable(to, from, reachable));
    forward = to.closed === 'won';
  } else if (stageIndex(config, to.key) < stageIndex(config, from.key)) {
    if (!config.rules.allowBackward) reasons.push(backwardNotAllowed(config, from, to));
    forward = false;
  } else {
    const next = nextOpenStage(config, from.key);
    if (next !== undefined && next.key !== to.key && !config.rules.allowSkips) {
      reasons.push(skipNotAllowed(from, to, next));
    }
    forward = true;
  }
  const unmetExit = forward ? openExitCriteria(from, fields) : [];
  if (unmetExit.length > 0) reasons.push(criteriaUnmet('leave', from, unmetExit));
  const unmetEntry = unmetCriteria(to.entryCriteria, fields);
  if (unmetEntry.length > 0) reasons.push(criteriaUnmet('enter', to, unmetEntry));
  return { reasons, gate: forward ? requiredExitApprovals(from, fields) : [] };
}

/** Moves the deal into `to`: a new visit, so the old visit's pending approvals are cancelled and `to`'s asked. */
function enterStage(draft: Draft, to: StageConfig, occurredAt: string): void {
  const { deal } = draft;
  for (const approval of deal.approvals) {
    if (approval.status === 'pending') endApproval(draft, approval, 'cancelled');
  }
  deal.stage = to.key;
  deal.status = statusOf(to);
  deal.visit += 1;
  deal.stageEventAt = occurredAt;
  deal.pendingMove = null;
  requestEntryApprovals(draft, to);
}
