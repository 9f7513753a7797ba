import { isDeepStrictEqual } from 'node:util';
import { describeCriterion, readCondition } from './criteria.ts';
import type { Approval, Deal, Fields, Reason } from './deal.ts';
import type { ExitApproval, PipelineConfig, StageConfig } from './pipeline-config.ts';

/**
 * The exit-approval gate of a stage: which approvals a forward move needs with the deal's current fields, and where
 * each stands. A condition (`when`) that cannot read its field fails closed: the approval is needed, and the
 * reasons say why.
 */

/** The approvals a forward move out of `stage` needs with these fields: each `when` evaluated, one per role. */
export function requiredExitApprovals(stage: StageConfig, fields: Fields): ExitApproval[] {
  return stage.exitApprovals
    .filter((a) => a.when === undefined || readCondition(a.when, fields) !== 'fails')
    .filter((a, at, all) => all.findIndex((b) => b.role === a.role) === at);
}

/** The approvals of the gate that are needed only because their condition could not read its field. */
export function unreadableConditions(gate: ExitApproval[], fields: Fields): ExitApproval[] {
  return gate.filter((a) => a.when !== undefined && readCondition(a.when, fields) === 'unreadable');
}

/** The values an approval's condition looks at, as the deal holds them now (`null` for an absent field). */
export function conditionValuesOf(need: ExitApproval, fields: Fields): Fields | undefined {
  if (need.when === undefined) return undefined;
  const { field } = need.when;
  return { [field]: Object.hasOwn(fields, field) ? fields[field] : null };
}

/** The fields whose values changed since the approval was asked: it no longer covers what the deal holds. */
export function changedConditionValues(approval: Approval, fields: Fields): string[] {
  return Object.entries(approval.conditionValues ?? {})
    .filter(([field, then]) => !isDeepStrictEqual(Object.hasOwn(fields, field) ? fields[field] : null, then))
    .map(([field]) => field);
}

/**
 * Where each needed approval stands in the deal's current visit of `stage`. The newest request per role counts,
 * whether it was asked on entry or on exit: granted → satisfied, pending → waiting, anything else → missing. A
 * request whose condition values changed since it was asked is `outdated` and counts as missing: it is asked again.
 */
export function assessApprovals(
  deal: Deal,
  stage: StageConfig,
  gate: ExitApproval[],
): { waiting: string[]; missing: ExitApproval[]; outdated: Approval[] } {
  const waiting: string[] = [];
  const missing: ExitApproval[] = [];
  const outdated: Approval[] = [];
  for (const need of gate) {
    const newest = deal.approvals.findLast(
      (a: Approval) => a.role === need.role && a.stage === stage.key && a.visit === deal.visit,
    );
    if (newest && (newest.status === 'pending' || newest.status === 'approved')) {
      if (changedConditionValues(newest, deal.fields).length > 0) {
        outdated.push(newest);
        missing.push(need);
      } else if (newest.status === 'pending') waiting.push(need.role);
    } else missing.push(need);
  }
  return { waiting, missing, outdated };
}

/** The reason telling the rep that a value an approval covered changed, so the approval is asked again. */
export function approvalValuesChanged(config: PipelineConfig, approval: Approval, fields: Fields): Reason {
  const approver = config.approvers[approval.role]?.name ?? approval.role;
  const changes = changedConditionValues(approval, fields).map(
    (field) =>
      `${field} from ${JSON.stringify(approval.conditionValues?.[field])} to ` +
      `${JSON.stringify(Object.hasOwn(fields, field) ? fields[field] : null)}`,
  );
  const when = approval.status === 'approved' ? 'granted' : 'asked';
  return {
    code: 'APPROVAL_VALUES_CHANGED',
    message:
      `The approval of ${approver} was ${when} for other values: ${changes.join(', ')} changed since. ` +
      'It no longer covers the deal, so it is asked again for the values the deal holds now.',
    role: approval.role,
    approvalId: approval.approvalId,
    fields: changedConditionValues(approval, fields),
  };
}

/** What the approver is told when the approval is needed because its condition could not read the field. */
export function unreadableNote(need: ExitApproval, fields: Fields): string {
  const field = need.when?.field ?? '';
  return `${field} is ${JSON.stringify(fields[field])}, which could not be read as ${readsAs(need)}`;
}

function readsAs(need: ExitApproval): string {
  return need.when?.require === 'date' ? 'a date' : 'a number';
}

/** The reason telling the rep that an unreadable value made an approval necessary, and how to fix it. */
export function conditionUnreadable(config: PipelineConfig, need: ExitApproval, fields: Fields): Reason {
  const field = need.when?.field ?? '';
  const approver = config.approvers[need.role]?.name ?? need.role;
  const condition = need.when ? describeCriterion(need.when) : '';
  return {
    code: 'CONDITION_UNREADABLE',
    message:
      `${unreadableNote(need, fields)}, so the condition "${condition}" cannot be checked and the approval of ` +
      `${approver} is required. Send ${field} as ${readsAs(need)} (e.g. ${need.when?.require === 'date' ? '2026-12-01' : '30 or "30.5"'}) ` +
      'to let the condition decide.',
    field,
    value: fields[field],
    role: need.role,
  };
}
