import { assessApprovals, requiredExitApprovals } from '../approval-gate.ts';
import { personName } from '../approver-routing.ts';
import { unmetCriteria } from '../criteria.ts';
import {
  type Approval,
  type Deal,
  type Decision,
  type DecisionContext,
  type HistoryEntry,
  isEnded,
  type Outcome,
  type StageEvent,
} from '../deal.ts';
import { ApprovalNotPendingError } from '../errors.ts';
import type { VersionedPipeline } from '../pipeline-config.ts';
import { isClosed, requireStage, stageOf, startStages, statusOf } from '../stages.ts';
import { endApproval, requestEntryApprovals, rerouteApprovals } from './approvals.ts';
import { type Draft, decision, historyEntry, startDraft } from './draft.ts';
import { isBefore, isStaleUpdate, mergeEvent } from './fields.ts';
import { endDeal, ignore, restoreDeal } from './lifecycle.ts';
import { attemptMove, reaskOutdatedApprovals, retryPendingMove } from './moves.ts';
import {
  approvalExpired,
  approvalRejected,
  criteriaUnmet,
  dealClosed,
  deletedInCrm,
  mergedAway,
  type Reason,
  staleFields,
  staleMove,
  startStageNotAllowed,
  unknownStage,
} from './reasons.ts';

/**
 * The transition rules: what a CRM event, an approver's decision or an approval's expiry does to a deal.
 * Pure functions of their inputs; the clock and approval ids come from the {@link DecisionContext}.
 */

/**
 * Decides what one CRM event does to a deal (`null`: the deal is not known yet). The event's fields are merged
 * first, so one event can both meet the exit criteria and move the deal; a refused move keeps the fields.
 */
export function decideEvent(
  pipeline: VersionedPipeline,
  deal: Deal | null,
  event: StageEvent,
  ctx: DecisionContext,
): Decision {
  if (deal === null) return event.lifecycle === 'deleted' ? ignore([deletedInCrm()]) : createDeal(pipeline, event, ctx);
  if (isEnded(deal.status)) return decideAfterEnd(pipeline, deal, event, ctx);
  if (event.lifecycle === 'deleted') {
    return endDeal(pipeline.config, deal, 'deleted', { type: 'deleted', to: null }, event, ctx);
  }
  const held = deal.heldMove;
  if (!held) return updateDeal(pipeline, deal, event, ctx);
  // The held move and this event are judged in the order they happened.
  const heldEvent: StageEvent = { ...held, stage: held.to, pipeline: deal.pipeline, dealId: deal.dealId, fields: {} };
  const released = { ...deal, heldMove: null };
  if (isBefore(event.occurredAt, held.occurredAt)) {
    const first = updateDeal(pipeline, released, event, ctx);
    return chain(first, updateDeal(pipeline, first.deal ?? released, heldEvent, ctx), 'first');
  }
  const first = updateDeal(pipeline, released, heldEvent, ctx);
  return chain(first, updateDeal(pipeline, first.deal ?? released, event, ctx), 'second');
}

/** An approver's decision from their review link. */
export interface ApproverDecision {
  approvalId: string;
  /** The request the link's token is bound to; null for a link of an approval stored before per-person requests. */
  askId?: string | null;
  approve: boolean;
  /** Who decided, for a link without a request of its own (the role's configured approver). */
  decidedBy: string;
  comment: string | null;
}

/**
 * Records an approver's decision. Granting the last approval a pending move waits for applies the move, provided
 * its criteria still hold; a rejection cancels the pending move. A member of a group decides for the role, except
 * that under `decide: all` an approval counts once every member asked approved (one rejection rejects). Throws
 * {@link ApprovalNotPendingError} when the approval is unknown or already decided, or this person's request is.
 */
export function decideApproval(
  pipeline: VersionedPipeline,
  deal: Deal,
  input: ApproverDecision,
  ctx: DecisionContext,
): Decision {
  const draft = startDraft(pipeline.config, deal, ctx);
  const approval = draft.deal.approvals.find((a) => a.approvalId === input.approvalId);
  if (approval?.status !== 'pending') throw new ApprovalNotPendingError(input.approvalId, approval ?? null);
  const ask = approval.asks?.find((a) => a.askId === input.askId);
  if (ask && ask.status !== 'pending') throw new ApprovalNotPendingError(input.approvalId, approval);
  approval.comment = input.comment;
  if (ask) {
    ask.status = input.approve ? 'approved' : 'rejected';
    ask.decidedAt = ctx.now;
    const by = personName(ask);
    const onBehalfOf = ask.onBehalfOf && personName(ask.onBehalfOf);
    const open = (approval.asks ?? []).filter((a) => a.status === 'pending');
    if (input.approve && approval.decide === 'all' && open.length > 0) {
      // One member of a group that must approve unanimously: recorded, and the others are still asked.
      const entry = historyEntry(ctx, 'approval', approval.stage, null, 'applied', null, []);
      const trail = { approvalId: approval.approvalId, role: approval.role, status: approval.status, decidedBy: by };
      return decision(draft, deal, 'applied', [], [{ ...entry, approval: { ...trail, onBehalfOf } }]);
    }
    // The decision ends the approval for the whole group: the others' requests no longer decide.
    for (const other of open) other.status = 'withdrawn';
    const approvers = (approval.asks ?? []).filter((a) => a.status === 'approved');
    approval.decidedBy = input.approve && approval.decide === 'all' ? approvers.map(personName).join(', ') : by;
    approval.onBehalfOf = onBehalfOf;
  } else approval.decidedBy = input.decidedBy;
  endApproval(draft, approval, input.approve ? 'approved' : 'rejected');
  return input.approve
    ? concludeApproval(draft, deal, approval, 'applied', null)
    : concludeApproval(draft, deal, approval, 'rejected', approvalRejected(draft.config, approval));
}

/**
 * Expires a pending approval when its time is up; a pending move that needs it is cancelled. An approval that is
 * no longer pending (decided or cancelled meanwhile) leaves the deal as it is: `duplicate`.
 */
export function expireApproval(
  pipeline: VersionedPipeline,
  deal: Deal,
  approvalId: string,
  ctx: DecisionContext,
): Decision {
  const draft = startDraft(pipeline.config, deal, ctx);
  const approval = draft.deal.approvals.find((a) => a.approvalId === approvalId);
  if (approval === undefined) throw new ApprovalNotPendingError(approvalId, null);
  if (approval.status !== 'pending') return decision(draft, deal, 'duplicate', [], [], false);
  endApproval(draft, approval, 'expired');
  return concludeApproval(draft, deal, approval, 'applied', approvalExpired(draft.config, approval));
}

/**
 * Works out again whom the deal's pending approvals ask (a delegation started or ended): requests to people no longer
 * asked are withdrawn, the people now asked get their own. `duplicate` when nothing changes.
 */
export function rerouteDeal(pipeline: VersionedPipeline, deal: Deal, ctx: DecisionContext): Decision {
  const draft = startDraft(pipeline.config, deal, ctx);
  const changed = rerouteApprovals(draft);
  return decision(draft, deal, changed.length === 0 ? 'duplicate' : 'applied', [], [], false);
}

/** Two decisions taken one after the other, answered as the one the event caused (`which`). */
function chain(first: Decision, second: Decision, which: 'first' | 'second'): Decision {
  const own = which === 'first' ? first : second;
  const other = which === 'first' ? second : first;
  return {
    outcome: own.outcome,
    reasons: [...own.reasons, ...other.reasons.filter((r) => r.code !== 'STALE_EVENT')],
    deal: second.deal,
    history: [...first.history, ...second.history],
    requested: [...first.requested, ...second.requested],
    ended: [...first.ended, ...second.ended],
    moved: first.moved || second.moved,
  };
}

/**
 * An event of an ended deal: a merged-away deal takes none; a deleted one only its restore; a deal that left this
 * pipeline and is routed here again has come back, and arrives as a new deal would (the start-stage rule), keeping
 * its fields, approvals and history.
 */
function decideAfterEnd(pipeline: VersionedPipeline, deal: Deal, event: StageEvent, ctx: DecisionContext): Decision {
  switch (deal.status) {
    case 'merged':
      return ignore([mergedAway(deal.mergedInto ?? '')]);
    case 'deleted':
      return event.lifecycle === 'restored' ? restoreDeal(pipeline.config, deal, event, ctx) : ignore([deletedInCrm()]);
    default:
      return event.lifecycle === 'deleted' ? ignore([deletedInCrm()]) : createDeal(pipeline, event, ctx, deal);
  }
}

/** A new deal from its first event; `previous`: the deal as it was when it left this pipeline, now back. */
function createDeal(pipeline: VersionedPipeline, event: StageEvent, ctx: DecisionContext, previous?: Deal): Decision {
  const { config } = pipeline;
  const refuse = (reasons: Reason[]): Decision => ({
    outcome: 'rejected',
    reasons,
    deal: null,
    history: [],
    requested: [],
    ended: [],
    moved: false,
  });
  if (event.stage !== undefined && stageOf(config, event.stage) === undefined) {
    return refuse([unknownStage(config, event.stage)]);
  }
  const starts = startStages(config);
  const named = event.stage === undefined ? starts[0] : starts.find((s) => s.key === event.stage);
  // A move into a later stage may simply have overtaken the deal's creation: the deal is created in its start
  // stage with what the event brought, and the move is held for the deal's next event (see HeldMove).
  const stage = named ?? starts[0];
  if (stage === undefined) return refuse([startStageNotAllowed(starts, event.stage)]);

  const draft: Draft = {
    config,
    ctx,
    requested: [],
    ended: [],
    deal: {
      pipeline: event.pipeline,
      dealId: event.dealId,
      dealName: event.dealName ?? previous?.dealName ?? null,
      owner: event.owner ?? previous?.owner ?? null,
      stage: stage.key,
      status: statusOf(stage),
      configVersion: pipeline.version,
      fields: { ...previous?.fields },
      fieldTimes: { ...previous?.fieldTimes },
      stageEventAt: event.occurredAt,
      lastEventAt: event.occurredAt,
      visit: (previous?.visit ?? 0) + 1,
      approvals: structuredClone(previous?.approvals ?? []),
      pendingMove: null,
      createdAt: previous?.createdAt ?? ctx.now,
      updatedAt: ctx.now,
    },
  };
  mergeEvent(draft.deal, event);
  const unmetEntry = unmetCriteria(stage.entryCriteria, draft.deal.fields);
  if (unmetEntry.length > 0) return refuse([criteriaUnmet('enter', stage, unmetEntry)]);
  requestEntryApprovals(draft, stage);
  const created = historyEntry(ctx, 'created', event.arrivedFrom ?? null, stage.key, 'applied', event, []);
  if (named === undefined && event.stage !== undefined) {
    const held = startStageNotAllowed(starts, event.stage, stage);
    draft.deal.heldMove = {
      to: event.stage,
      eventId: event.eventId,
      source: event.source,
      occurredAt: event.occurredAt,
    };
    const refused = historyEntry(ctx, 'move', stage.key, event.stage, 'rejected', event, [held]);
    return decision(draft, null, 'rejected', [held], [created, refused], true);
  }
  return decision(draft, null, 'applied', [], [created], true);
}

function updateDeal(pipeline: VersionedPipeline, deal: Deal, event: StageEvent, ctx: DecisionContext): Decision {
  const { config } = pipeline;
  const draft = startDraft(config, deal, ctx);
  const fieldsTaken = mergeEvent(draft.deal, event);
  const fieldUpdate = (outcome: Outcome, reasons: Reason[]): Decision => {
    const stored = historyEntry(ctx, 'fields', null, null, outcome, event, reasons);
    const reasked = outcome === 'applied' ? reaskOutdatedApprovals(draft) : null;
    if (reasked === null) return decision(draft, deal, outcome, reasons, [stored], false);
    return decision(draft, deal, outcome, [...reasons, ...reasked.reasons], [stored, reasked.entry], reasked.moved);
  };
  const updateFields = (): Decision =>
    isStaleUpdate(deal, event, fieldsTaken) ? fieldUpdate('stale', [staleFields(event)]) : fieldUpdate('applied', []);
  const target = event.stage;
  if (target === undefined) return updateFields();

  const from = requireStage(config, deal.stage);
  const unmoved = (outcome: Outcome, reasons: Reason[]): Decision =>
    decision(draft, deal, outcome, reasons, [historyEntry(ctx, 'move', from.key, target, outcome, event, reasons)]);
  const to = stageOf(config, target);
  if (to === undefined) return unmoved('rejected', [unknownStage(config, target)]);
  // Naming the stage the deal is in moves nothing, however old the event: its fields count as an update.
  if (to.key === from.key) return updateFields();
  if (isBefore(event.occurredAt, deal.stageEventAt)) return unmoved('stale', [staleMove(event, deal, to)]);
  if (isClosed(from)) return unmoved('rejected', [dealClosed(from)]);

  const move = attemptMove(draft, to, { eventId: event.eventId, source: event.source, occurredAt: event.occurredAt });
  return decision(draft, deal, move.outcome, move.reasons, [move.entry], move.moved);
}

/**
 * The end of an approval's life (granted, rejected or expired). A failure cancels the pending move that needs the
 * role; otherwise, once no approval the move needs is still waiting, the move is judged again on the current fields.
 */
function concludeApproval(
  draft: Draft,
  original: Deal,
  approval: Approval,
  outcome: Outcome,
  failure: Reason | null,
): Decision {
  const { deal, ctx } = draft;
  const reasons = failure === null ? [] : [failure];
  const from = requireStage(draft.config, deal.stage);
  const gate = requiredExitApprovals(from, deal.fields);
  const trail = (entryOutcome: Outcome): HistoryEntry => ({
    ...historyEntry(ctx, 'approval', approval.stage, null, entryOutcome, null, reasons),
    approval: {
      approvalId: approval.approvalId,
      role: approval.role,
      status: approval.status,
      decidedBy: approval.decidedBy,
      ...(approval.onBehalfOf ? { onBehalfOf: approval.onBehalfOf } : {}),
    },
  });
  const move = deal.pendingMove;
  if (move !== null && failure !== null && gate.some((a) => a.role === approval.role)) {
    deal.pendingMove = null;
    const cancelled = historyEntry(ctx, 'move', from.key, move.to, 'rejected', move, reasons);
    return decision(draft, original, 'rejected', reasons, [trail('rejected'), cancelled]);
  }
  if (move === null || assessApprovals(deal, from, gate).waiting.length > 0) {
    return decision(draft, original, outcome, reasons, [trail(outcome)]);
  }
  const result = retryPendingMove(draft, move);
  return decision(
    draft,
    original,
    result.outcome,
    [...reasons, ...result.reasons],
    [trail(outcome), result.entry],
    result.moved,
  );
}
