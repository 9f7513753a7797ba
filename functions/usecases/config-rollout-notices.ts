import { approvalCancelledEmail, configRolloutEmail } from '../core/emails.ts';
import { stageOf } from '../core/stages.ts';
import type { DealChange } from './deal-change.ts';
import type { Services } from './services.ts';

/**
 * The mail a config rollout owes for one migrated deal, derived from the committed change alone (old and new item),
 * so that the outbox (the table's stream consumer) can call it as it is: each approver whose pending request the new
 * version cancelled is told, and so is the owner when approvals were cancelled or a retired stage moved the deal.
 * Until the outbox consumes `lastDecision.kind === 'config'`, the rollout use case calls it right after each commit.
 */
export async function sendConfigRolloutNotices(change: DealChange, services: Services): Promise<number> {
  const { before, after } = change;
  if (before === null || before.deal.configVersion === after.deal.configVersion) return 0;
  const wasPending = new Set(before.deal.approvals.filter((a) => a.status === 'pending').map((a) => a.approvalId));
  const cancelled = after.deal.approvals.filter((a) => a.status === 'cancelled' && wasPending.has(a.approvalId));
  const moved = before.deal.stage !== after.deal.stage;
  if (cancelled.length === 0 && !moved) return 0;
  const { config } = await services.pipelines.version(after.deal.pipeline, after.deal.configVersion);
  // The approver's address as the deal's earlier version knew it: that is where the request went.
  const asked = await services.pipelines.version(before.deal.pipeline, before.deal.configVersion);
  let sent = 0;
  for (const approval of cancelled) {
    const approver = asked.config.approvers[approval.role] ?? config.approvers[approval.role];
    if (!approver) continue;
    await services.mailer.send(approvalCancelledEmail({ deal: after.deal, approval, approver }));
    sent++;
  }
  const stage = stageOf(config, after.deal.stage);
  if (after.deal.owner?.email) {
    const stageMove = moved && stage ? { from: before.deal.stage, to: stage } : null;
    const approvers = { ...asked.config.approvers, ...config.approvers };
    await services.mailer.send(configRolloutEmail({ deal: after.deal, cancelled, stageMove, approvers }));
    sent++;
  }
  return sent;
}
