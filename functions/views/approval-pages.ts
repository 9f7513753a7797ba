import escapeHtml from 'escape-html';
import { personName } from '../core/approver-routing.ts';
import type { Approval, ApprovalAsk, Deal } from '../core/deal.ts';
import type { StageConfig } from '../core/pipeline-config.ts';
import { bulletList, type ErrorPages, factList, htmlDocument } from './page.ts';
import { type Approver, approvalFacts, dealTitle, type Fact, formatTime, shortName } from './wording.ts';

/**
 * The approval pages an approver sees after clicking the emailed link: plain HTML that works on a phone, without
 * JavaScript or external assets. Every value from a deal or a config is escaped.
 */

/** What the pages show about one approval request. */
export interface ApprovalView {
  deal: Deal;
  approval: Approval;
  /** The stage the approval validates. */
  stage: StageConfig;
  approver: Approver;
  /** The person's own request the link was emailed for (absent for a link without one). */
  ask?: ApprovalAsk | null;
}

/** Who the person asked stands in for, and how their group decides: the facts a delegate or a member needs. */
function routingFacts(view: ApprovalView): Fact[] {
  const { approval, ask } = view;
  const behalf = ask?.onBehalfOf ? personName(ask.onBehalfOf) : null;
  const group =
    approval.decide === undefined
      ? null
      : approval.decide === 'all'
        ? 'Every member of the group must approve; one rejection rejects'
        : 'The first member to decide decides for the group';
  return [
    ['On behalf of', behalf],
    ['Group decision', group],
  ];
}

/** The longest comment an approver may write. */
export const MAX_COMMENT_LENGTH = 2000;

/**
 * The review page: the deal, what is being approved, and the decision form. `problem` (with the comment as typed)
 * re-shows the form after a refused submission.
 */
export function reviewPage(
  view: ApprovalView & { pendingMoveTo: string | null },
  form: { token: string; comment?: string; problem?: string },
): string {
  const { deal, approval, stage, approver, pendingMoveTo } = view;
  const problem = form.problem ? `<p class="problem" role="alert">${escapeHtml(form.problem)}</p>` : '';
  const waiting = pendingMoveTo
    ? `<p>The deal waits to move from ${escapeHtml(stage.name)} to ${escapeHtml(pendingMoveTo)}; ` +
      'it moves once every approval it needs is granted.</p>'
    : '';
  return layout(
    `Approve or reject: ${shortName(deal)}`,
    [
      `<p>${escapeHtml(approver.name)}, your approval is requested for this deal` +
        `${view.ask?.onBehalfOf ? ` on behalf of ${escapeHtml(personName(view.ask.onBehalfOf))}` : ''}.</p>`,
      factList([...approvalFacts(view), ...routingFacts(view)]),
      waiting,
      bulletList(`Goals of ${stage.name}`, stage.goals),
      problem,
      `<form method="post" action="/approvals/${escapeHtml(encodeURIComponent(approval.approvalId))}">`,
      `<input type="hidden" name="token" value="${escapeHtml(form.token)}">`,
      '<label for="comment">Comment for the deal owner</label>',
      `<textarea id="comment" name="comment" rows="4" maxlength="${MAX_COMMENT_LENGTH}">` +
        `${escapeHtml(form.comment ?? '')}</textarea>`,
      '<p class="hint">Optional to approve. A rejection needs a comment: it tells the owner what to fix.</p>',
      '<div class="buttons">',
      '<button type="submit" name="decision" value="approve" class="approve">Approve</button>',
      '<button type="submit" name="decision" value="reject" class="reject">Reject</button>',
      '</div></form>',
    ].join('\n'),
  );
}

/** The answer to a recorded decision: what was decided, and whether the deal moved. */
export function confirmationPage(view: ApprovalView & { movedTo: string | null }): string {
  const { deal, approval, movedTo, ask } = view;
  const approved = approval.status === 'approved' || (approval.status === 'pending' && ask?.status === 'approved');
  const outcome = approved
    ? approval.status === 'pending'
      ? 'Your approval is recorded. The request is granted once every member of the group approved.'
      : movedTo
        ? `The deal moved to ${movedTo}.`
        : 'The deal moves on once every approval it needs is granted and its exit criteria hold.'
    : 'The move that waited for this approval is cancelled; the deal owner is emailed your comment.';
  return layout(
    approved ? 'Approved' : 'Rejected',
    [
      `<p>You ${approved ? 'approved' : 'rejected'} the request for <strong>${escapeHtml(dealTitle(deal))}</strong>.</p>`,
      `<p>${escapeHtml(outcome)}</p>`,
      factList([
        ['Request', approval.reason],
        ['By', ask ? personName(ask) : approval.decidedBy],
        ['On behalf of', ask?.onBehalfOf ? personName(ask.onBehalfOf) : null],
        ['At', ask?.decidedAt ? formatTime(ask.decidedAt) : approval.decidedAt ? formatTime(approval.decidedAt) : null],
        ['Comment', approval.comment],
      ]),
      '<p class="hint">You can close this page.</p>',
    ].join('\n'),
  );
}

/** The request was decided before (by someone else, or by an earlier click): who decided, and when. */
export function alreadyDecidedPage(view: { deal: Deal; approval: Approval; ask?: ApprovalAsk | null }): string {
  const { deal, approval, ask } = view;
  const when = approval.decidedAt ? ` at ${formatTime(approval.decidedAt)}` : '';
  const behalf = approval.onBehalfOf ? ` on behalf of ${approval.onBehalfOf}` : '';
  const what =
    approval.status === 'pending' && ask
      ? `You already ${ask.status} this request${ask.decidedAt ? ` at ${formatTime(ask.decidedAt)}` : ''}; ` +
        'it waits for the other members of the group.'
      : approval.status === 'approved' || approval.status === 'rejected'
        ? `This request was already ${approval.status} by ${approval.decidedBy ?? 'an approver'}${behalf}${when}.`
        : `This request was cancelled${when}: the deal moved on, so it no longer needs this approval.`;
  return layout(
    'Already decided',
    [
      `<p>${escapeHtml(what)}</p>`,
      factList([
        ['Deal', dealTitle(deal)],
        ['Comment', approval.comment],
      ]),
      '<p class="hint">Nothing was changed. If the deal needs a new approval, you will receive a new email.</p>',
    ].join('\n'),
  );
}

/** The request ran out of time without a decision. */
export function expiredPage(view: { deal: Deal; approval: Approval }): string {
  const { deal, approval } = view;
  return layout(
    'Request expired',
    [
      `<p>This approval request for <strong>${escapeHtml(dealTitle(deal))}</strong> expired on ` +
        `${escapeHtml(formatTime(approval.expiresAt))} without a decision.</p>`,
      '<p class="hint">Nothing was changed. If the deal still needs your approval, the owner requests it again ' +
        'and you receive a new email with a new link.</p>',
    ].join('\n'),
  );
}

/** A new config version no longer asks the approval's role: the request is gone, and nothing waits for it. */
export function noLongerNeededPage(view: { deal: Deal; approval: Approval }): string {
  const { deal, approval } = view;
  const when = approval.decidedAt ? ` on ${formatTime(approval.decidedAt)}` : '';
  return layout(
    'Request no longer needed',
    [
      `<p>The approval request for <strong>${escapeHtml(dealTitle(deal))}</strong> was withdrawn${escapeHtml(when)}: ` +
        "the pipeline's rules changed, and the deal no longer needs this approval.</p>",
      factList([['What was asked', approval.reason]]),
      '<p class="hint">Nothing was changed, and nothing is waiting for you. If the deal needs your approval again, ' +
        'you receive a new email with a new link.</p>',
    ].join('\n'),
  );
}

/** The person's link was withdrawn (a delegation started or ended, the approvers changed): who decides now. */
export function linkWithdrawnPage(view: { deal: Deal; approval: Approval; askedNow: string[] }): string {
  const { deal, approval, askedNow } = view;
  return layout(
    'This link no longer decides',
    [
      `<p>The approval request for <strong>${escapeHtml(dealTitle(deal))}</strong> now goes to someone else, ` +
        'so this link no longer decides it.</p>',
      factList([
        ['What is asked', approval.reason],
        ['Asked now', askedNow.join(', ') || null],
      ]),
      '<p class="hint">Nothing was changed. If the request comes back to you, you receive a new email with a new ' +
        'link.</p>',
    ].join('\n'),
  );
}

/** Unknown request or wrong token: deliberately says nothing about any deal. */
export function notFoundPage(): string {
  return problemPage(
    'Link not valid',
    'This approval link is not valid. Open the approval email again and use its link exactly as sent.',
  );
}

/** A refusal or a failure with no deal to show: a title and a sentence that says what to do. */
export function problemPage(title: string, message: string): string {
  return layout(title, `<p>${escapeHtml(message)}</p>`);
}

/** What the approval pages answer when a request fails: a 404 says nothing about why, so a guessed link learns nothing. */
export const approvalErrorPages: ErrorPages = {
  notFound: notFoundPage,
  problem: problemPage,
  failureAdvice:
    'The page could not be completed. Open the link from your email again in a minute: it shows whether a ' +
    'decision was recorded, and lets you decide if none was.',
  failureLog: 'approval request failed',
};

const STYLE = `
body{margin:0;background:#f3f4f6;color:#111;font:16px/1.5 -apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif}
main{max-width:640px;margin:0 auto;padding:20px 16px;background:#fff;min-height:100vh}
.brand{margin:0 0 8px;color:#555;font-size:14px;font-weight:600;letter-spacing:.04em;text-transform:uppercase}
h1{font-size:22px;line-height:1.3;margin:0 0 16px;overflow-wrap:anywhere}
dl{display:grid;grid-template-columns:max-content 1fr;gap:6px 12px;margin:16px 0}
ul{padding-left:20px}
label{display:block;font-weight:600;margin:20px 0 6px}
textarea{width:100%;font:inherit;padding:10px;border:1px solid #9ca3af;border-radius:6px}
.hint{color:#555;font-size:14px}
.buttons{display:flex;gap:12px;flex-wrap:wrap;margin-top:16px}
button{flex:1 1 140px;font:inherit;font-weight:600;padding:14px;border:0;border-radius:6px;color:#fff;cursor:pointer}
.approve{background:#1e7d32}
.reject{background:#c62828}
`;

function layout(title: string, body: string): string {
  return htmlDocument(title, STYLE, [
    '<main>',
    '<p class="brand">Stageflow approvals</p>',
    `<h1>${escapeHtml(title)}</h1>`,
    body,
    '</main>',
  ]);
}
