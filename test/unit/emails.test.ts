import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Approval, Deal } from '../../functions/core/deal.ts';
import { requireStage } from '../../functions/core/stages.ts';
import type { EmailMessage } from '../../functions/views/email-layout.ts';
import {
  approvalDecidedEmail,
  approvalExpiredEmail,
  approvalRequestEmail,
  dealClosedEmail,
  NoOwnerEmailError,
  ownerApprovalsRequestedEmail,
  stageEntryEmail,
} from '../../functions/views/emails.ts';
import { dealAmount } from '../../functions/views/wording.ts';
import { dealAwaitingApprovals, pipeline } from '../support/approval-fakes.ts';

const { config } = pipeline;
const deliver = requireStage(config, 'deliver');
const finance = { name: 'Finance', email: 'finance@example.com' };
const TOKEN = 'q3Jx0b4B6yqZcV1mB3lqJ0kQeG3n8yK0b5kH1rW2s4A';
const LINK = `http://127.0.0.1:3000/approvals/apr-finance?token=${TOKEN}`;

function financeApproval(deal: Deal): Approval {
  const approval = deal.approvals.find((a) => a.role === 'finance');
  if (!approval) throw new Error('fixture has no finance approval');
  return approval;
}

function requestEmail(deal = dealAwaitingApprovals(), reminder = false): EmailMessage {
  return approvalRequestEmail({
    deal,
    stage: deliver,
    approval: financeApproval(deal),
    approver: finance,
    link: LINK,
    reminder,
  });
}

const occurrences = (haystack: string, needle: string) => haystack.split(needle).length - 1;
const urls = (body: string) => body.match(/https?:\/\/[^\s"'<>]+/g) ?? [];
/** The tag names an email's HTML uses; anything from a deal must show up as text, never as a tag. */
const tagNames = (html: string) => new Set([...html.matchAll(/<([a-zA-Z][a-zA-Z0-9]*)/g)].map((m) => m[1]));
const EMAIL_TAGS = [
  'html',
  'head',
  'meta',
  'title',
  'body',
  'div',
  'h1',
  'h2',
  'p',
  'table',
  'tr',
  'td',
  'ul',
  'li',
  'a',
];

describe('approvalRequestEmail', () => {
  it('goes to the approver and names the deal, owner, amount, stage, what is validated and the expiry', () => {
    const email = requestEmail();
    expect(email.to).toBe('finance@example.com');
    expect(email.subject).toBe('Approval needed: Acme rollout — Finance');
    for (const body of [email.text, email.html]) {
      expect(body).toContain('Acme rollout (D-1001)');
      expect(body).toContain('Riley Rep');
      expect(body).toContain('€48,000.00');
      expect(body).toContain('Deliver/Finalize');
      expect(body).toContain('Finance validates the signed contract details');
      expect(body).toContain('Finance and Legal validation');
      expect(body).toContain('30 Nov 2026, 10:00 UTC');
    }
  });

  it('holds exactly one link, the review link, once in the text and as the only href of the HTML', () => {
    const email = requestEmail();
    expect(urls(email.text)).toEqual([LINK]);
    expect(urls(email.html)).toEqual([LINK]);
    expect(occurrences(email.html, '<a ')).toBe(1);
    expect(email.html).toContain(`href="${LINK}"`);
  });

  it('carries no token but the one in its link', () => {
    const email = requestEmail();
    const longTokens = (body: string) => body.match(/[A-Za-z0-9_-]{32,}/g) ?? [];
    expect(longTokens(email.text)).toEqual([TOKEN]);
    expect(longTokens(email.html)).toEqual([TOKEN]);
  });

  it('says Reminder in the subject of a reminder', () => {
    expect(requestEmail(dealAwaitingApprovals(), true).subject).toBe(
      'Reminder: Approval needed: Acme rollout — Finance',
    );
  });

  it('escapes a hostile deal name and owner, and keeps the subject on one line', () => {
    const deal = dealAwaitingApprovals({
      dealName: '<script>alert(1)</script>\r\nBcc: victim@example.com',
      owner: { name: '"><img src=x onerror=alert(1)>', email: 'rep@example.com' },
    });
    const email = requestEmail(deal);
    expect(email.html).not.toContain('<script');
    expect(email.html).not.toContain('<img');
    expect(email.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(email.html).toContain('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;');
    expect(email.subject).not.toMatch(/[\r\n]/);
    expect(email.subject).toBe('Approval needed: <script>alert(1)</script> Bcc: victim@example.com — Finance');
  });

  it('strips bidirectional and invisible control characters from the subject', () => {
    const deal = dealAwaitingApprovals({ dealName: 'Acme\u202Egnp.exe\u200F\u0000\u200B\u2066 rollout\uFEFF' });
    expect(requestEmail(deal).subject).toBe('Approval needed: Acmegnp.exe rollout — Finance');
  });

  it('leaves no control or format character in any subject (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (dealName) => {
        const subject = requestEmail(dealAwaitingApprovals({ dealName })).subject;
        expect(subject).not.toMatch(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u);
      }),
    );
  });

  it('keeps any deal text out of the markup, whatever it holds (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (dealName, ownerName, reason) => {
        const deal = dealAwaitingApprovals({ dealName, owner: { name: ownerName, email: 'rep@example.com' } });
        const approval = { ...financeApproval(deal), reason };
        const email = approvalRequestEmail({
          deal,
          stage: deliver,
          approval,
          approver: finance,
          link: LINK,
          reminder: false,
        });
        expect([...tagNames(email.html)].every((tag) => EMAIL_TAGS.includes(tag ?? ''))).toBe(true);
        expect(occurrences(email.html, '<a ')).toBe(1);
        expect(occurrences(email.html, LINK)).toBe(1);
        expect(occurrences(email.text, LINK)).toBe(1);
      }),
    );
  });
});

describe('dealAmount', () => {
  it.each([
    [{ amount: 48000 }, '48,000'],
    [{ Amount: '1234.5', CurrencyIsoCode: 'EUR' }, '€1,234.50'],
    [{ value: 12, currency: 'USD' }, '$12.00'],
    [{ amount: '', value: '950' }, '950'],
    [{ value: 'about 10k' }, 'about 10k'],
    [{ amount: null }, null],
    [{}, null],
  ])('reads %j as %s', (fields, expected) => {
    expect(dealAmount(dealAwaitingApprovals({ fields }))).toBe(expected);
  });
});

describe('owner emails', () => {
  it('tells the owner which approvals were requested, from whom, until when', () => {
    const deal = dealAwaitingApprovals();
    const email = ownerApprovalsRequestedEmail({
      deal,
      stage: deliver,
      approvals: deal.approvals,
      approvers: config.approvers,
    });
    expect(email.to).toBe('rep@example.com');
    expect(email.subject).toBe('Approval requested: Acme rollout — Finance, Legal');
    expect(email.text).toContain('Finance <finance@example.com>: Finance validates the signed contract details');
    expect(email.text).toContain('Legal <legal@example.com>: Legal validates the signed contract details');
    expect(urls(email.html)).toEqual([]);
  });

  it('gives the stage guidance on entry with the exit criteria still open, and only those', () => {
    const deal = dealAwaitingApprovals({ stage: 'identify', fields: { decisionMaker: 'Jane Roe' } });
    const identify = requireStage(config, 'identify');
    const open = identify.exitCriteria.filter((c) => c.field === 'firstMeetingDate');
    const email = stageEntryEmail({ deal, stage: identify, openCriteria: open });
    expect(email.to).toBe('rep@example.com');
    expect(email.subject).toBe('Acme rollout is now in Identify');
    expect(email.text).toContain(identify.definition);
    for (const item of [...identify.goals, ...identify.actions]) expect(email.text).toContain(`- ${item}`);
    expect(email.text).toContain('- The first meeting is on the calendar (firstMeetingDate is a date)');
    expect(email.text).not.toContain('decisionMaker is filled in');
  });

  it('says so when every exit criterion is already met', () => {
    const email = stageEntryEmail({ deal: dealAwaitingApprovals(), stage: deliver, openCriteria: [] });
    expect(email.text).toContain('Every exit criterion of Deliver/Finalize is already met.');
    expect(email.text).not.toContain('Still open');
  });

  it("tells the owner a rejection with the approver's comment", () => {
    const deal = dealAwaitingApprovals();
    const approval: Approval = {
      ...financeApproval(deal),
      status: 'rejected',
      decidedBy: 'Finance <finance@example.com>',
      decidedAt: '2026-11-27T11:30:00.000Z',
      comment: 'The order form total <> the contract total',
    };
    const email = approvalDecidedEmail({ deal, approval, approvers: config.approvers });
    expect(email.subject).toBe('Rejected: Acme rollout — Finance');
    expect(email.text).toContain('Finance <finance@example.com> rejected Acme rollout (D-1001)');
    expect(email.text).toContain('Comment: The order form total <> the contract total');
    expect(email.text).toContain('27 Nov 2026, 11:30 UTC');
    expect(email.html).toContain('The order form total &lt;&gt; the contract total');
  });

  it('tells the owner an approval', () => {
    const deal = dealAwaitingApprovals();
    const approval: Approval = {
      ...financeApproval(deal),
      status: 'approved',
      decidedBy: 'Finance <finance@example.com>',
    };
    const email = approvalDecidedEmail({ deal, approval, approvers: config.approvers });
    expect(email.subject).toBe('Approved: Acme rollout — Finance');
    expect(email.text).toContain('Decision: approved');
    expect(email.text).toContain('moves on by itself once every approval');
    const last = approvalDecidedEmail({ deal, approval, approvers: config.approvers, movedTo: deliver });
    expect(last.text).toContain('Every approval the move waited for is granted: the deal moved to Deliver/Finalize.');
    expect(last.text).not.toContain('moves on by itself');
  });

  it('tells the owner an expiry', () => {
    const deal = dealAwaitingApprovals();
    const approval: Approval = { ...financeApproval(deal), status: 'expired' };
    const email = approvalExpiredEmail({ deal, approval, approvers: config.approvers });
    expect(email.to).toBe('rep@example.com');
    expect(email.subject).toBe('Approval expired: Acme rollout — Finance');
    expect(email.text).toContain('expired on 30 Nov 2026, 10:00 UTC');
  });

  it('tells the owner when a change to the pipeline config moved the deal, not a move in the CRM', () => {
    const deal = dealAwaitingApprovals();
    const moved = stageEntryEmail({ deal, stage: deliver, openCriteria: [], movedByConfig: true });
    expect(moved.subject).toBe('Acme rollout is now in Deliver/Finalize (the pipeline config changed)');
    expect(moved.text).toContain("A change to the pipeline's stage config moved the deal to Deliver/Finalize");
    expect(stageEntryEmail({ deal, stage: deliver, openCriteria: [] }).subject).toBe(
      'Acme rollout is now in Deliver/Finalize',
    );
  });

  it('tells the owner a deal closed lost, with the reason', () => {
    const deal = dealAwaitingApprovals({ stage: 'closed_lost', status: 'lost', fields: { lostReason: 'Budget cut' } });
    const email = dealClosedEmail({ deal, stage: requireStage(config, 'closed_lost') });
    expect(email.subject).toBe('Acme rollout is Closed Lost');
    expect(email.text).toContain('Lost reason: Budget cut');
  });

  it('refuses to address an owner email to a deal without an owner address', () => {
    const deal = dealAwaitingApprovals({ owner: { name: 'Riley Rep' } });
    expect(() => dealClosedEmail({ deal, stage: requireStage(config, 'closed_won') })).toThrow(NoOwnerEmailError);
  });

  it('never shows a URL in an owner email', () => {
    const deal = dealAwaitingApprovals();
    const emails = [
      stageEntryEmail({ deal, stage: deliver, openCriteria: deliver.exitCriteria }),
      approvalExpiredEmail({ deal, approval: financeApproval(deal), approvers: config.approvers }),
      dealClosedEmail({ deal, stage: requireStage(config, 'closed_won') }),
    ];
    for (const email of emails) {
      expect(urls(`${email.text}${email.html}`)).toEqual([]);
      expect(email.text.length).toBeGreaterThan(0);
    }
  });
});
