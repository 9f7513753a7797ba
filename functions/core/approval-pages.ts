import escapeHtml from 'escape-html';
import type { Approval, Deal } from './deal.ts';
import { type Approver, approvedValues, dealAmount, dealTitle, formatTime, personLabel } from './emails.ts';
import type { StageConfig } from './pipeline-config.ts';

/**
 * The approval pages an approver sees after clicking the emailed link: plain HTML that works on a phone, without
 * JavaScript or external assets. Every value from a deal or a config is escaped.
 */

/** An HTTP answer carrying one page; structurally an API Gateway result. */
export interface HtmlResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * The pages load nothing and may only post back to this origin; the link's token must not leak through a referrer,
 * a frame or a cache.
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
};

/** A page as an HTTP answer with the security headers every approval page carries. */
export function htmlResponse(statusCode: number, page: string, headers: Record<string, string> = {}): HtmlResponse {
  return { statusCode, headers: { ...PAGE_HEADERS, ...headers }, body: page };
}

/** What the pages show about one approval request. */
export interface ApprovalView {
  deal: Deal;
  approval: Approval;
  /** The stage the approval validates. */
  stage: StageConfig;
  approver: Approver;
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
    `Approve or reject: ${deal.dealName ?? deal.dealId}`,
    [
      `<p>${escapeHtml(approver.name)}, your approval is requested for this deal.</p>`,
      facts([
        ['Deal', dealTitle(deal)],
        ['Owner', personLabel(deal.owner)],
        ['Amount', dealAmount(deal)],
        ['Stage', stage.name],
        ['What you approve', approval.reason],
        ['Values you approve', approvedValues(approval)],
        ['Requested', formatTime(approval.requestedAt)],
        ['Expires', formatTime(approval.expiresAt)],
      ]),
      waiting,
      list(`Goals of ${stage.name}`, stage.goals),
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
  const { deal, approval, movedTo } = view;
  const approved = approval.status === 'approved';
  const outcome = approved
    ? movedTo
      ? `The deal moved to ${movedTo}.`
      : 'The deal moves on once every approval it needs is granted and its exit criteria hold.'
    : 'The move that waited for this approval is cancelled; the deal owner is emailed your comment.';
  return layout(
    approved ? 'Approved' : 'Rejected',
    [
      `<p>You ${approved ? 'approved' : 'rejected'} the request for <strong>${escapeHtml(dealTitle(deal))}</strong>.</p>`,
      `<p>${escapeHtml(outcome)}</p>`,
      facts([
        ['Request', approval.reason],
        ['By', approval.decidedBy],
        ['At', approval.decidedAt ? formatTime(approval.decidedAt) : null],
        ['Comment', approval.comment],
      ]),
      '<p class="hint">You can close this page.</p>',
    ].join('\n'),
  );
}

/** The request was decided before (by someone else, or by an earlier click): who decided, and when. */
export function alreadyDecidedPage(view: { deal: Deal; approval: Approval }): string {
  const { deal, approval } = view;
  const when = approval.decidedAt ? ` at ${formatTime(approval.decidedAt)}` : '';
  const what =
    approval.status === 'approved' || approval.status === 'rejected'
      ? `This request was already ${approval.status} by ${approval.decidedBy ?? 'an approver'}${when}.`
      : `This request was cancelled${when}: the deal moved on, so it no longer needs this approval.`;
  return layout(
    'Already decided',
    [
      `<p>${escapeHtml(what)}</p>`,
      facts([
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

function facts(rows: [label: string, value: string | null][]): string {
  const shown = rows.filter((row): row is [string, string] => row[1] !== null);
  if (shown.length === 0) return '';
  const items = shown.map(([label, value]) => `<dt>${escapeHtml(label)}</dt><dd>${escapeHtml(value)}</dd>`);
  return `<dl>${items.join('')}</dl>`;
}

function list(title: string, items: string[]): string {
  if (items.length === 0) return '';
  return `<h2>${escapeHtml(title)}</h2><ul>${items.map((item) => `<li>${escapeHtml(item)}</li>`).join('')}</ul>`;
}

const STYLE = `
*{box-sizing:border-box}
body{margin:0;background:#f3f4f6;color:#111;font:16px/1.5 -apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif}
main{max-width:640px;margin:0 auto;padding:20px 16px;background:#fff;min-height:100vh}
.brand{margin:0 0 8px;color:#555;font-size:14px;font-weight:600;letter-spacing:.04em;text-transform:uppercase}
h1{font-size:22px;line-height:1.3;margin:0 0 16px;overflow-wrap:anywhere}
h2{font-size:17px;margin:20px 0 8px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:6px 12px;margin:16px 0}
dt{color:#555}
dd{margin:0;overflow-wrap:anywhere}
ul{padding-left:20px}
label{display:block;font-weight:600;margin:20px 0 6px}
textarea{width:100%;font:inherit;padding:10px;border:1px solid #9ca3af;border-radius:6px}
.hint{color:#555;font-size:14px}
.problem{background:#fdecea;border:1px solid #d93025;color:#8a1c14;padding:10px 12px;border-radius:6px}
.buttons{display:flex;gap:12px;flex-wrap:wrap;margin-top:16px}
button{flex:1 1 140px;font:inherit;font-weight:600;padding:14px;border:0;border-radius:6px;color:#fff;cursor:pointer}
.approve{background:#1e7d32}
.reject{background:#c62828}
`;

/**
 * A whole page as every Stageflow page is built: the title (escaped), the inline style the CSP allows, no referrer
 * (review links carry tokens), a phone-width viewport, then `body` inside `<body>`.
 */
export function htmlDocument(title: string, style: string, body: string[]): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="referrer" content="no-referrer">',
    `<title>${escapeHtml(title)} · Stageflow</title>`,
    `<style>${style}</style>`,
    '</head>',
    '<body>',
    ...body,
    '</body>',
    '</html>',
  ].join('\n');
}

function layout(title: string, body: string): string {
  return htmlDocument(title, STYLE, [
    '<main>',
    '<p class="brand">Stageflow approvals</p>',
    `<h1>${escapeHtml(title)}</h1>`,
    body,
    '</main>',
  ]);
}
