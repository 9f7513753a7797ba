import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEVELOPMENT_SECRETS } from '../../infra/local/stack.ts';
import { fixture, signHubspot } from '../fixtures/signing.ts';
import { type DealView, EXIT_FIELDS, getDeal, postGeneric, uniqueId, uniqueNumber, waitFor } from '../support/api.ts';
import { startCrmStandIns } from '../support/crm-standins.ts';
import { decide, reviewLink, waitForEmail } from '../support/mail.ts';
import { type StackProcess, startStackProcess } from '../support/stack-process.ts';

/**
 * Write-back (CONTRACT section 9) through the local stack, as `npm start` runs it with CRM credentials set: the
 * HubSpot stand-in plays HubSpot's API and records what Stageflow wrote.
 */
type HubSpotEvent = Record<string, unknown>;
const template = (JSON.parse(fixture('hubspot', 'deal-batch.json')) as HubSpotEvent[]).find(
  (event) => event.subscriptionType === 'deal.propertyChange',
) as HubSpotEvent;

let crms: Awaited<ReturnType<typeof startCrmStandIns>>;
let stack: StackProcess;

beforeAll(async () => {
  crms = await startCrmStandIns();
  stack = await startStackProcess({ ...crms.env, APPROVAL_REMINDER_SECONDS: '', APPROVAL_EXPIRY_SECONDS: '' }, [
    '--in-memory',
  ]);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await crms?.close();
});

let clock = Date.now() - 20 * 60_000;
function change(objectId: number, propertyName: string, propertyValue: string, extra: HubSpotEvent = {}) {
  clock += 1000;
  return { ...template, eventId: uniqueNumber(), objectId, occurredAt: clock, propertyName, propertyValue, ...extra };
}
const changes = (objectId: number, fields: Record<string, unknown>) =>
  Object.entries(fields).map(([name, value]) => change(objectId, name, String(value)));

async function postHubspot(events: HubSpotEvent[]) {
  const url = `${stack.urls.api}/webhooks/hubspot`;
  const body = JSON.stringify(events);
  const timestamp = Date.now();
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-hubspot-signature-v3': signHubspot(body, DEVELOPMENT_SECRETS.HUBSPOT_CLIENT_SECRET, url, timestamp),
      'x-hubspot-request-timestamp': String(timestamp),
    },
    body,
  });
  expect(response.status).toBe(202);
  return (await response.json()) as { results: { outcome: string; stage: string | null }[] };
}

const deal = async (id: number | string) => (await getDeal(String(id), 'default', stack.urls.api)).body as DealView;
const syncs = async (id: number) =>
  (await deal(id)).history.filter((entry) => entry.type === 'crm_sync') as (DealView['history'][number] & {
    status?: number;
  })[];
const patches = (id: number) => crms.hubspot.requestsTo(`/crm/v3/objects/deals/${id}`);

/** A new HubSpot deal in Identify (created in the stand-in too), owned by the rep. */
async function newDeal(): Promise<number> {
  const id = uniqueNumber();
  crms.hubspot.addDeal(String(id), 'appointmentscheduled');
  await postHubspot([change(id, 'dealstage', 'appointmentscheduled')]);
  return id;
}

describe('HubSpot write-back through the local stack', () => {
  it('sets a refused move back with a note; a redelivery writes nothing again', async () => {
    const id = await newDeal();
    crms.hubspot.addDeal(String(id), 'qualifiedtobuy');
    const move = [change(id, 'dealstage', 'qualifiedtobuy')];
    expect((await postHubspot(move)).results[0]?.outcome).toBe('rejected');
    await waitFor(async () => ((await syncs(id)).length === 1 ? true : undefined), 'the write-back');
    expect(crms.hubspot.stageOf(String(id))).toBe('appointmentscheduled');
    expect(crms.hubspot.notes(String(id)).join('\n')).toMatch(/refused the move to Qualify/);
    expect((await syncs(id))[0]).toMatchObject({ outcome: 'synced', to: 'identify', status: 200 });

    const written = crms.hubspot.requests.length;
    expect((await postHubspot(move)).results[0]?.outcome).toBe('duplicate');
    await sleep(1500);
    expect(crms.hubspot.requests.length).toBe(written);
  });

  it("retries a 429 until the write lands, and the set-back's late echo never moves the deal", async () => {
    const id = await newDeal();
    crms.hubspot.failNext(2, { status: 429, retryAfter: '1' });
    await postHubspot([change(id, 'dealstage', 'qualifiedtobuy')]);
    await waitFor(async () => ((await syncs(id)).length === 1 ? true : undefined), 'the write-back', 30_000);
    expect((await syncs(id))[0]).toMatchObject({ outcome: 'synced' });
    expect(patches(id).map((request) => request.status)).toEqual([429, 429, 200]);

    // The rep fixes the fields and moves again; then the echo of the set-back arrives, late.
    await postHubspot([...changes(id, EXIT_FIELDS.identify ?? {}), change(id, 'dealstage', 'qualifiedtobuy')]);
    expect((await deal(id)).stage).toBe('qualify');
    const echo = change(id, 'dealstage', 'appointmentscheduled', { changeSource: 'INTEGRATION', sourceId: 'app:1' });
    expect((await postHubspot([echo])).results[0]).toMatchObject({ outcome: 'applied', stage: 'qualify' });
    const history = (await deal(id)).history as (DealView['history'][number] & { origin?: string })[];
    expect(history.at(-1)).toMatchObject({ type: 'echo', to: 'identify', origin: 'INTEGRATION:app:1' });
    expect(history.filter((entry) => entry.type === 'move' && entry.to === 'identify')).toEqual([]);
  });

  it('holds a win back until Finance and Legal approve, then moves HubSpot to Closed Won', async () => {
    const id = await newDeal();
    const order = ['qualifiedtobuy', 'presentationscheduled', 'decisionmakerboughtin', 'contractsent'];
    const exits = ['identify', 'qualify', 'propose', 'negotiate'];
    for (const [n, dealstage] of order.entries()) {
      const fields = EXIT_FIELDS[exits[n] ?? ''] ?? {};
      const answer = await postHubspot([...changes(id, fields), change(id, 'dealstage', dealstage)]);
      expect(answer.results.at(-1)?.outcome).toBe('applied');
    }
    crms.hubspot.addDeal(String(id), 'closedwon');
    const win = await postHubspot([...changes(id, EXIT_FIELDS.deliver ?? {}), change(id, 'dealstage', 'closedwon')]);
    expect(win.results.at(-1)?.outcome).toBe('pending_approval');
    await waitFor(async () => (crms.hubspot.stageOf(String(id)) === 'contractsent' ? true : undefined), 'held back');
    expect(crms.hubspot.notes(String(id)).join('\n')).toMatch(/Approvals asked:[\s\S]*finance@example\.com/);

    const { ses } = stack.urls;
    for (const approver of ['finance@example.com', 'legal@example.com']) {
      const request = await waitForEmail(ses, approver, [String(id)]);
      expect((await decide(reviewLink(request), 'approve')).status).toBe(200);
    }
    await waitFor(
      async () =>
        crms.hubspot.notes(String(id)).some((note) => /every approval was granted/.test(note)) ? true : undefined,
      'the note naming the approvers',
    );
    expect(crms.hubspot.stageOf(String(id))).toBe('closedwon');
    const won = patches(id).filter((request) => JSON.stringify(request.body).includes('closedwon'));
    expect(won).toHaveLength(1);
  });

  it('Pipedrive: sets a refused move back to its stage_id with a note', async () => {
    const id = uniqueNumber() % 1_000_000_000;
    crms.pipedrive.addDeal(id, 2);
    const body = (action: string, stageId: number) => {
      const base = JSON.parse(fixture('pipedrive', 'deal-change-stage.json')) as Record<string, HubSpotEvent>;
      clock += 1000;
      return {
        meta: {
          ...base.meta,
          action,
          id: uniqueId('pd'),
          entity_id: String(id),
          timestamp: new Date(clock).toISOString(),
        },
        data: { ...base.data, id, stage_id: stageId, custom_fields: {} },
        previous: action === 'create' ? null : { stage_id: 1 },
      };
    };
    const post = async (payload: unknown) => {
      const response = await fetch(`${stack.urls.api}/webhooks/pipedrive`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Basic ${Buffer.from(DEVELOPMENT_SECRETS.PIPEDRIVE_BASIC_AUTH).toString('base64')}`,
        },
        body: JSON.stringify(payload),
      });
      return (await response.json()) as { outcome: string };
    };
    expect((await post(body('create', 1))).outcome).toBe('applied');
    expect((await post(body('change', 2))).outcome).toBe('rejected');
    await waitFor(async () => (crms.pipedrive.stageOf(id) === 1 ? true : undefined), 'the set-back');
    await waitFor(async () => (crms.pipedrive.notes(String(id)).length === 1 ? true : undefined), 'the note');
    expect(crms.pipedrive.notes(String(id))[0]).toMatch(/refused the move to Qualify/);
  });

  it('Salesforce: sets a refused move back to its StageName, with a completed Task saying why', async () => {
    const id = uniqueId('006');
    const message = fixture('salesforce', 'opportunity.xml');
    const post = async (stageName: string) => {
      clock += 1000;
      const xml = message
        .replace(/<OrganizationId>[^<]*/, `<OrganizationId>${DEVELOPMENT_SECRETS.SALESFORCE_ORG_ID}`)
        .replace(/<Id>[^<]*/, `<Id>${uniqueId('04l')}`)
        .replace(/<sf:Id>[^<]*/, `<sf:Id>${id}`)
        .replace(/<sf:StageName>[^<]*/, `<sf:StageName>${stageName}`)
        .replace(/<sf:LastModifiedDate>[^<]*/, `<sf:LastModifiedDate>${new Date(clock).toISOString()}`);
      const token = encodeURIComponent(DEVELOPMENT_SECRETS.SALESFORCE_WEBHOOK_TOKEN);
      const response = await fetch(`${stack.urls.api}/webhooks/salesforce?token=${token}`, {
        method: 'POST',
        headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '""' },
        body: xml,
      });
      expect(response.status).toBe(200);
    };
    crms.salesforce.addDeal(id, 'Identify');
    await post('Identify');
    // The rep drags the opportunity to Qualify in Salesforce without the exit fields of Identify.
    crms.salesforce.addDeal(id, 'Qualify');
    await post('Qualify');
    await waitFor(async () => (crms.salesforce.stageOf(id) === 'Identify' ? true : undefined), 'the set-back');
    await waitFor(async () => (crms.salesforce.tasks(id).length === 1 ? true : undefined), 'the task');
    expect(crms.salesforce.tasks(id)[0]).toMatchObject({ WhatId: id, Status: 'Completed' });
    expect(String(crms.salesforce.tasks(id)[0]?.Description)).toMatch(/refused the move to Qualify/);
    expect((await deal(id)).history).toContainEqual(
      expect.objectContaining({ type: 'crm_sync', outcome: 'synced', to: 'identify' }),
    );
  });

  it('makes no CRM call for a generic deal', async () => {
    const before = crms.hubspot.requests.length;
    const dealId = uniqueId('G');
    await postGeneric({ eventId: uniqueId('E'), dealId, stage: 'identify' }, { api: stack.urls.api });
    await postGeneric({ eventId: uniqueId('E'), dealId, stage: 'qualify' }, { api: stack.urls.api });
    await sleep(1500);
    expect(crms.hubspot.requests.length).toBe(before);
  });
});
