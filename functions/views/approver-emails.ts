import type { Approval, Deal } from '../core/deal.ts';
import { type EmailMessage, render } from './email-layout.ts';
import { dealTitle, formatTime, shortName } from './wording.ts';

/** Emails about whom an approval asks: a person whose link no longer decides, and the escalation at expiry. */

/** Tells a person their review link no longer decides: the request now goes to someone else. */
export function linkWithdrawnEmail(input: {
  deal: Deal;
  approval: Approval;
  to: string;
  roleName: string;
  askedNow: string[];
}): EmailMessage {
  const { deal, approval, to, roleName, askedNow } = input;
  return render({
    to,
    subject: `No longer yours to decide: ${shortName(deal)} — ${roleName}`,
    heading: `Your link for ${dealTitle(deal)} no longer decides`,
    paragraphs: [
      `The request "${approval.reason}" now goes to ${askedNow.join(', ') || 'someone else'}, so the link you ` +
        'were sent no longer decides it. Nothing is waiting for you.',
    ],
    facts: [
      ['Deal', dealTitle(deal)],
      ['Approver role', roleName],
      ['Requested', formatTime(approval.requestedAt)],
    ],
  });
}

/** Tells a member of a group that another member's decision decided the request for the role. */
export function decidedByAnotherEmail(input: {
  deal: Deal;
  approval: Approval;
  to: string;
  roleName: string;
}): EmailMessage {
  const { deal, approval, to, roleName } = input;
  const verdict = approval.status === 'approved' ? 'approved' : 'rejected';
  return render({
    to,
    subject: `Decided by ${approval.decidedBy ?? 'another member'}: ${shortName(deal)} — ${roleName}`,
    heading: `The ${roleName} approval for ${dealTitle(deal)} is decided`,
    paragraphs: [
      `${approval.decidedBy ?? 'Another member'} ${verdict} the request "${approval.reason}" for ${roleName}, so ` +
        'the link you were sent no longer decides it. Nothing is waiting for you.',
    ],
    facts: [
      ['Deal', dealTitle(deal)],
      ['Approver role', roleName],
      ['Decided', approval.decidedAt ? formatTime(approval.decidedAt) : '—'],
    ],
  });
}

/** Tells the escalation address that a request expired without a decision: someone who can unblock the deal. */
export function approvalEscalatedEmail(input: {
  deal: Deal;
  approval: Approval;
  to: string;
  roleName: string;
  asked: string[];
}): EmailMessage {
  const { deal, approval, to, roleName, asked } = input;
  return render({
    to,
    subject: `Approval expired unanswered: ${shortName(deal)} — ${roleName}`,
    heading: `Nobody decided the ${roleName} approval for ${dealTitle(deal)}`,
    paragraphs: [
      `The request "${approval.reason}" expired on ${formatTime(approval.expiresAt)} without a decision. ` +
        'The move that waited for it is cancelled; the deal owner is told and can ask again.',
    ],
    facts: [
      ['Deal', dealTitle(deal)],
      ['Approver role', roleName],
      ['Asked', asked.join(', ') || null],
      ['Requested', formatTime(approval.requestedAt)],
    ],
  });
}
