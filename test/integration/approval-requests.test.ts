import { describe, expect, it } from 'vitest';
import { dealAt, EXIT_FIELDS, getDeal, postGeneric, stackUrls, uniqueId, waitFor } from '../support/api.ts';
import { decide, reviewLink, sentEmails, waitForEmail } from '../support/mail.ts';

/** Issue 13 group A: every pending approval has exactly one request in an approver's inbox. */
describe('approval requests reach the approvers', () => {
  it('asks legal again with a new link after a rejection, while finance is still pending (item 1)', async () => {
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

  it('30 copies of one move into deliver at once ask each approver once (item 3)', async () => {
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
