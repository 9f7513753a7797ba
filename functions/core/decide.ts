import { isDeepStrictEqual } from 'node:util';
import {
  approvalValuesChanged,
  assessApprovals,
  changedConditionValues,
  conditionUnreadable,
  conditionValuesOf,
  requiredExitApprovals,
  unreadableConditions,
  unreadableNote,
} from './approval-gate.ts';
import { describeCriterion, unmetCriteria } from './criteria.ts';
import type {
  Approval,
  Deal,
  Decision,
  DecisionContext,
  Fields,
  HistoryEntry,
  Outcome,
  Reason,
  StageEvent,
} from './deal.ts';
import { allOfList, anyOfList } from './formatters.ts';
import type { Criterion, ExitApproval, PipelineConfig, StageConfig, VersionedPipeline } from './pipeline-config.ts';
import {
  closableFrom,
  isClosed,
  nextOpenStage,
  requireStage,
  stageIndex,
  stageOf,
  startStages,
  statusOf,
} from './stages.ts';

/**
 * The transition rules: what a CRM event, an approver's decision or an approval's expiry does to a deal.
 * Pure functions of their inputs; the clock and approval ids come from the {@link DecisionContext}.
 */

/** An approval was decided or expired that is not pending; callers check the status first, so this is a bug guard. */
export class ApprovalNotPendingError extends Error {
  readonly approvalId: string;
  /** The approval as stored, or null when the deal has no approval with that id. */
  readonly approval: Approval | null;
  constructor(approvalId: string, approval: Approval | null) {
    super(
      approval === null
        ? `the deal has no approval '${approvalId}'`
        : `approval '${approvalId}' is ${approval.status}, not pending`,
    );
    this.name = 'ApprovalNotPendingError';
    this.approvalId = approvalId;
    this.approval = approval;
  }
}

/** The exit criteria of `stage` that the fields do not meet yet: what the owner still has to do. */
export function openExitCriteria(stage: StageConfig, fields: Fields): Criterion[] {
  return unmetCriteria(stage.exitCriteria, fields);
}

/** The deal being decided on (a copy of the input) and what the decision has produced so far. */
interface Draft {
  config: PipelineConfig;
  ctx: DecisionContext;
  deal: Deal;
  requested: Approval[];
  ended: Approval[];
}

/** What caused a move, for its history entry and its stage time. */
interface Trigger {
  eventId: string | null;
  source: HistoryEntry['source'];
  occurredAt: string;
}

interface MoveResult {
  outcome: 'applied' | 'pending_approval' | 'rejected';
  reasons: Reason[];
  moved: boolean;
  entry: HistoryEntry;
}

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
  if (deal === null) return createDeal(pipeline, event, ctx);
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
 * Records an approver's decision. Granting the last approval a pending move waits for applies the move, provided
 * its criteria still hold; a rejection cancels the pending move. Throws {@link ApprovalNotPendingError} when the
 * approval is unknown or already decided.
 */
export function decideApproval(
  pipeline: VersionedPipeline,
  deal: Deal,
  input: { approvalId: string; approve: boolean; decidedBy: string; comment: string | null },
  ctx: DecisionContext,
): Decision {
  const draft = startDraft(pipeline.config, deal, ctx);
  const approval = draft.deal.approvals.find((a) => a.approvalId === input.approvalId);
  if (approval?.status !== 'pending') throw new ApprovalNotPendingError(input.approvalId, approval ?? null);
  approval.status = input.approve ? 'approved' : 'rejected';
  approval.decidedBy = input.decidedBy;
  approval.decidedAt = ctx.now;
  approval.comment = input.comment;
  draft.ended.push({ ...approval });
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
  approval.status = 'expired';
  approval.decidedAt = ctx.now;
  draft.ended.push({ ...approval });
  return concludeApproval(draft, deal, approval, 'applied', approvalExpired(draft.config, approval));
}

function createDeal(pipeline: VersionedPipeline, event: StageEvent, ctx: DecisionContext): Decision {
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
      dealName: event.dealName ?? null,
      owner: event.owner ?? null,
      stage: stage.key,
      status: statusOf(stage),
      configVersion: pipeline.version,
      fields: {},
      fieldTimes: {},
      stageEventAt: event.occurredAt,
      lastEventAt: event.occurredAt,
      visit: 1,
      approvals: [],
      pendingMove: null,
      createdAt: ctx.now,
      updatedAt: ctx.now,
    },
  };
  mergeEvent(draft.deal, event);
  const unmetEntry = unmetCriteria(stage.entryCriteria, draft.deal.fields);
  if (unmetEntry.length > 0) return refuse([criteriaUnmet('enter', stage, unmetEntry)]);
  requestEntryApprovals(draft, stage);
  if (named === undefined && event.stage !== undefined) {
    const held = startStageNotAllowed(starts, event.stage, stage);
    draft.deal.heldMove = {
      to: event.stage,
      eventId: event.eventId,
      source: event.source,
      occurredAt: event.occurredAt,
    };
    const created = entry(ctx, 'created', null, stage.key, 'applied', event, []);
    const refused = entry(ctx, 'move', stage.key, event.stage, 'rejected', event, [held]);
    return decision(draft, null, 'rejected', [held], [created, refused], true);
  }
  const created = entry(ctx, 'created', null, stage.key, 'applied', event, []);
  return decision(draft, null, 'applied', [], [created], true);
}

function updateDeal(pipeline: VersionedPipeline, deal: Deal, event: StageEvent, ctx: DecisionContext): Decision {
  const { config } = pipeline;
  const draft = startDraft(config, deal, ctx);
  const fieldsTaken = mergeEvent(draft.deal, event);
  const fieldUpdate = (outcome: Outcome, reasons: Reason[]): Decision => {
    const stored = entry(ctx, 'fields', null, null, outcome, event, reasons);
    const reasked = outcome === 'applied' ? reaskOutdatedApprovals(draft) : null;
    if (reasked === null) return decision(draft, deal, outcome, reasons, [stored], false);
    return decision(draft, deal, outcome, [...reasons, ...reasked.reasons], [stored, reasked.entry], reasked.moved);
  };
  const target = event.stage;
  if (target === undefined) {
    return fieldsTaken === 0 && isBefore(event.occurredAt, deal.lastEventAt)
      ? fieldUpdate('stale', [staleFields(event)])
      : fieldUpdate('applied', []);
  }

  const from = requireStage(config, deal.stage);
  const unmoved = (outcome: Outcome, reasons: Reason[]): Decision =>
    decision(draft, deal, outcome, reasons, [entry(ctx, 'move', from.key, target, outcome, event, reasons)]);
  const to = stageOf(config, target);
  if (to === undefined) return unmoved('rejected', [unknownStage(config, target)]);
  // Naming the stage the deal is in moves nothing, however old the event (CONTRACT 3.5): its fields count as an update.
  if (to.key === from.key) {
    return fieldsTaken === 0 && isBefore(event.occurredAt, deal.lastEventAt)
      ? fieldUpdate('stale', [staleFields(event)])
      : fieldUpdate('applied', []);
  }
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
    ...entry(ctx, 'approval', approval.stage, null, entryOutcome, null, reasons),
    approval: {
      approvalId: approval.approvalId,
      role: approval.role,
      status: approval.status,
      decidedBy: approval.decidedBy,
    },
  });
  const move = deal.pendingMove;
  if (move !== null && failure !== null && gate.some((a) => a.role === approval.role)) {
    deal.pendingMove = null;
    const cancelled = entry(ctx, 'move', from.key, move.to, 'rejected', move, reasons);
    return decision(draft, original, 'rejected', reasons, [trail('rejected'), cancelled]);
  }
  if (move === null || assessApprovals(deal, from, gate).waiting.length > 0) {
    return decision(draft, original, outcome, reasons, [trail(outcome)]);
  }
  const result = attemptMove(draft, requireStage(draft.config, move.to), {
    eventId: move.eventId,
    source: 'approval',
    occurredAt: move.occurredAt ?? deal.stageEventAt,
  });
  if (result.outcome === 'rejected') deal.pendingMove = null;
  return decision(
    draft,
    original,
    result.outcome,
    [...reasons, ...result.reasons],
    [trail(outcome), result.entry],
    result.moved,
  );
}

/** Judges a move out of the deal's (open) stage and applies it, asks for its approvals, or refuses it. */
function attemptMove(draft: Draft, to: StageConfig, trigger: Trigger): MoveResult {
  const { deal, ctx, config } = draft;
  const from = requireStage(config, deal.stage);
  const result = (outcome: MoveResult['outcome'], reasons: Reason[], moved: boolean): MoveResult => ({
    outcome,
    reasons,
    moved,
    entry: entry(ctx, 'move', from.key, to.key, outcome, trigger, reasons),
  });
  const judged = judgeMove(config, deal.fields, from, to);
  if (judged.reasons.length > 0) return result('rejected', judged.reasons, false);

  const { waiting, missing, outdated } = assessApprovals(deal, from, judged.gate);
  const changed = outdated.map((approval) => approvalValuesChanged(config, approval, deal.fields));
  for (const approval of outdated) {
    if (approval.status !== 'pending') continue;
    approval.status = 'cancelled';
    approval.decidedAt = ctx.now;
    draft.ended.push({ ...approval });
  }
  if (waiting.length === 0 && missing.length === 0) {
    enterStage(draft, to, trigger.occurredAt);
    return result('applied', [], true);
  }
  const unreadable = unreadableConditions(judged.gate, deal.fields);
  for (const need of missing) {
    const reason = need.reason ?? defaultExitReason(config, need.role, from);
    const note = unreadable.includes(need) ? ` (${unreadableNote(need, deal.fields)})` : '';
    requestApproval(draft, need.role, from, 'exit', `${reason}${note}`, conditionValuesOf(need, deal.fields));
  }
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
 * After fields changed: when the deal waits on a move whose approvals no longer cover its values (a discount raised
 * while the manager's approval was pending), the move is judged again, which asks those approvals anew.
 */
function reaskOutdatedApprovals(draft: Draft): MoveResult | null {
  const { deal, config } = draft;
  const move = deal.pendingMove;
  if (move === null) return null;
  const outdated = deal.approvals.some(
    (a) =>
      a.status === 'pending' &&
      a.stage === deal.stage &&
      a.visit === deal.visit &&
      changedConditionValues(a, deal.fields).length > 0,
  );
  if (!outdated) return null;
  const result = attemptMove(draft, requireStage(config, move.to), {
    eventId: move.eventId,
    source: 'approval',
    occurredAt: move.occurredAt ?? deal.stageEventAt,
  });
  if (result.outcome === 'rejected') deal.pendingMove = null;
  return result;
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
  const { deal, ctx } = draft;
  for (const approval of deal.approvals) {
    if (approval.status !== 'pending') continue;
    approval.status = 'cancelled';
    approval.decidedAt = ctx.now;
    draft.ended.push({ ...approval });
  }
  deal.stage = to.key;
  deal.status = statusOf(to);
  deal.visit += 1;
  deal.stageEventAt = occurredAt;
  deal.pendingMove = null;
  requestEntryApprovals(draft, to);
}

function requestEntryApprovals(draft: Draft, stage: StageConfig): void {
  for (const role of stage.entryApprovals) {
    const reason =
      stage.exitApprovals.find((a) => a.role === role)?.reason ??
      `${approverName(draft.config, role)} validates the deal on its entry into ${stage.name}`;
    requestApproval(draft, role, stage, 'entry', reason);
  }
}

function requestApproval(
  draft: Draft,
  role: string,
  stage: StageConfig,
  kind: Approval['kind'],
  reason: string,
  conditionValues?: Fields,
): void {
  const { deal, ctx } = draft;
  const approval: Approval = {
    approvalId: ctx.newApprovalId(),
    role,
    stage: stage.key,
    visit: deal.visit,
    kind,
    reason,
    status: 'pending',
    requestedAt: ctx.now,
    remindAt: addSeconds(ctx.now, ctx.timing.reminderSeconds),
    expiresAt: addSeconds(ctx.now, ctx.timing.expirySeconds),
    decidedBy: null,
    decidedAt: null,
    comment: null,
    runBy: null,
    ...(conditionValues === undefined ? {} : { conditionValues }),
  };
  deal.approvals.push(approval);
  draft.requested.push({ ...approval });
}

/**
 * Merges an event into the deal: each field is taken unless the deal holds a value set by a newer event
 * (`null` removes the field but still records its time); name and owner only from the newest event.
 * Returns how many fields were taken.
 */
function mergeEvent(deal: Deal, event: StageEvent): number {
  // Maps and fromEntries keep a CRM field named `__proto__` an ordinary field.
  const fields = new Map(Object.entries(deal.fields));
  const times = new Map(Object.entries(deal.fieldTimes));
  let taken = 0;
  for (const [name, value] of Object.entries(event.fields)) {
    const since = times.get(name);
    if (value === undefined || (since !== undefined && isBefore(event.occurredAt, since))) continue;
    if (value === null) fields.delete(name);
    else fields.set(name, value);
    times.set(name, event.occurredAt);
    taken += 1;
  }
  deal.fields = Object.fromEntries(fields);
  deal.fieldTimes = Object.fromEntries(times);
  if (!isBefore(event.occurredAt, deal.lastEventAt)) {
    deal.dealName = event.dealName ?? deal.dealName;
    deal.owner = event.owner ?? deal.owner;
    deal.lastEventAt = event.occurredAt;
  }
  return taken;
}

function startDraft(config: PipelineConfig, deal: Deal, ctx: DecisionContext): Draft {
  return { config, ctx, deal: structuredClone(deal), requested: [], ended: [] };
}

function decision(
  draft: Draft,
  original: Deal | null,
  outcome: Outcome,
  reasons: Reason[],
  history: HistoryEntry[],
  moved = false,
): Decision {
  if (original !== null && !isDeepStrictEqual(original, draft.deal)) draft.deal.updatedAt = draft.ctx.now;
  return { outcome, reasons, deal: draft.deal, history, requested: draft.requested, ended: draft.ended, moved };
}

function entry(
  ctx: DecisionContext,
  type: HistoryEntry['type'],
  from: string | null,
  to: string | null,
  outcome: Outcome,
  cause: { eventId: string | null; source?: HistoryEntry['source'] } | null,
  reasons: Reason[],
): HistoryEntry {
  // Without an event behind it, an entry was caused by an approver or an approval's expiry.
  return {
    at: ctx.now,
    type,
    from,
    to,
    outcome,
    eventId: cause?.eventId ?? null,
    source: cause?.source ?? 'approval',
    reasons,
  };
}

/** Timestamps are compared as instants: '…T10:00:00Z' and '…T10:00:00.000Z' are the same time. */
function isBefore(a: string, b: string): boolean {
  return Date.parse(a) < Date.parse(b);
}

function addSeconds(iso: string, seconds: number): string {
  return new Date(Date.parse(iso) + seconds * 1000).toISOString();
}

function approverName(config: PipelineConfig, role: string): string {
  return config.approvers[role]?.name ?? role;
}

function defaultExitReason(config: PipelineConfig, role: string, stage: StageConfig): string {
  return `${approverName(config, role)} approves the deal leaving ${stage.name}`;
}

function unknownStage(config: PipelineConfig, stage: string): Reason {
  const keys = config.stages.map((s) => s.key);
  return {
    code: 'UNKNOWN_STAGE',
    message: `Pipeline '${config.pipeline}' has no stage '${stage}'. Use one of ${anyOfList().format(keys)}.`,
    stage,
  };
}

function startStageNotAllowed(starts: StageConfig[], stage: string | undefined, createdIn?: StageConfig): Reason {
  const keys = starts.map((s) => s.key);
  const held =
    createdIn === undefined
      ? `Create it in ${keys[0] ?? 'a start stage'} first, then move it on.`
      : `The deal was created in ${createdIn.key} with this event's fields, and the move to ${stage} is held: ` +
        "it is judged with the deal's next event, in time order (CRMs may deliver a deal's creation late).";
  return {
    code: 'START_STAGE_NOT_ALLOWED',
    message: `A new deal can start only in ${anyOfList().format(keys)}, not in '${stage}'. ${held}`,
    stage,
    startStages: keys,
  };
}

function dealClosed(stage: StageConfig): Reason {
  return {
    code: 'DEAL_CLOSED',
    message:
      `The deal is closed (${stage.key}) and takes no further moves; field updates are still recorded. ` +
      'To sell again, open a new deal.',
    stage: stage.key,
  };
}

function backwardNotAllowed(config: PipelineConfig, from: StageConfig, to: StageConfig): Reason {
  return {
    code: 'BACKWARD_NOT_ALLOWED',
    message:
      `Pipeline '${config.pipeline}' does not let deals move back (rules.allowBackward is false), ` +
      `so the deal stays in ${from.key} rather than return to ${to.key}.`,
    from: from.key,
    to: to.key,
  };
}

function skipNotAllowed(from: StageConfig, to: StageConfig, next: StageConfig): Reason {
  return {
    code: 'SKIP_NOT_ALLOWED',
    message:
      `Deals move forward one stage at a time: after ${from.key} comes ${next.key}, not ${to.key}. ` +
      `Move the deal to ${next.key} first.`,
    from: from.key,
    to: to.key,
    next: next.key,
  };
}

function closedStageNotReachable(to: StageConfig, from: StageConfig, reachable: string[]): Reason {
  const where = anyOfList().format(reachable);
  return to.closed === 'lost'
    ? {
        code: 'CLOSED_LOST_REQUIRES_QUALIFY',
        message:
          `A deal can be closed as lost (${to.key}) only from ${where}; it is in ${from.key}. ` +
          `Move it to ${reachable[0] ?? 'a later stage'} first.`,
        from: from.key,
        to: to.key,
        reachableFrom: reachable,
      }
    : {
        code: 'CLOSED_STAGE_NOT_REACHABLE',
        message: `${to.key} can be reached only from ${where}; the deal is in ${from.key}. Move it there first.`,
        from: from.key,
        to: to.key,
        reachableFrom: reachable,
      };
}

function criteriaUnmet(direction: 'leave' | 'enter', stage: StageConfig, unmet: Criterion[]): Reason {
  return {
    code: 'EXIT_CRITERIA_UNMET',
    message:
      `To ${direction} ${stage.key}, these must hold: ${unmet.map(describeCriterion).join('; ')}. ` +
      'Send the missing fields with the move or in an update before it.',
    stage: stage.key,
    missing: [...new Set(unmet.map((c) => c.field))],
  };
}

function approvalPending(config: PipelineConfig, from: StageConfig, to: StageConfig, roles: string[]): Reason {
  const names = roles.map((r) => approverName(config, r));
  return {
    code: 'APPROVAL_PENDING',
    message:
      `Leaving ${from.key} for ${to.key} needs the approval of ${allOfList().format(names)}; the requests are out. ` +
      'The move applies by itself once every approval is granted.',
    roles,
    to: to.key,
  };
}

function approvalRejected(config: PipelineConfig, approval: Approval): Reason {
  const said = approval.comment === null ? '' : `, saying: "${approval.comment}"`;
  return {
    code: 'APPROVAL_REJECTED',
    message:
      `${approval.decidedBy} (${approverName(config, approval.role)}) rejected the approval ` +
      `"${approval.reason}"${said}. Address it, then move the deal again to request a new approval.`,
    role: approval.role,
    decidedBy: approval.decidedBy,
    comment: approval.comment,
    approvalId: approval.approvalId,
  };
}

function approvalExpired(config: PipelineConfig, approval: Approval): Reason {
  return {
    code: 'APPROVAL_EXPIRED',
    message:
      `The request to ${approverName(config, approval.role)} ("${approval.reason}") expired on ` +
      `${approval.expiresAt} without a decision. Move the deal again to request a new approval.`,
    role: approval.role,
    approvalId: approval.approvalId,
  };
}

function staleMove(event: StageEvent, deal: Deal, to: StageConfig): Reason {
  return {
    code: 'STALE_EVENT',
    message:
      `This move to ${to.key} happened at ${event.occurredAt}, before the deal entered ${deal.stage} ` +
      `(${deal.stageEventAt}); it is ignored, and any of its fields newer than the stored ones are kept.`,
    occurredAt: event.occurredAt,
    stageEventAt: deal.stageEventAt,
  };
}

function staleFields(event: StageEvent): Reason {
  return {
    code: 'STALE_EVENT',
    message: `Every field of this update (${event.occurredAt}) was already set by a newer event; nothing changed.`,
    occurredAt: event.occurredAt,
  };
}
