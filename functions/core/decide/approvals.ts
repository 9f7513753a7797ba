import { conditionValuesOf, unreadableNote } from '../approval-gate.ts';
import { routeApproval } from '../approver-routing.ts';
import type { Approval, ApprovalStatus, Fields } from '../deal.ts';
import type { ExitApproval, StageConfig } from '../pipeline-config.ts';
import type { Draft } from './draft.ts';
import { approverName } from './reasons.ts';

/**
 * Asking for approvals and ending them. Each request starts `pending` with its reminder and expiry times; each one
 * that ends (decided, expired or cancelled) is also listed in the draft's `ended`, whose waiting tasks are released.
 */

/** Asks the entry approvals of `stage` for the deal's new visit of it. */
export function requestEntryApprovals(draft: Draft, stage: StageConfig): void {
  for (const role of stage.entryApprovals) {
    const reason =
      stage.exitApprovals.find((a) => a.role === role)?.reason ??
      `${approverName(draft.config, role)} validates the deal on its entry into ${stage.name}`;
    requestApproval(draft, role, stage, 'entry', reason);
  }
}

/**
 * Asks the exit approvals a move out of `from` still misses. An approval needed only because its condition could
 * not read its field (`unreadable`) tells the approver so.
 */
export function requestExitApprovals(
  draft: Draft,
  from: StageConfig,
  missing: ExitApproval[],
  unreadable: ExitApproval[],
): void {
  const { deal, config } = draft;
  for (const need of missing) {
    const reason = need.reason ?? `${approverName(config, need.role)} approves the deal leaving ${from.name}`;
    const note = unreadable.includes(need) ? ` (${unreadableNote(need, deal.fields)})` : '';
    requestApproval(draft, need.role, from, 'exit', `${reason}${note}`, conditionValuesOf(need, deal.fields));
  }
}

/** Ends an approval now with `status`, and lists it among the approvals the decision ended. */
export function endApproval(draft: Draft, approval: Approval, status: Exclude<ApprovalStatus, 'pending'>): void {
  approval.status = status;
  approval.decidedAt = draft.ctx.now;
  draft.ended.push({ ...approval });
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
  const approver = draft.config.approvers[role];
  if (approver) routeApproval(approval, approver, deal.fields, ctx.now);
  deal.approvals.push(approval);
  draft.requested.push({ ...approval });
}

/**
 * Works out again whom each pending approval of the deal's current visit asks under `config` (a delegation started or
 * ended, or a new config version changed the approvers): requests to people no longer asked are withdrawn and the
 * people now asked get their own. Approvals of roles `config` no longer has are left to the caller.
 * @returns the approvals whose requests changed
 */
export function rerouteApprovals(draft: Draft): Approval[] {
  const { deal, config, ctx } = draft;
  const changed: Approval[] = [];
  for (const approval of deal.approvals) {
    const approver = config.approvers[approval.role];
    if (approval.status !== 'pending' || approval.visit !== deal.visit || !approver || !approval.asks) continue;
    const before = approval.rerouteAt;
    const { asked, withdrawn } = routeApproval(approval, approver, deal.fields, ctx.now);
    if (asked.length > 0 || withdrawn.length > 0 || before !== approval.rerouteAt) changed.push(approval);
  }
  return changed;
}

function addSeconds(iso: string, seconds: number): string {
  return new Date(Date.parse(iso) + seconds * 1000).toISOString();
}
