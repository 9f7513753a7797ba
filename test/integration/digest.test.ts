import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postGeneric, uniqueId, waitFor } from '../support/api.ts';
import { sentEmails, waitForEmail } from '../support/mail.ts';
import { type StackProcess, startStackProcess } from '../support/stack-process.ts';

/**
 * The stale-deal digest on a stack of its own that runs it every 2 seconds (DIGEST_INTERVAL_SECONDS): the owner of a
 * stale deal is emailed what it misses, the pipeline's digest.to gets the summary, an owner without one is not emailed.
 */
describe('the stale-deal digest', () => {
  let stack: StackProcess | undefined;

  beforeAll(async () => {
    stack = await startStackProcess({ DIGEST_INTERVAL_SECONDS: '2' }, ['--in-memory']);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('emails the owner of a stale deal what it misses, sends the summary, and leaves other owners alone', async () => {
    if (!stack) throw new Error('the stack did not start');
    const { api, ses } = stack.urls;
    const staleOwner = 'stale-owner@example.com';
    const freshOwner = 'fresh-owner@example.com';
    const staleDeal = uniqueId('STALE');
    const freshDeal = uniqueId('FRESH');
    const thirtyDaysAgo = new Date(Date.now() - 30 * 86_400_000).toISOString();
    for (const [dealId, owner, occurredAt] of [
      [staleDeal, staleOwner, thirtyDaysAgo],
      [freshDeal, freshOwner, new Date().toISOString()],
    ] as const) {
      const created = await postGeneric(
        {
          eventId: uniqueId('E'),
          dealId,
          stage: 'identify',
          occurredAt,
          dealName: `Deal ${dealId}`,
          owner: { email: owner },
        },
        { api },
      );
      expect(created.body).toMatchObject({ outcome: 'applied' });
    }

    const digest = await waitForEmail(ses, staleOwner, [staleDeal, 'stale']);
    expect(digest.subject).toBe('1 stale deal in B2B sales pipeline');
    expect(digest.body.text).toContain('30 days in Identify (stale after 14)');
    expect(digest.body.text).toContain('The targeted decision maker is named (decisionMaker is filled in)');
    expect(digest.body.text).toContain(`/board/deals/${staleDeal}?pipeline=default`);
    const summary = await waitForEmail(ses, 'sales-manager@example.com', ['1 of 2 open deals are stale', staleDeal]);
    expect(summary.body.text).toContain('Identify: 2 open, 1 stale');

    // Two more runs after the first digest: still nothing about stale deals for the owner whose deal is fresh.
    const runs = async () => (await sentEmails(ses)).filter((e) => e.destination.to.includes(staleOwner)).length;
    const seen = await runs();
    await waitFor(async () => ((await runs()) >= seen + 2 ? true : undefined), 'two more digest runs', 15_000);
    const toFresh = (await sentEmails(ses)).filter((e) => e.destination.to.includes(freshOwner));
    expect(toFresh.filter((e) => /stale/i.test(e.subject))).toEqual([]);
  }, 90_000);
});
