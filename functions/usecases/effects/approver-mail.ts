import type { ApprovalBase } from '../../adapters/deals/approvals.ts';
import { loadSecrets } from '../../adapters/secrets.ts';
import { hashApprovalToken, newApprovalToken, storedLink } from '../../core/approval-token.ts';
import { asksOf, personName } from '../../core/approver-routing.ts';
import type { Approval, ApprovalAsk } from '../../core/deal.ts';
import type { PipelineConfig } from '../../core/pipeline-config.ts';
import { requireStage } from '../../core/stages.ts';
import type { StoredDeal } from '../../core/stored-deal.ts';
import { approvalEscalatedEmail, decidedByAnotherEmail, linkWithdrawnEmail } from '../../views/approver-emails.ts';
import { approvalCancelledEmail, approvalRequestEmail } from '../../views/emails.ts';
import { type EffectRun, endedApprovals } from '../deal-change.ts';

/**
 * The approvers' emails of one decision, derived from the requests before and after it: each person newly asked
 * gets their own review link; a reminder goes to everyone still asked, the role's escalation address copied; a person
 * whose request was withdrawn is told their link no longer decides; when one member's decision ends a group's request,
 * the other members still asked are told who decided; everyone asked of a cancelled approval is told;
 * at expiry the escalation address is told.
 */
export async function notifyApprovers(run: EffectRun): Promise<void> {
  const { change, decided, services } = run;
  const { config } = run.pipeline;
  // The deal as it is now, read once and only when a request or reminder may go out (most decisions ask nobody).
  let read: Promise<StoredDeal | null> | undefined;
  const current = () => {
    read ??= services.deals.getDeal(change.after.deal.pipeline, change.after.deal.dealId);
    return read;
  };
  const stillAsked = async (approvalId: string, askId: string) => {
    const approval = (await current())?.deal.approvals.find(
      (a) => a.approvalId === approvalId && a.status === 'pending',
    );
    const ask = approval && asksOf(approval, config.approvers[approval.role]).find((a) => a.askId === askId);
    return approval && ask?.status === 'pending' ? { approval, ask } : undefined;
  };
  const earlier = new Map(change.before?.deal.approvals.map((a) => [a.approvalId, a]));
  for (const approval of change.after.deal.approvals.filter((a) => a.status === 'pending')) {
    const before = earlier.get(approval.approvalId);
    const known = new Set(before?.asks?.map((ask) => ask.askId) ?? (before ? [''] : []));
    for (const ask of asksOf(approval, config.approvers[approval.role])) {
      const wasPending = before?.asks?.find((a) => a.askId === ask.askId)?.status === 'pending';
      if (ask.status === 'pending' && !known.has(ask.askId)) {
        const open = await stillAsked(approval.approvalId, ask.askId);
        if (open) {
          const effect = `request:${approval.approvalId}:${ask.askId}`;
          await run.mailOnce(effect, (identity) => mailRequest(run, open, false, identity));
        }
      } else if (ask.status === 'withdrawn' && wasPending) {
        const effect = `withdrawn:${approval.approvalId}:${ask.askId}`;
        await run.mailOnce(effect, (identity) => tellWithdrawn(run, approval, ask, identity));
      }
    }
  }
  if (decided.kind === 'reminder' && decided.approvalId) {
    const approval = (await current())?.deal.approvals.find((a) => a.approvalId === decided.approvalId);
    for (const ask of approval ? asksOf(approval, config.approvers[approval.role]) : []) {
      const open = await stillAsked(decided.approvalId, ask.askId);
      const effect = `remind:${decided.approvalId}:${ask.askId}`;
      if (open) await run.mailOnce(effect, (identity) => mailRequest(run, open, true, identity));
    }
  }
  const ended = endedApprovals(change);
  if (ended.some((a) => a.status === 'cancelled')) {
    const previous = change.before ? await versionOf(run, change.before.deal.configVersion) : config;
    for (const approval of ended.filter((a) => a.status === 'cancelled')) {
      const roleName = previous.approvers[approval.role]?.name ?? approval.role;
      for (const ask of asksOf(approval, previous.approvers[approval.role]).filter(wasAskedOf(change, approval))) {
        await run.mailOnce(`cancelled:${approval.approvalId}:${ask.askId}`, (identity) =>
          services.mailer.send(
            approvalCancelledEmail({
              deal: change.after.deal,
              approval,
              approver: { name: ask.name ?? roleName, email: ask.email },
            }),
            identity,
          ),
        );
      }
    }
  }
  for (const approval of ended.filter((a) => a.status === 'approved' || a.status === 'rejected')) {
    const roleName = config.approvers[approval.role]?.name ?? approval.role;
    const others = (approval.asks ?? [])
      .filter((ask) => ask.status === 'withdrawn')
      .filter(wasAskedOf(change, approval));
    for (const ask of others) {
      await run.mailOnce(`decided:${approval.approvalId}:${ask.askId}`, (identity) =>
        services.mailer.send(
          decidedByAnotherEmail({ deal: change.after.deal, approval, to: ask.email, roleName }),
          identity,
        ),
      );
    }
  }
  for (const approval of ended.filter((a) => a.status === 'expired')) {
    const approver = config.approvers[approval.role];
    if (!approver?.escalateTo) continue;
    const to = approver.escalateTo;
    const asked = asksOf(approval, approver).map(personName);
    await run.mailOnce(`escalated:${approval.approvalId}`, (identity) =>
      services.mailer.send(
        approvalEscalatedEmail({ deal: change.after.deal, approval, to, roleName: approver.name, asked }),
        identity,
      ),
    );
  }
}

/** The requests of an ended approval that were still open before the decision: those people wait for it. */
function wasAskedOf(change: EffectRun['change'], approval: Approval) {
  const before = change.before?.deal.approvals.find((a) => a.approvalId === approval.approvalId);
  return (ask: ApprovalAsk) =>
    !before?.asks || before.asks.some((a) => a.askId === ask.askId && a.status === 'pending');
}

async function versionOf(run: EffectRun, version: string): Promise<PipelineConfig> {
  if (version === run.pipeline.version) return run.pipeline.config;
  return (await run.services.pipelines.version(run.change.after.deal.pipeline, version)).config;
}

/**
 * Mails one person their own review link: its token's hash, bound to their request, is stored first (with earlier
 * links kept valid), so a link that was emailed always works; a send that fails leaves an unused hash and is retried
 * with a fresh link. A reminder copies the role's escalation address.
 */
async function mailRequest(
  run: EffectRun,
  { approval, ask }: { approval: Approval; ask: ApprovalAsk },
  reminder: boolean,
  identity: string,
): Promise<void> {
  const { services, pipeline, change } = run;
  const { deal } = change.after;
  const approver = pipeline.config.approvers[approval.role];
  if (!approver) throw new Error(`approver role '${approval.role}' is not in pipeline ${pipeline.config.pipeline}`);
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
  const group =
    approval.decide === undefined
      ? null
      : `${approver.name}: ${approval.decide === 'all' ? 'every member must approve' : 'the first member to decide decides for the group'}`;
  const routing = {
    onBehalfOf: ask.onBehalfOf ? personName(ask.onBehalfOf) : null,
    group,
    cc: reminder && approver.escalateTo ? [approver.escalateTo] : [],
  };
  await services.deals.addReviewToken(base, storedLink(hashApprovalToken(token, LINK_SIGNING_KEY), ask.askId));
  const person = { name: ask.name ?? approver.name, email: ask.email };
  await services.mailer.send(
    approvalRequestEmail({ deal, stage, approval, approver: person, link, reminder, routing }),
    identity,
  );
  await services.deals.markApprovalSent(base, reminder ? 'remindedAt' : 'emailedAt', services.clock().toISOString());
}

async function tellWithdrawn(run: EffectRun, approval: Approval, ask: ApprovalAsk, identity: string): Promise<void> {
  const roleName = run.pipeline.config.approvers[approval.role]?.name ?? approval.role;
  const askedNow = (approval.asks ?? []).filter((a) => a.status === 'pending').map(personName);
  await run.services.mailer.send(
    linkWithdrawnEmail({ deal: run.change.after.deal, approval, to: ask.email, roleName, askedNow }),
    identity,
  );
}
