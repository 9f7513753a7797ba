import { openExitCriteria } from '../../core/criteria.ts';
import { requireStage } from '../../core/stages.ts';
import {
  approvalDecidedEmail,
  approvalExpiredEmail,
  dealClosedEmail,
  moveRefusedEmail,
  ownerApprovalsCancelledEmail,
  ownerApprovalsRequestedEmail,
  stageEntryEmail,
} from '../../views/emails.ts';
import { type EffectRun, endedApprovals, enteredStage, requestedApprovals } from '../deal-change.ts';
import type { EffectServices } from '../effect-services.ts';

/**
 * What the owner is told about a decision, saying what actually happened: the stage entered (its guidance, or the
 * close), the approvals asked, an approver's decision, an expiry, cancelled approvals, or a refused move.
 */
export async function notifyOwner(run: EffectRun): Promise<void> {
  const { change, decided, pipeline, services } = run;
  const { deal } = change.after;
  if (!deal.owner?.email) return;
  const { config } = pipeline;
  const send = (effect: string, message: Parameters<EffectServices['mailer']['send']>[0]) =>
    run.mailOnce(effect, (identity) => services.mailer.send(message, identity));
  const entered = enteredStage(change) ? requireStage(config, deal.stage) : null;
  const approvers = config.approvers;
  // An approver's decision first: when it was the last one a move waited for, the stage entry follows from it.
  for (const approval of endedApprovals(change)) {
    if (approval.status === 'approved' || approval.status === 'rejected') {
      const movedTo = approval.status === 'approved' && entered !== null ? entered : undefined;
      await send(`owner:decided:${approval.approvalId}`, approvalDecidedEmail({ deal, approval, approvers, movedTo }));
    } else if (approval.status === 'expired') {
      await send(`owner:expired:${approval.approvalId}`, approvalExpiredEmail({ deal, approval, approvers }));
    }
  }
  if (entered !== null) {
    if (entered.closed) await send('owner:closed', dealClosedEmail({ deal, stage: entered }));
    else if (config.rules.notifyOwnerOnStageEntry) {
      const openCriteria = openExitCriteria(entered, deal.fields);
      const movedByConfig = decided.kind === 'config';
      await send('owner:stage', stageEntryEmail({ deal, stage: entered, openCriteria, movedByConfig }));
    }
  }
  const requested = requestedApprovals(change);
  const first = requested[0];
  if (first) {
    const stage = requireStage(config, first.stage);
    await send(
      'owner:requested',
      ownerApprovalsRequestedEmail({ deal, stage, approvals: requested, approvers: config.approvers }),
    );
  }
  const cancelled = endedApprovals(change).filter((a) => a.status === 'cancelled');
  if (cancelled.length > 0) {
    await send('owner:cancelled', ownerApprovalsCancelledEmail({ deal, approvals: cancelled, approvers }));
  }
  // A CRM stage the map lacks is the map's fault, not the owner's: it is logged and alarmed, not mailed.
  const unmapped = decided.reasons.some((reason) => reason.code === 'UNKNOWN_STAGE') && decided.source !== 'generic';
  if (decided.kind === 'event' && decided.outcome === 'rejected' && decided.target && !decided.echo && !unmapped) {
    await run.mailOnce('owner:refused', (identity) => mailRefusal(run, decided.target ?? '', identity));
  }
}

/** The refusal email, at most once a day for the same refusal (deal, target stage, missing fields). */
async function mailRefusal(run: EffectRun, target: string, identity: string): Promise<void> {
  const { change, decided, pipeline, services } = run;
  const { deal } = change.after;
  const missing = decided.reasons.flatMap((r) => (r.code === 'EXIT_CRITERIA_UNMET' ? r.missing : [])).sort();
  const notice = `refused:${target}:${missing.join(',')}:${decided.reasons.map((r) => r.code).join(',')}`;
  const now = services.clock().toISOString();
  if (!(await services.deals.claimDailyNotice(deal.pipeline, deal.dealId, notice, now))) return;
  const stage = requireStage(pipeline.config, deal.stage);
  try {
    await services.mailer.send(
      moveRefusedEmail({ deal, target, reasons: decided.reasons, stage, config: pipeline.config }),
      identity,
    );
  } catch (error) {
    await services.deals.releaseDailyNotice(deal.pipeline, deal.dealId, notice, now);
    throw error;
  }
}
