import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_FIELDS } from '../../infra/local/default-story.ts';
import { dealAt, getDeal, postGeneric, stackUrls, uniqueId, waitFor } from '../support/api.ts';
import { approvalIdOf, decide, reviewLink, sentEmails, waitForEmail } from '../support/mail.ts';
import { type StackProcess, startStackProcess } from '../support/stack-process.ts';

/** Every pending approval has exactly one request in an approver's inbox. */
describe('approval requests reach the approvers', () => {
  it('asks legal again with a new link after a rejection, while finance is still pending', async () => {
    const { ses } = stackUrls();
    const dealId = await dealAt('deliver');
    const legal = await waitForEmail(ses, 'legal@example.com', [dealId]);
    expect((await decide(reviewLink(legal), 'reject', 'Clause 7 is missing')).status).toBe(200);

    const again = await postGeneric({
      eventId: uniqueId('E'),
      dealId,
      stage: 'closed_won',
      fields: EXIT_FIELDS.deliver,
    });
    expect(again.body).toMatchObject({ outcome: 'pending_approval', stage: 'deliver' });
    const requests = await waitFor(async () => {
      const mails = (await sentEmails(ses)).filter(
        (e) => e.destination.to.includes('legal@example.com') && e.body.text?.includes(dealId),
      );
      return mails.length === 2 ? mails : undefined;
    }, 'a second request to legal');
    const link = reviewLink(requests[1] as (typeof requests)[number]);
    expect(link).not.toBe(reviewLink(legal));
    // The new request works: both approvals granted move the deal on by itself.
    expect((await decide(link, 'approve')).status).toBe(200);
    const finance = await waitForEmail(ses, 'finance@example.com', [dealId]);
    expect((await decide(reviewLink(finance), 'approve')).status).toBe(200);
    await waitFor(async () => ((await getDeal(dealId)).body.stage === 'closed_won' ? true : undefined), 'closed_won');
  });

  it('30 copies of one move into deliver at once ask each approver once', async () => {
    const { ses } = stackUrls();
    const dealId = await dealAt('negotiate');
    const move = { eventId: uniqueId('E'), dealId, stage: 'deliver', fields: EXIT_FIELDS.negotiate };
    const copies = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        postGeneric(i % 2 === 0 ? move : { ...move, eventId: `${move.eventId}-${i}` }),
      ),
    );
    expect(copies.every((copy) => copy.status === 202)).toBe(true);
    await waitForEmail(ses, 'finance@example.com', [dealId]);
    await waitForEmail(ses, 'legal@example.com', [dealId]);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const deal = await getDeal(dealId);
    expect(deal.body.approvals.map((a) => a.role).sort()).toEqual(['finance', 'legal']);
    const requestsTo = async (to: string) =>
      (await sentEmails(ses)).filter((e) => e.destination.to.includes(to) && e.body.text?.includes(dealId)).length;
    expect(await requestsTo('finance@example.com')).toBe(1);
    expect(await requestsTo('legal@example.com')).toBe(1);
  });
});

/**
 * A re-asked approval's reminder and expiry run end to end, on a stack whose approvals are reminded after
 * 2 s and expire after 10 s. Each test follows the new approval by its id (the path of its review links, whose tokens
 * differ per email) and ends with the owner told of its expiry and the move that waited for it cancelled.
 */
describe('a re-asked approval is reminded and expires (a stack with approval timing in seconds)', () => {
  let stack: StackProcess;
  beforeAll(async () => {
    stack = await startStackProcess({ APPROVAL_REMINDER_SECONDS: '2', APPROVAL_EXPIRY_SECONDS: '10' }, ['--in-memory']);
    // A stack of its own, which alone can take a minute on a loaded machine.
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
  });

  /** The approval requests, or their reminders, sent to `to` about the deal, oldest first. */
  async function approvalEmails(to: string, dealId: string, kind: 'request' | 'reminder') {
    const subject = kind === 'reminder' ? 'Reminder: Approval needed:' : 'Approval needed:';
    return (await sentEmails(stack.urls.ses)).filter(
      (e) => e.destination.to.includes(to) && e.body.text?.includes(dealId) && e.subject.startsWith(subject),
    );
  }

  /** The reminder of one approval: its review link leads to that approval. */
  function reminderOf(to: string, dealId: string, approvalId: string) {
    return waitFor(
      async () =>
        (await approvalEmails(to, dealId, 'reminder')).find((e) => approvalIdOf(reviewLink(e)) === approvalId),
      `the reminder of approval ${approvalId}`,
      60_000,
    );
  }

  /** The deal once the approval expired, and the owner's notice of it (subject ending in the approver role's name). */
  async function expiryOf(dealId: string, approvalId: string, roleName: string) {
    const deal = await waitFor(
      async () => {
        const { body } = await getDeal(dealId, 'default', stack.urls.api);
        return body.approvals.find((a) => a.approvalId === approvalId)?.status === 'expired' ? body : undefined;
      },
      `the expiry of approval ${approvalId}`,
      60_000,
    );
    const notice = await waitForEmail(stack.urls.ses, 'rep@example.com', [dealId, 'Approval expired']);
    expect(notice.subject).toMatch(new RegExp(`— ${roleName}$`));
    return deal;
  }

  /**
   * Legal is asked again after a rejection while finance's timers still run, so the outbox replaces the deal's
   * execution. The new request is reminded while finance is still pending: an execution that was not replaced only
   * gets to it once finance's timers are over, when finance has expired (and the re-asked request all but expired).
   */
  it('asked again after a rejection while finance is pending: reminded meanwhile, then expired', async () => {
    const { api, ses } = stack.urls;
    const dealId = await dealAt('deliver', { api });
    const finance = await waitForEmail(ses, 'finance@example.com', [dealId]);
    const rejected = await waitForEmail(ses, 'legal@example.com', [dealId]);
    expect((await decide(reviewLink(rejected), 'reject', 'Clause 7 is missing')).status).toBe(200);

    const again = await postGeneric(
      { eventId: uniqueId('E'), dealId, stage: 'closed_won', fields: EXIT_FIELDS.deliver },
      { api },
    );
    expect(again.body).toMatchObject({ outcome: 'pending_approval', stage: 'deliver' });
    const reasked = await waitFor(
      async () => (await approvalEmails('legal@example.com', dealId, 'request'))[1],
      'the request of the re-asked approval',
    );
    const reaskedId = approvalIdOf(reviewLink(reasked));
    expect(reaskedId).not.toBe(approvalIdOf(reviewLink(rejected)));

    const reminder = await reminderOf('legal@example.com', dealId, reaskedId);
    expect(
      (await decide(reviewLink(finance), 'approve')).status,
      'finance is still pending when legal is reminded of the re-asked request',
    ).toBe(200);
    expect((await fetch(reviewLink(reminder))).status, "the reminder's link opens the review page").toBe(200);

    const deal = await expiryOf(dealId, reaskedId, 'Legal');
    expect(deal.approvals.map((a) => `${a.role}:${a.status}`).sort()).toEqual([
      'finance:approved',
      'legal:expired',
      'legal:rejected',
    ]);
    expect(deal).toMatchObject({ stage: 'deliver', pendingMove: null });
    expect(deal.history.at(-1)).toMatchObject({ type: 'move', from: 'deliver', to: 'closed_won', outcome: 'rejected' });
    expect((await decide(reviewLink(reminder), 'approve')).status).toBe(410);
  }, 120_000);

  /** The sales manager's pending approval is replaced by one for the raised discount, whose timers then run. */
  it('asked again because the discount was raised (APPROVAL_VALUES_CHANGED): reminded, then expired', async () => {
    const { api, ses } = stack.urls;
    const dealId = await dealAt('propose', { api });
    const move = await postGeneric(
      { eventId: uniqueId('E'), dealId, stage: 'negotiate', fields: { ...EXIT_FIELDS.propose, discountPercent: 25 } },
      { api },
    );
    expect(move.body.outcome).toBe('pending_approval');
    const first = await waitForEmail(ses, 'sales-manager@example.com', [dealId, 'Discount percent: 25']);
    const raised = await postGeneric({ eventId: uniqueId('E'), dealId, fields: { discountPercent: 90 } }, { api });
    expect(raised.body.reasons).toContainEqual(expect.objectContaining({ code: 'APPROVAL_VALUES_CHANGED' }));
    const reasked = await waitForEmail(ses, 'sales-manager@example.com', [dealId, 'Discount percent: 90']);
    const reaskedId = approvalIdOf(reviewLink(reasked));
    expect(reaskedId).not.toBe(approvalIdOf(reviewLink(first)));

    const reminder = await reminderOf('sales-manager@example.com', dealId, reaskedId);
    expect(reminder.body.text).toContain('Discount percent: 90');

    const deal = await expiryOf(dealId, reaskedId, 'Sales manager');
    expect(deal.approvals.map((a) => a.status)).toEqual(['cancelled', 'expired']);
    expect(deal).toMatchObject({ stage: 'propose', pendingMove: null });
    expect(deal.history.at(-1)).toMatchObject({ type: 'move', from: 'propose', to: 'negotiate', outcome: 'rejected' });
  }, 120_000);
});
