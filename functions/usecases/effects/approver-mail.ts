import type { ApprovalBase } from '../../adapters/deals/approvals.ts';
import { loadSecrets } from '../../adapters/secrets.ts';
import { hashApprovalToken, newApprovalToken } from '../../core/approval-token.ts';
import type { Approval } from '../../core/deal.ts';
import { requireStage } from '../../core/stages.ts';
import { approvalCancelledEmail, approvalRequestEmail } from '../../views/emails.ts';
import { type EffectRun, endedApprovals, requestedApprovals } from '../deal-change.ts';

/** New approval requests each get a fresh review link by email; a reminder decision gets the reminder with its link. */
export async function notifyApprovers(run: EffectRun): Promise<void> {
  const { change, decided, services } = run;
  const current = await services.deals.getDeal(change.after.deal.pipeline, change.after.deal.dealId);
  const stillPending = (approvalId: string) =>
    current?.deal.approvals.find((a) => a.approvalId === approvalId && a.status === 'pending');
  for (const approval of requestedApprovals(change)) {
    const pending = stillPending(approval.approvalId);
    if (pending) await run.once(`request:${approval.approvalId}`, () => mailApprover(run, pending, false));
  }
  if (decided.kind === 'reminder' && decided.approvalId) {
    const pending = stillPending(decided.approvalId);
    if (pending) await run.once(`remind:${decided.approvalId}`, () => mailApprover(run, pending, true));
  }
  for (const approval of endedApprovals(change).filter((a) => a.status === 'cancelled')) {
    const approver = run.pipeline.config.approvers[approval.role];
    if (approver) {
      await run.once(`cancelled:${approval.approvalId}`, () =>
        services.mailer.send(approvalCancelledEmail({ deal: change.after.deal, approval, approver })),
      );
    }
  }
}

/**
 * Mails the approver one review link: its token's hash is stored first (with earlier links kept valid), so a link
 * that was emailed always works; a send that fails leaves an unused hash and is retried with a fresh link.
 */
async function mailApprover(run: EffectRun, approval: Approval, reminder: boolean): Promise<void> {
  const { services, pipeline, change } = run;
  const { deal } = change.after;
  const record = await services.deals.getApproval(approval.approvalId);
  if (reminder ? record?.remindedAt : record?.emailedAt) return;
  const approver = pipeline.config.approvers[approval.role];
  if (!approver) throw new Error(`approver role '${approval.role}' has no address in the pipeline config`);
  const { LINK_SIGNING_KEY } = await loadSecrets();
  const token = newApprovalToken();
  const base: ApprovalBase = {
    approvalId: approval.approvalId,
    pipeline: deal.pipeline,
    dealId: deal.dealId,
    role: approval.role,
    expiresAt: approval.expiresAt,
  };
  const link = `${services.publicBaseUrl}/approvals/${encodeURIComponent(approval.approvalId)}?token=${token}`;
  const stage = requireStage(pipeline.config, approval.stage);
  await services.deals.addReviewToken(base, hashApprovalToken(token, LINK_SIGNING_KEY));
  await services.mailer.send(approvalRequestEmail({ deal, stage, approval, approver, link, reminder }));
  await services.deals.markApprovalSent(base, reminder ? 'remindedAt' : 'emailedAt', services.clock().toISOString());
}
