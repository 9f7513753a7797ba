import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stageShard } from '../../functions/adapters/deals/keys.ts';
import { INSIGHTS_SHARDS } from '../../functions/adapters/insights-store.ts';
import { apiClient, getDeal, postGeneric, uniqueId, waitFor } from '../support/api.ts';
import { sentEmails } from '../support/mail.ts';
import { type StackProcess, stackOnDisk, startStackProcess } from '../support/stack-process.ts';

/** Waits until every deal's owner (`<dealId>@example.com`) has an email naming the deal. */
async function waitForOwnerEmails(ses: string, dealIds: string[], timeoutMs: number): Promise<void> {
  await waitFor(
    async () => {
      const emails = await sentEmails(ses);
      const mailed = new Set(
        emails.flatMap((email) => email.destination.to).filter((to) => to.endsWith('@owners.example.com')),
      );
      const missing = dealIds.filter((dealId) => !mailed.has(`${dealId.toLowerCase()}@owners.example.com`));
      return missing.length === 0 ? true : undefined;
    },
    `the owner emails of ${dealIds.length} deals`,
    timeoutMs,
  );
}

const owner = (dealId: string) => ({ email: `${dealId.toLowerCase()}@owners.example.com` });

/**
 * No input, however odd, stops the side effects of other deals: an amount that cannot be summed, or a day with
 * thousands of distinct lost reasons, is handled like any other change, and every later deal's effects happen.
 */
describe('records that once stalled the outbox', () => {
  let stack: StackProcess | undefined;

  beforeAll(async () => {
    stack = await startStackProcess({ STAGEFLOW_CONFIG: 'test/fixtures/pipelines/quick.yaml' }, ['--in-memory']);
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('keeps an amount beyond 2^53 as text and emails the owners of the 150 deals that follow it', async () => {
    if (!stack) throw new Error('the stack did not start');
    const { api, ses } = stack.urls;
    const huge = uniqueId('HUGE');
    const created = await postGeneric(
      {
        eventId: uniqueId('E'),
        dealId: huge,
        pipeline: 'quick',
        stage: 'open',
        owner: owner(huge),
        fields: { amount: '10000000000000000' },
      },
      { api },
    );
    expect(created.body).toMatchObject({ outcome: 'applied' });
    const others = Array.from({ length: 150 }, () => uniqueId('AFTER'));
    for (const dealId of others) {
      const answer = await postGeneric(
        {
          eventId: uniqueId('E'),
          dealId,
          pipeline: 'quick',
          stage: 'open',
          owner: owner(dealId),
          fields: { amount: 1200 },
        },
        { api },
      );
      expect(answer.status).toBe(202);
    }
    await waitForOwnerEmails(ses, [huge, ...others], 180_000);
    expect((await getDeal(huge, 'quick', api)).body.fields.amount).toBe('10000000000000000');
    const board = await apiClient({ api }).request(`${api}/board?pipeline=quick`);
    expect(board.status).toBe(200);
  }, 300_000);

  it('counts thousands of distinct lost reasons of one day and goes on with the next deal', async () => {
    if (!stack) throw new Error('the stack did not start');
    const { api, ses } = stack.urls;
    const day = '2026-03-02';
    // Every deal in the same insights shard, each with a distinct reason of 80 three-byte characters: one day item
    // holding them all would pass DynamoDB's 400 KB item limit well before the last.
    const deals: string[] = [];
    while (deals.length < 1800) {
      const dealId = uniqueId('LOST');
      if (stageShard(dealId) % INSIGHTS_SHARDS === 0) deals.push(dealId);
    }
    const post = async (dealId: string, n: number) => {
      const event = (stage: string, at: string, fields: Record<string, unknown>) => ({
        eventId: uniqueId('E'),
        dealId,
        pipeline: 'quick',
        stage,
        occurredAt: at,
        fields,
      });
      const opened = await postGeneric(event('open', `${day}T08:00:00.000Z`, {}), { api });
      const reason = `${n} ${'語'.repeat(80)}`.slice(0, 80);
      const lost = await postGeneric(event('closed_lost', `${day}T09:00:00.000Z`, { lostReason: reason }), { api });
      expect([opened.body.outcome, lost.body.outcome]).toEqual(['applied', 'applied']);
    };
    for (let start = 0; start < deals.length; start += 20) {
      await Promise.all(deals.slice(start, start + 20).map((dealId, i) => post(dealId, start + i)));
    }
    const next = uniqueId('NEXT');
    await postGeneric(
      { eventId: uniqueId('E'), dealId: next, pipeline: 'quick', stage: 'open', owner: owner(next) },
      { api },
    );
    await waitForOwnerEmails(ses, [next], 300_000);
    const insights = await apiClient({ api }).request(`${api}/board/insights?pipeline=quick&from=${day}&to=${day}`);
    expect(insights.status).toBe(200);
  }, 600_000);
});

/** A checkpoint that cannot be right is dropped with a warning, and the outbox replays the stream instead of stopping. */
describe('a corrupt outbox checkpoint', () => {
  const disk = stackOnDisk('checkpoint');
  afterAll(() => disk.stopAndRemove());

  const corrupt = (sequence: string) => {
    const file = join(disk.dataDir, 'outbox-checkpoint.json');
    const checkpoint = JSON.parse(readFileSync(file, 'utf8')) as { shards: Record<string, string> };
    for (const shard of Object.keys(checkpoint.shards)) checkpoint.shards[shard] = sequence;
    writeFileSync(file, JSON.stringify(checkpoint));
  };

  it.each([
    ['not a sequence number', 'abc'],
    ['past the end of the stream', '000000000000009999999'],
  ])(
    'replays from the trim horizon with a warning when it is %s',
    async (_, sequence) => {
      let stack = await disk.start();
      const before = uniqueId('BEFORE');
      await postGeneric(
        { eventId: uniqueId('E'), dealId: before, stage: 'identify', owner: owner(before) },
        {
          api: stack.urls.api,
        },
      );
      await waitForOwnerEmails(stack.urls.ses, [before], 60_000);
      await stack.stop();

      corrupt(sequence);
      stack = await disk.start();
      const after = uniqueId('AFTER');
      await postGeneric(
        { eventId: uniqueId('E'), dealId: after, stage: 'identify', owner: owner(after) },
        {
          api: stack.urls.api,
        },
      );
      await waitForOwnerEmails(stack.urls.ses, [after], 60_000);
      expect(stack.output()).toMatch(/outbox: warning: the checkpoint of \S+ .* replaying the shard from TRIM_HORIZON/);
      await stack.stop();
    },
    300_000,
  );
});
