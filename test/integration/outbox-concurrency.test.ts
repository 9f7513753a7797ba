import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OUTBOX_PAUSED } from '../../infra/local/stack.ts';
import { fixture } from '../fixtures/signing.ts';
import { dealAt, getDeal, postGeneric, postHubspot, uniqueId, uniqueNumber, waitFor } from '../support/api.ts';
import { startCrmStandIns } from '../support/crm/index.ts';
import { sentEmails } from '../support/mail.ts';
import { freePorts, type StackProcess, startStackProcess } from '../support/stack-process.ts';

/**
 * The outbox works on several deals at once and keeps each deal's effects in decision order: a deal whose CRM
 * write-back is slow holds back none of the other deals' emails, and a deal moved five times in quick succession gets
 * its five emails in the order of its moves.
 */
describe('the outbox runs deals concurrently, each deal in order', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'stageflow-concurrency-'));
  let crms: Awaited<ReturnType<typeof startCrmStandIns>> | undefined;
  let stack: StackProcess | undefined;

  afterAll(async () => {
    await stack?.stop();
    await crms?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('emails the other deals while one deal waits for a slow CRM, and keeps a quick mover’s emails in order', async () => {
    crms = await startCrmStandIns();
    const env = { ...(await freePorts()), ...crms.env, STAGEFLOW_DATA_DIR: dataDir };
    // Everything is decided while the outbox is held back, so that the outbox finds it all in one batch.
    stack = await startStackProcess({ ...env, [OUTBOX_PAUSED]: 'true' });
    const { api } = stack.urls;

    const slow = String(uniqueNumber());
    crms.hubspot.addDeal(slow, 'appointmentscheduled');
    const template = (JSON.parse(fixture('hubspot', 'deal-batch.json')) as Record<string, unknown>[]).find(
      (event) => event.subscriptionType === 'deal.propertyChange',
    );
    const stageChange = (value: string) => ({
      ...template,
      eventId: uniqueNumber(),
      objectId: Number(slow),
      occurredAt: Date.now(),
      propertyName: 'dealstage',
      propertyValue: value,
    });
    expect((await postHubspot([stageChange('appointmentscheduled')], api)).status).toBe(202);
    // A move the rules refuse (Identify's exit criteria unmet): its write-back sets the CRM back and adds a note.
    const refused = await postHubspot([stageChange('qualifiedtobuy')], api);
    expect((refused.body.results as { outcome: string }[])[0]?.outcome).toBe('rejected');

    const mover = await dealAt('deliver', { api });
    const others = Array.from({ length: 15 }, () => uniqueId('OTHER'));
    for (const dealId of others) {
      const created = await postGeneric(
        { eventId: uniqueId('E'), dealId, stage: 'identify', owner: { email: `${dealId.toLowerCase()}@example.com` } },
        { api },
      );
      expect(created.body).toMatchObject({ outcome: 'applied' });
    }
    await stack.stop();

    // Each HubSpot answer now takes 8 s: the slow deal's write-back (a stage write and a note) takes at least 16 s.
    crms.hubspot.setLatency(8000);
    stack = await startStackProcess(env);
    const { ses } = stack.urls;
    const moverStages = ['Identify', 'Qualify', 'Propose', 'Negotiate', 'Deliver/Finalize'];
    const moverEmails = async () =>
      (await sentEmails(ses)).filter(
        (email) => email.destination.to.includes('rep@example.com') && (email.body.text ?? '').includes(mover),
      );
    await waitFor(
      async () => {
        const mailed = new Set((await sentEmails(ses)).flatMap((email) => email.destination.to));
        const allOthers = others.every((dealId) => mailed.has(`${dealId.toLowerCase()}@example.com`));
        return allOthers && (await moverEmails()).length >= moverStages.length ? true : undefined;
      },
      'the other deals’ emails',
      60_000,
    );
    const syncs = async () => (await getDeal(slow, 'default', api)).body.history.filter((h) => h.type === 'crm_sync');
    // The slow deal's write-back is still under way while every other deal has had its effects.
    expect(await syncs()).toEqual([]);

    const entered = (await moverEmails())
      .map((email) => moverStages.find((stage) => email.subject.endsWith(`is now in ${stage}`)))
      .filter((stage) => stage !== undefined);
    expect(entered).toEqual(moverStages);

    await waitFor(async () => ((await syncs()).length > 0 ? true : undefined), 'the slow write-back', 120_000);
    expect(await syncs()).toHaveLength(1);
  }, 300_000);
});
