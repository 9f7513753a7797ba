import { afterAll, describe, expect, it } from 'vitest';
import { type LocalStack, OUTBOX_STALL_SECONDS } from '../../infra/local/stack.ts';
import { apiClient, postGeneric, uniqueId, waitFor } from '../support/api.ts';
import { startInProcessStack } from '../support/in-process-stack.ts';
import { waitForEmail } from '../support/mail.ts';

/**
 * `/health` tells whether the outbox keeps up: while the same record keeps failing (here: the mail service is down)
 * it answers `503` naming the outbox, and `200` again once the outbox has caught up.
 */
describe('the outbox in /health', () => {
  let stack: LocalStack | undefined;
  afterAll(async () => {
    await stack?.stop();
  });

  it('answers 503 with the outbox stalled while a record keeps failing, and 200 once it went through', async () => {
    process.env[OUTBOX_STALL_SECONDS] = '2';
    stack = await startInProcessStack();
    const { url: api, sesUrl: ses } = stack;
    const health = () => apiClient({ api }).request('/health');
    expect((await health()).status).toBe(200);

    await stack.mail.stop();
    const dealId = uniqueId('D');
    await postGeneric(
      { eventId: uniqueId('E'), dealId, stage: 'identify', owner: { email: 'rep@example.com' } },
      { api },
    );
    const stalled = await waitFor(
      async () => {
        const answer = await health();
        return answer.status === 503 ? answer : undefined;
      },
      '/health to answer 503',
      60_000,
    );
    expect(stalled.body).toMatchObject({
      status: 'unavailable',
      checks: { outbox: expect.stringMatching(/^stalled: a record of \S+ has kept failing for \d+ s/) },
    });

    await stack.mail.start();
    await waitForEmail(ses, 'rep@example.com', [dealId]);
    await waitFor(async () => ((await health()).status === 200 ? true : undefined), '/health to answer 200', 60_000);
  }, 180_000);
});
