import { changedConditionValues, readsAs, unreadableNote } from '../approval-gate.ts';
import { describeCriterion } from '../criteria.ts';
import type { Approval, Deal, Fields, StageEvent } from '../deal.ts';
import { allOfList, anyOfList } from '../formatters.ts';
import type { Criterion, ExitApproval, PipelineConfig, StageConfig } from '../pipeline-config.ts';

/**
 * Why the rules decided as they did: each reason has a code, a sentence that says how to go on, and the details of
 * its code. Every reason the core gives is built here, so the wording and the details stay together.
 */

/** The details each reason code carries besides its message. */
interface ReasonDetails {
  UNKNOWN_STAGE: { stage: string };
  START_STAGE_NOT_ALLOWED: { stage: string | undefined; startStages: string[] };
  DEAL_CLOSED: { stage: string };
  BACKWARD_NOT_ALLOWED: { from: string; to: string };
  SKIP_NOT_ALLOWED: { from: string; to: string; next: string };
  CLOSED_LOST_REQUIRES_QUALIFY: { from: string; to: string; reachableFrom: string[] };
  CLOSED_STAGE_NOT_REACHABLE: { from: string; to: string; reachableFrom: string[] };
  /** Entry criteria unmet use this code too: `stage` says which stage's criteria, `missing` the fields to send. */
  EXIT_CRITERIA_UNMET: { stage: string; missing: string[] };
  APPROVAL_PENDING: { roles: string[]; to: string };
  APPROVAL_REJECTED: { role: string; decidedBy: string | null; comment: string | null; approvalId: string };
  APPROVAL_EXPIRED: { role: string; approvalId: string };
  APPROVAL_VALUES_CHANGED: { role: string; approvalId: string; fields: string[] };
  CONDITION_UNREADABLE: { field: string; value: unknown; role: string };
  /** `stageEventAt` is present for a move older than the deal's stage, absent for a field update with nothing new. */
  STALE_EVENT: { occurredAt: string; stageEventAt?: string };
  APPROVAL_NOT_NEEDED: { roles: string[]; approvalIds: string[] };
  STAGE_RETIRED: { from: string; to: string };
  /** The CRM pipeline the event's deal is in, when the event names it (null: only its stage told). */
  UNMANAGED_PIPELINE: { crmPipeline: string | null };
  MERGED: { into: string };
  DELETED: Record<never, never>;
}

/** Every code a reason can have. */
export type ReasonCode = keyof ReasonDetails;

type DetailName = { [C in ReasonCode]: keyof ReasonDetails[C] }[ReasonCode];

/** One code's reason; the details only other codes carry are absent from it. */
type ReasonWith<C extends ReasonCode> = { code: C; message: string } & ReasonDetails[C] & {
    [D in Exclude<DetailName, keyof ReasonDetails[C]>]?: never;
  };

/**
 * Any reason, told apart by `code`: narrowing on the code gives its details their types. A detail that only other
 * codes carry reads as `undefined`.
 */
export type Reason = { [C in ReasonCode]: ReasonWith<C> }[ReasonCode];

/** The reason(s) with code `C`, e.g. `ReasonOf<'EXIT_CRITERIA_UNMET'>` with its `missing` fields. */
export type ReasonOf<C extends ReasonCode> = Extract<Reason, { code: C }>;

/** How reasons and approval requests name an approver role: its configured name, or the role itself. */
export function approverName(config: PipelineConfig, role: string): string {
  return config.approvers[role]?.name ?? role;
}

/** An event naming a stage the pipeline does not have. */
export function unknownStage(config: PipelineConfig, stage: string): ReasonOf<'UNKNOWN_STAGE'> {
  const keys = config.stages.map((s) => s.key);
  return {
    code: 'UNKNOWN_STAGE',
    message: `Pipeline '${config.pipeline}' has no stage '${stage}'. Use one of ${anyOfList().format(keys)}.`,
    stage,
  };
}

/** An event of a deal in a CRM pipeline that no Stageflow pipeline manages. */
export function unmanagedPipeline(crmPipeline: string | null, constraint?: string): ReasonOf<'UNMANAGED_PIPELINE'> {
  const where = crmPipeline === null ? 'a CRM pipeline' : `CRM pipeline '${crmPipeline}'`;
  const managed =
    constraint === undefined
      ? 'which no Stageflow pipeline manages'
      : `which Stageflow pipeline '${constraint}' (named by ?pipeline=) does not manage`;
  return {
    code: 'UNMANAGED_PIPELINE',
    message:
      `The deal is in ${where}, ${managed}: Stageflow records nothing and writes nothing back. ` +
      "To manage it, list the CRM pipeline under a pipeline's crm.<source>.pipelines.",
    crmPipeline,
  };
}

/** An event of a deal that was merged into another CRM deal. */
export function mergedAway(into: string): ReasonOf<'MERGED'> {
  return {
    code: 'MERGED',
    message: `The deal was merged into deal ${into} in the CRM; Stageflow follows ${into} instead.`,
    into,
  };
}

/** An event of a deal deleted in the CRM (other than its restore). */
export function deletedInCrm(): ReasonOf<'DELETED'> {
  return {
    code: 'DELETED',
    message: 'The deal is deleted in the CRM; Stageflow records nothing for it until the CRM restores it.',
  };
}

/** A first event naming a stage deals cannot start in; `createdIn`: the deal was created there and the move held. */
export function startStageNotAllowed(
  starts: StageConfig[],
  stage: string | undefined,
  createdIn?: StageConfig,
): ReasonOf<'START_STAGE_NOT_ALLOWED'> {
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

/** A move out of a closed stage: closed deals take no moves. */
export function dealClosed(stage: StageConfig): ReasonOf<'DEAL_CLOSED'> {
  return {
    code: 'DEAL_CLOSED',
    message:
      `The deal is closed (${stage.key}) and takes no further moves; field updates are still recorded. ` +
      'To sell again, open a new deal.',
    stage: stage.key,
  };
}

/** A move back to an earlier stage in a pipeline that does not allow it. */
export function backwardNotAllowed(
  config: PipelineConfig,
  from: StageConfig,
  to: StageConfig,
): ReasonOf<'BACKWARD_NOT_ALLOWED'> {
  return {
    code: 'BACKWARD_NOT_ALLOWED',
    message:
      `Pipeline '${config.pipeline}' does not let deals move back (rules.allowBackward is false), ` +
      `so the deal stays in ${from.name} rather than return to ${to.name}.`,
    from: from.key,
    to: to.key,
  };
}

/** A move forward past `next`, the stage that comes after `from`, in a pipeline that does not allow skips. */
export function skipNotAllowed(from: StageConfig, to: StageConfig, next: StageConfig): ReasonOf<'SKIP_NOT_ALLOWED'> {
  return {
    code: 'SKIP_NOT_ALLOWED',
    message:
      `Deals move forward one stage at a time: after ${from.name} comes ${next.name}, not ${to.name}. ` +
      `Move the deal to ${next.name} first.`,
    from: from.key,
    to: to.key,
    next: next.key,
  };
}

/** A closed stage the deal cannot reach from where it is; `reachable`: the stages it can be reached from. */
export function closedStageNotReachable(
  to: StageConfig,
  from: StageConfig,
  reachable: string[],
): ReasonOf<'CLOSED_LOST_REQUIRES_QUALIFY' | 'CLOSED_STAGE_NOT_REACHABLE'> {
  const where = anyOfList().format(reachable);
  return to.closed === 'lost'
    ? {
        code: 'CLOSED_LOST_REQUIRES_QUALIFY',
        message:
          `A deal can be closed as lost (${to.name}) only from ${where}; it is in ${from.name}. ` +
          `Move it to ${reachable[0] ?? 'a later stage'} first.`,
        from: from.key,
        to: to.key,
        reachableFrom: reachable,
      }
    : {
        code: 'CLOSED_STAGE_NOT_REACHABLE',
        message: `${to.name} can be reached only from ${where}; the deal is in ${from.name}. Move it there first.`,
        from: from.key,
        to: to.key,
        reachableFrom: reachable,
      };
}

/** A criterion as people read it: its description in the stage config, else the rule itself. */
export function criterionInWords(criterion: Criterion): string {
  return criterion.description ?? describeCriterion(criterion);
}

/** The criteria of `stage` a move must meet to leave or enter it, and the fields that would meet them. */
export function criteriaUnmet(
  direction: 'leave' | 'enter',
  stage: StageConfig,
  unmet: Criterion[],
): ReasonOf<'EXIT_CRITERIA_UNMET'> {
  return {
    code: 'EXIT_CRITERIA_UNMET',
    message:
      `To ${direction} ${stage.name}, these must hold: ${unmet.map(criterionInWords).join('; ')}. ` +
      'Send the missing fields with the move or in an update before it.',
    stage: stage.key,
    missing: [...new Set(unmet.map((c) => c.field))],
  };
}

/** A move that waits on the approvals of `roles`; it applies once all are granted. */
export function approvalPending(
  config: PipelineConfig,
  from: StageConfig,
  to: StageConfig,
  roles: string[],
): ReasonOf<'APPROVAL_PENDING'> {
  const names = roles.map((r) => approverName(config, r));
  return {
    code: 'APPROVAL_PENDING',
    message:
      `Leaving ${from.name} for ${to.name} needs the approval of ${allOfList().format(names)}; the requests are out. ` +
      'The move applies by itself once every approval is granted.',
    roles,
    to: to.key,
  };
}

/** An approver rejected the approval a pending move needed: the move is cancelled. */
export function approvalRejected(config: PipelineConfig, approval: Approval): ReasonOf<'APPROVAL_REJECTED'> {
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

/** An approval ran out of time without a decision: a pending move that needed it is cancelled. */
export function approvalExpired(config: PipelineConfig, approval: Approval): ReasonOf<'APPROVAL_EXPIRED'> {
  return {
    code: 'APPROVAL_EXPIRED',
    message:
      `The request to ${approverName(config, approval.role)} ("${approval.reason}") expired on ` +
      `${approval.expiresAt} without a decision. Move the deal again to request a new approval.`,
    role: approval.role,
    approvalId: approval.approvalId,
  };
}

/** The reason telling the rep that a value an approval covered changed, so the approval is asked again. */
export function approvalValuesChanged(
  config: PipelineConfig,
  approval: Approval,
  fields: Fields,
): ReasonOf<'APPROVAL_VALUES_CHANGED'> {
  const changed = changedConditionValues(approval, fields);
  const changes = changed.map(
    (field) =>
      `${field} from ${JSON.stringify(approval.conditionValues?.[field])} to ` +
      `${JSON.stringify(Object.hasOwn(fields, field) ? fields[field] : null)}`,
  );
  const when = approval.status === 'approved' ? 'granted' : 'asked';
  return {
    code: 'APPROVAL_VALUES_CHANGED',
    message:
      `The approval of ${approverName(config, approval.role)} was ${when} for other values: ` +
      `${changes.join(', ')} changed since. ` +
      'It no longer covers the deal, so it is asked again for the values the deal holds now.',
    role: approval.role,
    approvalId: approval.approvalId,
    fields: changed,
  };
}

/** The reason telling the rep that an unreadable value made an approval necessary, and how to fix it. */
export function conditionUnreadable(
  config: PipelineConfig,
  need: ExitApproval,
  fields: Fields,
): ReasonOf<'CONDITION_UNREADABLE'> {
  const field = need.when?.field ?? '';
  const condition = need.when ? describeCriterion(need.when) : '';
  const example = need.when?.require === 'date' ? '2026-12-01' : '30 or "30.5"';
  return {
    code: 'CONDITION_UNREADABLE',
    message:
      `${unreadableNote(need, fields)}, so the condition "${condition}" cannot be checked and the approval of ` +
      `${approverName(config, need.role)} is required. Send ${field} as ${readsAs(need)} (e.g. ${example}) ` +
      'to let the condition decide.',
    field,
    value: fields[field],
    role: need.role,
  };
}

/** A move that happened before the deal entered its current stage. */
export function staleMove(event: StageEvent, deal: Deal, to: StageConfig): ReasonOf<'STALE_EVENT'> {
  return {
    code: 'STALE_EVENT',
    message:
      `This move to ${to.name} happened at ${event.occurredAt}, before the deal entered ${deal.stage} ` +
      `(${deal.stageEventAt}); it is ignored, and any of its fields newer than the stored ones are kept.`,
    occurredAt: event.occurredAt,
    stageEventAt: deal.stageEventAt,
  };
}

/** A field update every field of which a newer event had already set. */
export function staleFields(event: StageEvent): ReasonOf<'STALE_EVENT'> {
  return {
    code: 'STALE_EVENT',
    message: `Every field of this update (${event.occurredAt}) was already set by a newer event; nothing changed.`,
    occurredAt: event.occurredAt,
  };
}

/** A new config version that no longer needs the pending approvals it cancelled. */
export function approvalNotNeeded(version: string, cancelled: Approval[]): ReasonOf<'APPROVAL_NOT_NEEDED'> {
  const roles = [...new Set(cancelled.map((a) => a.role))];
  return {
    code: 'APPROVAL_NOT_NEEDED',
    message: `Version ${version} of the pipeline no longer needs ${roles.join(', ')} here: the pending request is cancelled.`,
    roles,
    approvalIds: cancelled.map((a) => a.approvalId),
  };
}

/** A new config version that retired the deal's stage, moving it to the stage mapped in `retiredStages`. */
export function stageRetired(version: string, from: string, to: string): ReasonOf<'STAGE_RETIRED'> {
  return {
    code: 'STAGE_RETIRED',
    message: `Version ${version} retires stage ${from}: the deal moves to ${to} (retiredStages).`,
    from,
    to,
  };
}
