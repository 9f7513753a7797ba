import { isDeepStrictEqual } from 'node:util';
import { readCondition } from './criteria.ts';
import type { Approval, Deal, Fields } from './deal.ts';
import type { ExitApproval, StageConfig } from './pipeline-config.ts';

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

/** What the approver is told when the approval is needed because its condition could not read the field. */
export function unreadableNote(need: ExitApproval, fields: Fields): string {
  const field = need.when?.field ?? '';
  return `${field} is ${JSON.stringify(fields[field])}, which could not be read as ${readsAs(need)}`;
}

/** How an approval's condition reads its field: what a value must look like for the condition to decide. */
export function readsAs(need: ExitApproval): string {
  return need.when?.require === 'date' ? 'a date' : 'a number';
}
