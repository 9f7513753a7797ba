import { askLabel, routeApproval } from '../approver-routing.ts';
import type { Deal } from '../deal.ts';
import { approvalsNoLongerNeeded, stageUnder } from '../migrate.ts';
import type { PipelineConfig } from '../pipeline-config.ts';

/** A pending approval whose people change with the new version: who is asked now, and who would be asked after. */
export interface ReroutedApproval {
  dealId: string;
  approvalId: string;
  role: string;
  askedNow: string[];
  askedAfter: string[];
}

/**
 * The pending approvals of the moving deals that the new version keeps but asks of other people: the people asked
 * now, and those its approvers would ask at `now` (delegations and the deal's `fromField` included).
 */
export function reroutedApprovals(next: PipelineConfig, moving: readonly Deal[], now: string): ReroutedApproval[] {
  const rerouted: ReroutedApproval[] = [];
  for (const deal of moving) {
    const stage = stageUnder(next, deal.stage);
    if (!stage) continue;
    const cancelled = new Set(approvalsNoLongerNeeded(deal, stage).map((a) => a.approvalId));
    for (const approval of deal.approvals) {
      const approver = next.approvers[approval.role];
      if (approval.status !== 'pending' || cancelled.has(approval.approvalId) || !approver || !approval.asks) continue;
      const askedNow = approval.asks.filter((a) => a.status === 'pending').map(askLabel);
      const after = structuredClone(approval);
      const { asked, withdrawn } = routeApproval(after, approver, deal.fields, now);
      if (asked.length === 0 && withdrawn.length === 0) continue;
      const askedAfter = (after.asks ?? []).filter((a) => a.status === 'pending').map(askLabel);
      rerouted.push({
        dealId: deal.dealId,
        approvalId: approval.approvalId,
        role: approval.role,
        askedNow,
        askedAfter,
      });
    }
  }
  return rerouted;
}

/** The plan's lines for the rerouted approvals, as an admin reads them in a terminal. */
export function formatReroutedApprovals(rerouted: readonly ReroutedApproval[]): string[] {
  if (rerouted.length === 0) return [];
  return [
    `Pending approvals asked of other people: ${rerouted.length}`,
    ...rerouted.map(
      (r) =>
        `  ${r.dealId} ${r.role}: ${r.askedNow.join(', ') || '(nobody)'} → ${r.askedAfter.join(', ') || '(nobody)'}`,
    ),
  ];
}
