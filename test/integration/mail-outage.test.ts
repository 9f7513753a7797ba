import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT_FIELDS } from '../../infra/local/default-story.ts';
import type { LocalStack } from '../../infra/local/stack.ts';
import { dealAt, getDeal, postGeneric, uniqueId, waitFor } from '../support/api.ts';
import { startInProcessStack } from '../support/in-process-stack.ts';
import { decide, reviewLink, sentEmails, waitForEmail } from '../support/mail.ts';

/**
 * With the mail service down, decisions are recorded and answered as usual; their emails wait in
 * the outbox and go out once mail is back, and no workflow fails meanwhile.
 */
describe('a mail outage', () => {
  let stack: LocalStack | undefined;
  afterAll(async () => {
    await stack?.stop();
  });

  it('delays the approval requests until the mail service is back, and the deal carries on', async () => {
    stack = await startInProcessStack();
    const { url: api, sesUrl: ses } = stack;
    await stack.mail.stop();
    const dealId = await dealAt('deliver', { api });
    const deal = await getDeal(dealId, 'default', api);
    expect(deal.body.approvals.map((a) => a.status)).toEqual(['pending', 'pending']);
    // The outbox keeps trying meanwhile; nothing is lost and nothing fails.
    await sleep(3000);
    await stack.mail.start();

    const finance = await waitForEmail(ses, 'finance@example.com', [dealId]);
    const legal = await waitForEmail(ses, 'legal@example.com', [dealId]);
    const requests = (await sentEmails(ses)).filter((e) => /finance|legal/.test(e.destination.to.join()));
    expect(requests).toHaveLength(2);
    expect((await decide(reviewLink(finance), 'approve')).status).toBe(200);
    expect((await decide(reviewLink(legal), 'approve')).status).toBe(200);
    const won = await postGeneric(
      { eventId: uniqueId('E'), dealId, stage: 'closed_won', fields: EXIT_FIELDS.deliver },
      { api },
    );
    expect(won.body).toMatchObject({ outcome: 'applied', stage: 'closed_won' });
    await waitForEmail(ses, 'rep@example.com', [dealId, 'Closed Won']);
    await waitFor(
      async () => ((await getDeal(dealId, 'default', api)).body.status === 'won' ? true : undefined),
      'won',
    );
  }, 180_000);
});
