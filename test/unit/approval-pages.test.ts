import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Approval, Deal } from '../../functions/core/deal.ts';
import { requireStage } from '../../functions/core/stages.ts';
import {
  type ApprovalView,
  alreadyDecidedPage,
  confirmationPage,
  expiredPage,
  notFoundPage,
  reviewPage,
} from '../../functions/views/approval-pages.ts';
import { htmlResponse } from '../../functions/views/page.ts';
import { dealAwaitingApprovals, pipeline } from '../support/approval-fakes.ts';

const { config } = pipeline;
const TOKEN = 'Zm9vYmFyYmF6cXV4cXV1eHF1dXpxdXV6cXV1enF1dXo';
const finance = { name: 'Finance', email: 'finance@example.com' };

function view(deal: Deal = dealAwaitingApprovals(), approval: Partial<Approval> = {}): ApprovalView {
  const financeApproval = deal.approvals.find((a) => a.role === 'finance');
  if (!financeApproval) throw new Error('fixture has no finance approval');
  return {
    deal,
    approval: { ...financeApproval, ...approval },
    stage: requireStage(config, 'deliver'),
    approver: finance,
  };
}

const review = (v = view(), form: { comment?: string; problem?: string } = {}) =>
  reviewPage({ ...v, pendingMoveTo: 'Closed Won' }, { token: TOKEN, ...form });
const occurrences = (haystack: string, needle: string) => haystack.split(needle).length - 1;
const tagNames = (html: string) => new Set([...html.matchAll(/<([a-zA-Z][a-zA-Z0-9]*)/g)].map((m) => m[1]));
const PAGE_TAGS = [
  'html',
  'head',
  'meta',
  'title',
  'style',
  'body',
  'main',
  'p',
  'h1',
  'h2',
  'dl',
  'dt',
  'dd',
  'ul',
  'li',
];
const FORM_TAGS = ['form', 'input', 'label', 'textarea', 'div', 'button', 'strong'];

describe('the review page', () => {
  it('shows the deal, its owner and amount, the stage and what is being approved, with its times', () => {
    const page = review();
    expect(page).toContain('Acme rollout (D-1001)');
    expect(page).toContain('Riley Rep &lt;rep@example.com&gt;');
    expect(page).toContain('€48,000.00');
    expect(page).toContain('Deliver/Finalize');
    expect(page).toContain('Finance validates the signed contract details');
    expect(page).toContain('27 Nov 2026, 10:00 UTC');
    expect(page).toContain('30 Nov 2026, 10:00 UTC');
    expect(page).toContain('to Closed Won');
  });

  it('posts the decision form back to the approval with the token, a comment and the two buttons', () => {
    const page = review();
    expect(page).toContain('<form method="post" action="/approvals/apr-finance">');
    expect(page).toContain(`<input type="hidden" name="token" value="${TOKEN}">`);
    expect(page).toMatch(/<textarea id="comment" name="comment"[^>]*maxlength="2000"/);
    expect(page).toContain('<button type="submit" name="decision" value="approve"');
    expect(page).toContain('<button type="submit" name="decision" value="reject"');
    expect(page).toContain('A rejection needs a comment');
    expect(occurrences(page, TOKEN)).toBe(1);
  });

  it('works on a phone without loading anything: viewport meta, no script, no external URL', () => {
    const page = review();
    expect(page).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(page).not.toMatch(/<script|<link|<img|https?:\/\//i);
  });

  it('re-shows the form with the problem and the comment as typed', () => {
    const page = review(view(), { problem: 'A rejection needs a comment.', comment: 'not <b>sure</b>' });
    expect(page).toContain('<p class="problem" role="alert">A rejection needs a comment.</p>');
    expect(page).toContain('>not &lt;b&gt;sure&lt;/b&gt;</textarea>');
  });

  it('escapes a hostile deal name, owner and reason', () => {
    const deal = dealAwaitingApprovals({
      dealName: '<script>alert(1)</script>',
      owner: { name: '"><img src=x onerror=alert(1)>', email: 'rep@example.com' },
    });
    const page = review(view(deal, { reason: '</textarea><form action="https://evil.example">' }));
    expect(page).not.toMatch(/<script|<img|evil\.example">/);
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(occurrences(page, '<form')).toBe(1);
  });

  it('keeps any deal text out of the markup, whatever it holds (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), fc.string(), (dealName, ownerName, reason, comment) => {
        const deal = dealAwaitingApprovals({ dealName, owner: { name: ownerName, email: 'rep@example.com' } });
        const page = review(view(deal, { reason }), { comment, problem: reason });
        const allowed = [...PAGE_TAGS, ...FORM_TAGS];
        expect([...tagNames(page)].every((tag) => allowed.includes(tag ?? ''))).toBe(true);
        expect(occurrences(page, '<form')).toBe(1);
        expect(occurrences(page, '</textarea>')).toBe(1);
      }),
    );
  });
});

describe('the answer pages', () => {
  const decidedAt = '2026-11-27T11:05:00.000Z';

  it('confirms an approval that moved the deal', () => {
    const v = view(dealAwaitingApprovals(), {
      status: 'approved',
      decidedBy: 'Finance <finance@example.com>',
      decidedAt,
    });
    const page = confirmationPage({ ...v, movedTo: 'Closed Won' });
    expect(page).toContain('<h1>Approved</h1>');
    expect(page).toContain('The deal moved to Closed Won.');
    expect(page).toContain('Finance &lt;finance@example.com&gt;');
  });

  it('confirms a rejection, with the comment', () => {
    const v = view(dealAwaitingApprovals(), { status: 'rejected', decidedAt, comment: 'Totals differ' });
    const page = confirmationPage({ ...v, movedTo: null });
    expect(page).toContain('<h1>Rejected</h1>');
    expect(page).toContain('the deal owner is emailed your comment');
    expect(page).toContain('Totals differ');
  });

  it('says who decided before, and when', () => {
    const v = view(dealAwaitingApprovals(), {
      status: 'approved',
      decidedBy: 'Finance <finance@example.com>',
      decidedAt,
    });
    expect(alreadyDecidedPage(v)).toContain(
      'already approved by Finance &lt;finance@example.com&gt; at 27 Nov 2026, 11:05 UTC.',
    );
    expect(alreadyDecidedPage(view(dealAwaitingApprovals(), { status: 'cancelled', decidedAt }))).toContain(
      'This request was cancelled at 27 Nov 2026, 11:05 UTC',
    );
  });

  it('says when a request expired', () => {
    expect(expiredPage(view())).toContain('expired on 30 Nov 2026, 10:00 UTC without a decision');
  });

  it('says nothing about any deal when the link is not valid', () => {
    const page = notFoundPage();
    expect(page).toContain('This approval link is not valid.');
    expect(page).not.toMatch(/Acme|D-1001|finance|approve"/i);
  });

  it('answers with headers that keep the page and its token private', () => {
    const response = htmlResponse(200, review());
    expect(response.statusCode).toBe(200);
    expect(response.headers).toMatchObject({
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
    });
    expect(htmlResponse(405, notFoundPage(), { allow: 'GET, HEAD, POST' }).headers.allow).toBe('GET, HEAD, POST');
  });
});
