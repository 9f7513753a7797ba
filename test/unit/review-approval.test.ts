import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { UnsupportedMediaTypeError } from '../../functions/core/errors.ts';
import type { EffectServices } from '../../functions/usecases/effect-services.ts';
import { decideApproval, readApprovalForm, showApproval } from '../../functions/usecases/review-approval.ts';
import {
  approvalServices,
  dealAwaitingApprovals,
  drainOutbox,
  EXPIRES_AT,
  InMemoryDeals,
  useTestSecrets,
} from '../support/approval-fakes.ts';

const ses = mockClient(SESv2Client);
const sfn = mockClient(SFNClient);
const NOW = new Date('2026-11-27T11:00:00.000Z');

let deals: InMemoryDeals;
let services: EffectServices;
let financeToken: string;

beforeAll(() => useTestSecrets());

beforeEach(() => {
  ses.reset();
  sfn.reset();
  ses.on(SendEmailCommand).resolves({ MessageId: 'm-1' });
  sfn.on(SendTaskSuccessCommand).resolves({});
  deals = new InMemoryDeals();
  services = approvalServices(deals, () => NOW);
  financeToken = deals.issueToken('apr-finance');
});

afterEach(() => {
  deals.beforeCommit = undefined;
});

const approval = (id: string) => deals.stored.deal.approvals.find((a) => a.approvalId === id);
const sentEmails = () => ses.commandCalls(SendEmailCommand).map((call) => call.args[0].input);
const releasedTokens = () => sfn.commandCalls(SendTaskSuccessCommand).map((call) => call.args[0].input.taskToken);
const nothingWritten = () => {
  expect(deals.commits).toEqual([]);
  expect(sentEmails()).toEqual([]);
  expect(releasedTokens()).toEqual([]);
};

describe('showApproval (GET and HEAD)', () => {
  it('shows the review page for a valid link, and changes nothing', async () => {
    const before = structuredClone(deals.stored);
    const page = await showApproval('apr-finance', financeToken, services);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Acme rollout (D-1001)');
    expect(page.body).toContain('<form method="post" action="/approvals/apr-finance">');
    expect(page.headers?.['referrer-policy']).toBe('no-referrer');
    expect(deals.stored).toEqual(before);
    nothingWritten();
  });

  it('keeps working with the first link after a reminder sent a second one', async () => {
    const reminderToken = deals.issueToken('apr-finance');
    expect((await showApproval('apr-finance', financeToken, services)).statusCode).toBe(200);
    expect((await showApproval('apr-finance', reminderToken, services)).statusCode).toBe(200);
  });

  it.each([
    ['a wrong token', 'apr-finance', 'x'.repeat(43)],
    ["another approval's token", 'apr-legal', 'finance'],
    ['no token', 'apr-finance', undefined],
    ['an unknown id', 'apr-nope', 'finance'],
    ['an oversized id', 'a'.repeat(500), 'finance'],
  ])('answers 404 with no detail for %s', async (_case, approvalId, token) => {
    deals.issueToken('apr-legal');
    const page = await showApproval(approvalId, token === 'finance' ? financeToken : token, services);
    expect(page.statusCode).toBe(404);
    expect(page.body).not.toMatch(/Acme|D-1001|Finance|legal|expired|decided/i);
    nothingWritten();
  });

  it('answers 409 with who decided and when once the request is decided', async () => {
    deals.changeDeal((deal) => {
      Object.assign(deal.approvals[0] ?? {}, {
        status: 'approved',
        decidedBy: 'Finance <finance@example.com>',
        decidedAt: '2026-11-27T10:30:00.000Z',
      });
    });
    const page = await showApproval('apr-finance', financeToken, services);
    expect(page.statusCode).toBe(409);
    expect(page.body).toContain('already approved by Finance &lt;finance@example.com&gt; at 27 Nov 2026, 10:30 UTC');
  });

  it('answers 410 once the request expired, whether or not the expiry was recorded yet', async () => {
    const late = approvalServices(deals, () => new Date(EXPIRES_AT));
    expect((await showApproval('apr-finance', financeToken, late)).statusCode).toBe(410);
    deals.changeDeal((deal) => Object.assign(deal.approvals[0] ?? {}, { status: 'expired' }));
    const page = await showApproval('apr-finance', financeToken, services);
    expect(page.statusCode).toBe(410);
    expect(page.body).toContain('expired on 30 Nov 2026, 10:00 UTC');
  });
});

describe('decideApproval (POST)', () => {
  it('records an approval and answers; the outbox then tells the owner and releases the approval task', async () => {
    const page = await decideApproval(
      'apr-finance',
      { token: financeToken, decision: 'approve', comment: '' },
      services,
    );
    expect(page.statusCode).toBe(200);
    expect(sentEmails()).toEqual([]);
    expect(releasedTokens()).toEqual([]);
    expect(deals.stored.lastDecision).toMatchObject({ kind: 'approval', approvalId: 'apr-finance', version: 4 });
    await drainOutbox(deals, services);
    expect(page.body).toContain('<h1>Approved</h1>');
    expect(approval('apr-finance')).toMatchObject({
      status: 'approved',
      decidedBy: 'Finance <finance@example.com>',
      decidedAt: NOW.toISOString(),
      comment: null,
    });
    expect(deals.stored.deal.stage).toBe('deliver');
    expect(sentEmails()).toHaveLength(1);
    expect(sentEmails()[0]?.Destination?.ToAddresses).toEqual(['rep@example.com']);
    expect(sentEmails()[0]?.Content?.Simple?.Subject?.Data).toBe('Approved: Acme rollout — Finance');
    expect(releasedTokens()).toEqual(['approval-task-token-apr-finance']);
  });

  it('moves the deal when the last approval arrives, and wakes the stage task', async () => {
    await decideApproval('apr-finance', { token: financeToken, decision: 'approve' }, services);
    const legalToken = deals.issueToken('apr-legal');
    const page = await decideApproval('apr-legal', { token: legalToken, decision: 'approve' }, services);
    expect(page.statusCode).toBe(200);
    await drainOutbox(deals, services);
    expect(page.body).toContain('The deal moved to Closed Won.');
    expect(deals.stored.deal).toMatchObject({ stage: 'closed_won', status: 'won', pendingMove: null });
    expect(releasedTokens()).toEqual(expect.arrayContaining(['approval-task-token-apr-legal', 'stage-wait-token']));
  });

  it("records a rejection, cancels the pending move and emails the owner the approver's comment", async () => {
    const form = { token: financeToken, decision: 'reject', comment: '  The order form total differs.  ' };
    const page = await decideApproval('apr-finance', form, services);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<h1>Rejected</h1>');
    expect(approval('apr-finance')).toMatchObject({ status: 'rejected', comment: 'The order form total differs.' });
    expect(deals.stored.deal.pendingMove).toBeNull();
    await drainOutbox(deals, services);
    expect(sentEmails()[0]?.Content?.Simple?.Body?.Text?.Data).toContain('Comment: The order form total differs.');
  });

  it.each([
    ['a reject without a comment', { decision: 'reject' }, 'A rejection needs a comment'],
    ['a reject with a blank comment', { decision: 'reject', comment: ' \n ' }, 'A rejection needs a comment'],
    ['a comment over 2000 characters', { decision: 'approve', comment: 'x'.repeat(2001) }, 'Shorten the comment'],
    ['no decision', { comment: 'ok' }, 'Choose Approve or Reject'],
    ['an unknown decision', { decision: 'maybe' }, 'Choose Approve or Reject'],
  ])('refuses %s with 400 and the form again, changing nothing', async (_case, fields, message) => {
    const page = await decideApproval('apr-finance', { token: financeToken, ...fields }, services);
    expect(page.statusCode).toBe(400);
    expect(page.body).toContain(message);
    expect(page.body).toContain('<form method="post" action="/approvals/apr-finance">');
    expect(approval('apr-finance')?.status).toBe('pending');
    nothingWritten();
  });

  it('answers 404 to a wrong token, changing nothing', async () => {
    const page = await decideApproval('apr-finance', { token: 'forged', decision: 'approve' }, services);
    expect(page.statusCode).toBe(404);
    nothingWritten();
  });

  it('answers 409 to a second submission, which changes nothing', async () => {
    await decideApproval('apr-finance', { token: financeToken, decision: 'approve' }, services);
    const page = await decideApproval(
      'apr-finance',
      { token: financeToken, decision: 'reject', comment: 'no' },
      services,
    );
    expect(page.statusCode).toBe(409);
    expect(approval('apr-finance')?.status).toBe('approved');
    expect(deals.commits).toHaveLength(1);
  });

  it('repeats no effect when the outbox handles the same decision again (a retried stream batch)', async () => {
    await decideApproval('apr-finance', { token: financeToken, decision: 'approve' }, services);
    expect(await drainOutbox(deals, services, 3)).toBe(1);
    expect(sentEmails()).toHaveLength(1);
    expect(releasedTokens()).toEqual(['approval-task-token-apr-finance']);
  });

  it('retries a failed email on the next delivery of the decision, and sends it once', async () => {
    ses.on(SendEmailCommand).rejectsOnce(Object.assign(new Error('mail down'), { name: 'ServiceUnavailable' }));
    await decideApproval('apr-finance', { token: financeToken, decision: 'approve' }, services);
    const [change] = deals.changes;
    await expect(drainOutbox(deals, services)).rejects.toThrow('mail down');
    if (change) deals.changes.push(change);
    await drainOutbox(deals, services, 2);
    expect(ses.commandCalls(SendEmailCommand)).toHaveLength(2);
    expect(sentEmails()[1]?.Content?.Simple?.Subject?.Data).toBe('Approved: Acme rollout — Finance');
  });

  it('resolves two concurrent submissions to exactly one decision: one 200, one 409', async () => {
    const [first, second] = await Promise.all([
      decideApproval('apr-finance', { token: financeToken, decision: 'approve' }, services),
      decideApproval('apr-finance', { token: financeToken, decision: 'reject', comment: 'Totals differ' }, services),
    ]);
    expect([first?.statusCode, second?.statusCode].sort()).toEqual([200, 409]);
    expect(deals.commits).toHaveLength(1);
    expect(deals.conflicts).toBe(1);
    await drainOutbox(deals, services);
    expect(sentEmails()).toHaveLength(1);
    const winner = first?.statusCode === 200 ? 'approved' : 'rejected';
    expect(approval('apr-finance')?.status).toBe(winner);
  });

  it('re-reads after a lost race and answers 410 if the expiry was recorded meanwhile', async () => {
    deals.beforeCommit = () => {
      deals.beforeCommit = undefined;
      deals.changeDeal((deal) => Object.assign(deal.approvals[0] ?? {}, { status: 'expired', decidedAt: EXPIRES_AT }));
    };
    const page = await decideApproval('apr-finance', { token: financeToken, decision: 'approve' }, services);
    expect(page.statusCode).toBe(410);
    expect(deals.conflicts).toBe(1);
    nothingWritten();
  });

  it('decides again on the fresh deal after a lost race with an unrelated change', async () => {
    deals.beforeCommit = () => {
      deals.beforeCommit = undefined;
      deals.changeDeal((deal) => Object.assign(deal.fields, { note: 'from the CRM' }));
    };
    const page = await decideApproval('apr-finance', { token: financeToken, decision: 'approve' }, services);
    expect(page.statusCode).toBe(200);
    expect(deals.stored.deal.fields.note).toBe('from the CRM');
    expect(approval('apr-finance')?.status).toBe('approved');
  });

  it('does not email an owner without an address, and still decides', async () => {
    deals = new InMemoryDeals(dealAwaitingApprovals({ owner: null }));
    services = approvalServices(deals, () => NOW);
    const token = deals.issueToken('apr-finance');
    const page = await decideApproval('apr-finance', { token, decision: 'approve' }, services);
    expect(page.statusCode).toBe(200);
    await drainOutbox(deals, services);
    expect(sentEmails()).toEqual([]);
  });
});

describe('readApprovalForm', () => {
  const post = (body: string, contentType: string | undefined, isBase64Encoded = true) =>
    ({
      headers: contentType ? { 'Content-Type': contentType } : {},
      body: isBase64Encoded ? Buffer.from(body).toString('base64') : body,
      isBase64Encoded,
    }) as unknown as APIGatewayProxyEventV2;

  it('reads the URL-encoded form fields, as API Gateway hands them over', () => {
    const body = 'token=abc-_123&decision=reject&comment=Totals+differ+%26+more';
    expect(readApprovalForm(post(body, 'application/x-www-form-urlencoded; charset=UTF-8'))).toEqual({
      token: 'abc-_123',
      decision: 'reject',
      comment: 'Totals differ & more',
    });
    expect(readApprovalForm(post('decision=approve', 'application/x-www-form-urlencoded', false))).toEqual({
      token: undefined,
      decision: 'approve',
      comment: undefined,
    });
  });

  it.each([['application/json'], [undefined]])('refuses a body of type %s', (contentType) => {
    expect(() => readApprovalForm(post('{}', contentType))).toThrow(UnsupportedMediaTypeError);
  });
});
