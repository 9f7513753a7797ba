import { afterAll, describe, expect, it } from 'vitest';
import { EXIT_FIELDS } from '../../infra/local/default-story.ts';
import { dealAt, getDeal, postGeneric, stackUrls, uniqueId, waitFor } from '../support/api.ts';
import { decide, reviewLink, sentEmails, waitForEmail } from '../support/mail.ts';
import { type StackProcess, startStackProcess } from '../support/stack-process.ts';

async function approvalStatus(dealId: string, role: string, api?: string) {
  const deal = await getDeal(dealId, 'default', api);
  return deal.body.approvals.filter((a) => a.role === role).map((a) => a.status);
}

describe('the Finance/Legal validation handoff at Deliver/Finalize', () => {
  it('emails both approvers on entering deliver; the pending move applies by itself after the last approval', async () => {
    const { api, ses } = stackUrls();
    const dealId = await dealAt('deliver');
    const finance = await waitForEmail(ses, 'finance@example.com', [dealId]);
    const legal = await waitForEmail(ses, 'legal@example.com', [dealId]);
    const financeLink = reviewLink(finance);
    expect(financeLink.startsWith(`${api}/approvals/`)).toBe(true);
    expect(finance.body.html).toContain(`Deal ${dealId}`);

    const page = await fetch(financeLink);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain(`Deal ${dealId}`);
    expect(await approvalStatus(dealId, 'finance')).toEqual(['pending']);

    const early = await postGeneric({
      eventId: uniqueId('E'),
      dealId,
      stage: 'closed_won',
      fields: EXIT_FIELDS.deliver,
    });
    expect(early.body).toMatchObject({ outcome: 'pending_approval', stage: 'deliver' });
    expect((await getDeal(dealId)).body.pendingMove).toMatchObject({ to: 'closed_won' });

    expect((await decide(financeLink, 'approve', 'Numbers check out')).status).toBe(200);
    expect((await getDeal(dealId)).body.stage).toBe('deliver');
    expect((await decide(reviewLink(legal), 'approve')).status).toBe(200);
    await waitFor(async () => ((await getDeal(dealId)).body.stage === 'closed_won' ? true : undefined), 'closed_won');
    const deal = await getDeal(dealId);
    expect(deal.body.status).toBe('won');
    expect(deal.body.approvals.map((a) => a.status).sort()).toEqual(['approved', 'approved']);
    expect(deal.body.approvals.find((a) => a.role === 'finance')?.decidedBy).toContain('finance@example.com');

    const again = await decide(financeLink, 'approve');
    expect(again.status).toBe(409);
    expect(again.html).toContain('finance@example.com');
  });

  it('answers 404 with no detail for a wrong token or an unknown approval, and HEAD changes nothing', async () => {
    const dealId = await dealAt('deliver');
    const link = reviewLink(await waitForEmail(stackUrls().ses, 'finance@example.com', [dealId]));
    const wrong = new URL(link);
    wrong.searchParams.set('token', 'A'.repeat(43));
    expect((await fetch(wrong)).status).toBe(404);
    expect((await decide(wrong.toString(), 'approve')).status).toBe(404);
    expect((await fetch(`${stackUrls().api}/approvals/no-such-approval?token=x`)).status).toBe(404);
    expect((await fetch(link, { method: 'HEAD' })).status).toBe(200);
    expect(await approvalStatus(dealId, 'finance')).toEqual(['pending']);
  });

  it('two concurrent clicks decide once', async () => {
    const dealId = await dealAt('deliver');
    const link = reviewLink(await waitForEmail(stackUrls().ses, 'legal@example.com', [dealId]));
    const results = await Promise.all([decide(link, 'approve'), decide(link, 'approve')]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    expect(await approvalStatus(dealId, 'legal')).toEqual(['approved']);
  });
});

describe('conditional approval: a sales manager for discounts above 20%', () => {
  it('asks the sales manager, a rejection cancels the move and tells the owner, the next attempt asks again', async () => {
    const { ses } = stackUrls();
    const dealId = await dealAt('propose', { extraFields: { discountPercent: 30 } });
    const move = () => postGeneric({ eventId: uniqueId('E'), dealId, stage: 'negotiate', fields: EXIT_FIELDS.propose });

    const first = await move();
    expect(first.body).toMatchObject({ outcome: 'pending_approval', stage: 'propose' });
    const request = await waitForEmail(ses, 'sales-manager@example.com', [dealId]);
    const repeat = await move();
    expect(repeat.body.outcome).toBe('pending_approval');
    expect(await approvalStatus(dealId, 'sales_manager')).toEqual(['pending']);

    const rejected = await decide(reviewLink(request), 'reject', 'Discount too deep for this volume');
    expect(rejected.status).toBe(200);
    const deal = await getDeal(dealId);
    expect(deal.body).toMatchObject({ stage: 'propose', pendingMove: null });
    await waitForEmail(ses, 'rep@example.com', [dealId, 'Discount too deep for this volume']);

    const retry = await move();
    expect(retry.body.outcome).toBe('pending_approval');
    expect(await approvalStatus(dealId, 'sales_manager')).toEqual(['rejected', 'pending']);
    await waitFor(async () => {
      const requests = (await sentEmails(ses)).filter(
        (e) => e.destination.to.includes('sales-manager@example.com') && e.body.text?.includes(dealId),
      );
      return requests.length === 2 ? true : undefined;
    }, 'a second request to the sales manager');
  });

  it('needs no approval at 20% or less', async () => {
    const dealId = await dealAt('propose', { extraFields: { discountPercent: 20 } });
    const { body } = await postGeneric({
      eventId: uniqueId('E'),
      dealId,
      stage: 'negotiate',
      fields: EXIT_FIELDS.propose,
    });
    expect(body).toMatchObject({ outcome: 'applied', stage: 'negotiate' });
  });
});

describe('reminders and expiry (a stack with approval timing in seconds)', () => {
  let stack: StackProcess | undefined;
  afterAll(async () => {
    await stack?.stop();
  });

  it('reminds the approver, then expires the request, tells the owner, and refuses a late click with 410', async () => {
    stack = await startStackProcess({ APPROVAL_REMINDER_SECONDS: '2', APPROVAL_EXPIRY_SECONDS: '5' }, ['--in-memory']);
    const { api, ses } = stack.urls;
    const dealId = await dealAt('deliver', { api });
    const request = await waitForEmail(ses, 'finance@example.com', [dealId]);
    await waitFor(async () => {
      const emails = await sentEmails(ses);
      return emails.find((e) => e.destination.to.includes('finance@example.com') && /remind/i.test(e.subject));
    }, 'the reminder');
    await waitFor(
      async () => ((await approvalStatus(dealId, 'finance', api)).includes('expired') ? true : undefined),
      'the expiry',
    );
    await waitForEmail(ses, 'rep@example.com', [dealId, 'expired']);
    expect((await decide(reviewLink(request), 'approve')).status).toBe(410);
    expect((await fetch(reviewLink(request))).status).toBe(410);
    // It starts a stack of its own, which alone can take a minute on a loaded machine.
  }, 180_000);
});

describe('an approval is tied to the values it approves', () => {
  it('asks the sales manager again when the discount is raised while the approval is pending', async () => {
    const { ses } = stackUrls();
    const dealId = await dealAt('propose');
    const asked = await postGeneric({
      eventId: uniqueId('E'),
      dealId,
      stage: 'negotiate',
      fields: { ...EXIT_FIELDS.propose, discountPercent: 25 },
    });
    expect(asked.body.outcome).toBe('pending_approval');
    const first = await waitForEmail(ses, 'sales-manager@example.com', [dealId, 'Discount percent: 25']);
    const firstLink = reviewLink(first);
    const page = await (await fetch(firstLink)).text();
    expect(page).toContain('Discount percent: 25');

    const raised = await postGeneric({ eventId: uniqueId('E'), dealId, fields: { discountPercent: 90 } });
    expect(raised.body.reasons).toContainEqual(
      expect.objectContaining({ code: 'APPROVAL_VALUES_CHANGED', message: expect.stringMatching(/from 25 to 90/) }),
    );
    const second = await waitForEmail(ses, 'sales-manager@example.com', [dealId, 'Discount percent: 90']);

    // The old link no longer approves anything; the deal moves only on the approval of the values it holds.
    expect((await decide(firstLink, 'approve')).status).not.toBe(200);
    expect((await getDeal(dealId)).body.stage).toBe('propose');
    expect((await decide(reviewLink(second), 'approve')).status).toBe(200);
    await waitFor(async () => ((await getDeal(dealId)).body.stage === 'negotiate' ? true : undefined), 'negotiate');
  });
});
