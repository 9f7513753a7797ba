import { randomUUID } from 'node:crypto';
import escapeHtml from 'escape-html';
import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { exitFields } from '../../infra/local/default-story.ts';
import { DEVELOPMENT_SECRETS } from '../../infra/local/stack.ts';
import { basicAuth, fixture, signHubspot } from '../fixtures/signing.ts';
import { type DealView, getDeal, stackUrls, uniqueId, uniqueNumber } from '../support/api.ts';

/**
 * The three CRM sources driven through HTTP on the local stack, each delivery built from the
 * vendor-shaped fixtures and signed as the CRM signs it, with the stack's development secrets.
 */

interface WebhookResult {
  outcome: string;
  dealId: string;
  stage: string | null;
  reasons: { code: string; message: string }[];
}

interface ErrorBody {
  error: { code: string; message: string };
}

const MINUTE = 60_000;

const IDENTIFY_EXIT = exitFields('identify');
const QUALIFY_EXIT = exitFields('qualify');

/** A time `minutes` after a base a little in the past, as the CRMs stamp their events. */
const clock =
  (base = Date.now() - 30 * MINUTE) =>
  (minutes: number) =>
    base + minutes * MINUTE;

const moves = (deal: DealView) =>
  deal.history.filter((entry) => entry.type === 'move').map(({ from, to, outcome }) => ({ from, to, outcome }));

async function expectNoDeal(dealId: string | number) {
  expect((await getDeal(String(dealId))).status).toBe(404);
}

// HubSpot webhooks v3: a signed JSON array of events.

type HubSpotEvent = Record<string, unknown>;
const hubspotFixture = JSON.parse(fixture('hubspot', 'deal-batch.json')) as HubSpotEvent[];

function hubspotTemplate(subscriptionType: string): HubSpotEvent {
  const template = hubspotFixture.find((event) => event.subscriptionType === subscriptionType);
  if (!template) throw new Error(`hubspot/deal-batch.json has no ${subscriptionType} event`);
  return template;
}

function hubspotCreation(objectId: number, occurredAt: number): HubSpotEvent {
  return { ...hubspotTemplate('deal.creation'), eventId: uniqueNumber(), objectId, occurredAt };
}

function hubspotChange(objectId: number, occurredAt: number, propertyName: string, propertyValue: string) {
  return {
    ...hubspotTemplate('deal.propertyChange'),
    eventId: uniqueNumber(),
    objectId,
    occurredAt,
    propertyName,
    propertyValue,
  };
}

/** One property change per field, all at `occurredAt`, with the values as HubSpot sends them: strings. */
function hubspotChanges(objectId: number, occurredAt: number, fields: Record<string, unknown>): HubSpotEvent[] {
  return Object.entries(fields).map(([name, value]) => hubspotChange(objectId, occurredAt, name, String(value)));
}

async function postHubspot(
  events: HubSpotEvent[],
  { secret = DEVELOPMENT_SECRETS.HUBSPOT_CLIENT_SECRET, timestamp = Date.now(), signed = true, query = '' } = {},
) {
  const url = `${stackUrls().api}/webhooks/hubspot${query}`;
  const body = JSON.stringify(events);
  const signature: Record<string, string> = signed
    ? {
        'x-hubspot-signature-v3': signHubspot(body, secret, url, timestamp),
        'x-hubspot-request-timestamp': String(timestamp),
      }
    : {};
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...signature },
    body,
  });
  return { status: response.status, body: (await response.json()) as { results: WebhookResult[] } & ErrorBody };
}

describe('HubSpot deliveries as HubSpot sends them', () => {
  it('verifies the signature over the URI as called, with %20 and ~ in its query', async () => {
    const objectId = uniqueNumber();
    const answer = await postHubspot([hubspotCreation(objectId, Date.now() - MINUTE)], {
      query: '?pipeline=default&source=crm%20sync~v2',
    });
    expect(answer.status).toBe(202);
    expect(answer.body.results).toEqual([expect.objectContaining({ outcome: 'applied', stage: 'identify' })]);
  });

  it('answers 2xx with nothing recorded for a batch of contact and company events only', async () => {
    const batch = JSON.parse(fixture('hubspot', 'contacts-only.json')) as HubSpotEvent[];
    const answer = await postHubspot(batch.map((event) => ({ ...event, eventId: uniqueNumber() })));
    expect(answer).toEqual({ status: 202, body: { results: [] } });
    await expectNoDeal(501);
  });

  it('takes new-platform object.* events of deals (objectTypeId 0-3)', async () => {
    const objectId = uniqueNumber();
    const at = clock();
    const created = { ...hubspotCreation(objectId, at(0)), subscriptionType: 'object.creation', objectTypeId: '0-3' };
    const change = {
      ...hubspotChange(objectId, at(1), 'decisionMaker', 'Jane Roe'),
      subscriptionType: 'object.propertyChange',
      objectTypeId: '0-3',
    };
    const contact = { ...change, eventId: uniqueNumber(), objectId: uniqueNumber(), objectTypeId: '0-1' };
    const answer = await postHubspot([created, change, contact]);
    expect(answer.status).toBe(202);
    expect(answer.body.results.map((r) => r.outcome)).toEqual(['applied', 'applied']);
    expect((await getDeal(String(objectId))).body).toMatchObject({
      stage: 'identify',
      fields: { decisionMaker: 'Jane Roe' },
    });
    await expectNoDeal(contact.objectId);
  });
});

// Pipedrive webhooks v2: meta/data/previous, with HTTP Basic auth.

interface PipedriveBody {
  meta: Record<string, unknown>;
  data: Record<string, unknown> | null;
  previous: Record<string, unknown> | null;
}

const pipedriveFixture = (name: string) => JSON.parse(fixture('pipedrive', name)) as PipedriveBody;

/**
 * Custom fields as webhooks v2 sends them. Their keys are named here after the default pipeline's criteria fields,
 * which has no `crm.pipedrive.fields` renames.
 */
const customFields = (fields: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(fields).map(([key, value]) => [key, { type: 'varchar', value: String(value) }]));

function pipedriveMeta(base: PipedriveBody, dealId: number, at: number) {
  return { ...base.meta, id: randomUUID(), entity_id: String(dealId), timestamp: new Date(at).toISOString() };
}

/** The fixture's `create` event for a new deal at `stage_id` 1, with the given extra custom fields. */
function pipedriveCreate(dealId: number, at: number, fields: Record<string, unknown> = {}): PipedriveBody {
  const base = pipedriveFixture('deal-create.json');
  const data = base.data ?? {};
  return {
    ...base,
    meta: pipedriveMeta(base, dealId, at),
    data: { ...data, id: dealId, custom_fields: { ...(data.custom_fields as object), ...customFields(fields) } },
  };
}

/** The fixture's `change` event for a deal, `data` and `previous` overridden by what changed. */
function pipedriveChange(
  dealId: number,
  at: number,
  change: { data: Record<string, unknown>; previous: Record<string, unknown> },
): PipedriveBody {
  const base = pipedriveFixture('deal-change-stage.json');
  return {
    meta: pipedriveMeta(base, dealId, at),
    data: { ...base.data, id: dealId, ...change.data },
    previous: { ...base.previous, ...change.previous },
  };
}

const pipedriveStageChange = (dealId: number, at: number, from: number, to: number) =>
  pipedriveChange(dealId, at, { data: { stage_id: to }, previous: { stage_id: from } });

/** Newly filled custom fields: webhooks v2 lists them in `previous` with their former (empty) values. */
const pipedriveFieldsChange = (dealId: number, at: number, stageId: number, fields: Record<string, unknown>) =>
  pipedriveChange(dealId, at, {
    data: { stage_id: stageId, custom_fields: customFields(fields) },
    previous: { custom_fields: Object.fromEntries(Object.keys(fields).map((key) => [key, null])) },
  });

async function postPipedrive(
  body: PipedriveBody,
  authorization: string | null = basicAuth(DEVELOPMENT_SECRETS.PIPEDRIVE_BASIC_AUTH),
) {
  const response = await fetch(`${stackUrls().api}/webhooks/pipedrive`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization === null ? {} : { authorization }) },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    wwwAuthenticate: response.headers.get('www-authenticate'),
    body: (await response.json()) as WebhookResult & ErrorBody,
  };
}

// Salesforce outbound messages: SOAP 1.1 with one or more Opportunity notifications.

const opportunityMessage = fixture('salesforce', 'opportunity.xml');
const NOTIFICATION = /<Notification>[\s\S]*<\/Notification>/;
const notificationTemplate = NOTIFICATION.exec(opportunityMessage)?.[0] ?? '';

interface Opportunity {
  notificationId: string;
  dealId: string;
  stageName: string;
  modifiedAt: number;
  /** Elements added to the fixture's sObject, named after the default pipeline's criteria fields. */
  fields?: Record<string, unknown>;
}

/** The fixture's notification for another opportunity, stage and time, with extra sObject fields. */
function notification({ notificationId, dealId, stageName, modifiedAt, fields = {} }: Opportunity): string {
  const extra = Object.entries(fields)
    .map(([name, value]) => `<sf:${name}>${escapeHtml(String(value))}</sf:${name}>`)
    .join('');
  return notificationTemplate
    .replace(/<Id>[^<]*/, `<Id>${notificationId}`)
    .replace(/<sf:Id>[^<]*/, `<sf:Id>${dealId}`)
    .replace(/<sf:StageName>[^<]*/, `<sf:StageName>${escapeHtml(stageName)}`)
    .replace(/<sf:LastModifiedDate>[^<]*/, `<sf:LastModifiedDate>${new Date(modifiedAt).toISOString()}`)
    .replace('</sObject>', `${extra}</sObject>`);
}

function outboundMessage(opportunities: Opportunity[], organizationId = DEVELOPMENT_SECRETS.SALESFORCE_ORG_ID) {
  return opportunityMessage
    .replace(/<OrganizationId>[^<]*/, `<OrganizationId>${organizationId}`)
    .replace(NOTIFICATION, opportunities.map(notification).join('\n'));
}

interface SoapBody {
  notificationsResponse?: { Ack: string };
  Fault?: { faultcode: string; faultstring: string };
}

const soap = new XMLParser({ removeNSPrefix: true, parseTagValue: false });

async function postSalesforce(xml: string, token: string | null = DEVELOPMENT_SECRETS.SALESFORCE_WEBHOOK_TOKEN) {
  const query = token === null ? '' : `?token=${encodeURIComponent(token)}`;
  const response = await fetch(`${stackUrls().api}/webhooks/salesforce${query}`, {
    method: 'POST',
    headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '""' },
    body: xml,
  });
  const parsed = soap.parse(await response.text()) as { Envelope?: { Body?: SoapBody } };
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    body: parsed.Envelope?.Body ?? {},
  };
}

const ACK = { notificationsResponse: { Ack: 'true' } };

describe('HubSpot webhooks v3 through the local stack', () => {
  it('creates a deal, moves it through two stages by dealstage values and stores other properties as fields', async () => {
    const objectId = uniqueNumber();
    const dealId = String(objectId);
    const at = clock();
    const created = [
      hubspotCreation(objectId, at(0)),
      hubspotChange(objectId, at(0), 'dealname', 'Acme rollout'),
      hubspotChange(objectId, at(0), 'amount', '50000'),
      ...hubspotChanges(objectId, at(0), IDENTIFY_EXIT),
    ];
    const first = await postHubspot(created);
    expect(first.status).toBe(202);
    expect(first.body.results).toEqual(
      Array(created.length).fill({ outcome: 'applied', dealId, stage: 'identify', reasons: [] }),
    );

    const toQualify = await postHubspot([hubspotChange(objectId, at(1), 'dealstage', 'qualifiedtobuy')]);
    expect(toQualify).toEqual({
      status: 202,
      body: { results: [{ outcome: 'applied', dealId, stage: 'qualify', reasons: [] }] },
    });

    const toPropose = await postHubspot([
      ...hubspotChanges(objectId, at(2), QUALIFY_EXIT),
      hubspotChange(objectId, at(3), 'dealstage', 'presentationscheduled'),
    ]);
    expect(toPropose.body.results.map((result) => [result.outcome, result.stage])).toEqual([
      ['applied', 'qualify'],
      ['applied', 'qualify'],
      ['applied', 'propose'],
    ]);

    const deal = await getDeal(dealId);
    expect(deal.body).toMatchObject({
      dealId,
      dealName: 'Acme rollout',
      stage: 'propose',
      status: 'open',
      fields: { amount: '50000', decisionMaker: 'Jane Roe', champion: 'Sam Champion', budgetConfirmed: 'true' },
    });
    expect(deal.body.fields).not.toHaveProperty('dealstage');
    expect(moves(deal.body)).toEqual([
      { from: 'identify', to: 'qualify', outcome: 'applied' },
      { from: 'qualify', to: 'propose', outcome: 'applied' },
    ]);
  });

  it('answers 401 for a wrong secret, no signature or a timestamp older than 5 minutes, and records nothing', async () => {
    const objectId = uniqueNumber();
    const batch = [hubspotCreation(objectId, Date.now())];
    const refusals = [
      await postHubspot(batch, { secret: 'not-the-client-secret' }),
      await postHubspot(batch, { signed: false }),
      await postHubspot(batch, { timestamp: Date.now() - 5 * MINUTE - 5_000 }),
    ];
    for (const refusal of refusals) {
      expect(refusal.status).toBe(401);
      expect(refusal.body.error).toMatchObject({ code: 'UNAUTHORIZED', message: expect.any(String) });
    }
    await expectNoDeal(objectId);
    // The refused deliveries left no trace: the same events, signed, are new.
    expect((await postHubspot(batch)).body.results).toEqual([
      { outcome: 'applied', dealId: String(objectId), stage: 'identify', reasons: [] },
    ]);
  });

  it('answers duplicate for a redelivery (same eventId and occurredAt, attemptNumber 1) and records it once', async () => {
    const objectId = uniqueNumber();
    const at = clock();
    await postHubspot([hubspotCreation(objectId, at(0)), ...hubspotChanges(objectId, at(0), IDENTIFY_EXIT)]);
    const move = hubspotChange(objectId, at(1), 'dealstage', 'qualifiedtobuy');
    expect((await postHubspot([move])).body.results).toMatchObject([{ outcome: 'applied', stage: 'qualify' }]);
    const before = await getDeal(String(objectId));

    const redelivery = await postHubspot([{ ...move, attemptNumber: 1 }]);
    expect(redelivery).toEqual({
      status: 202,
      body: { results: [{ outcome: 'duplicate', dealId: String(objectId), stage: 'qualify', reasons: [] }] },
    });
    const after = await getDeal(String(objectId));
    expect(after.body.history).toEqual(before.body.history);
    expect(moves(after.body)).toEqual([{ from: 'identify', to: 'qualify', outcome: 'applied' }]);
  });

  it('takes an event with the same eventId but another occurredAt as a new one', async () => {
    const objectId = uniqueNumber();
    const at = clock();
    await postHubspot([hubspotCreation(objectId, at(0))]);
    const first = hubspotChange(objectId, at(1), 'hs_next_step', 'Call');
    const later = { ...first, occurredAt: at(2), propertyValue: 'Call back' };
    expect((await postHubspot([first])).body.results).toMatchObject([{ outcome: 'applied' }]);
    expect((await postHubspot([later])).body.results).toMatchObject([{ outcome: 'applied' }]);
    expect((await getDeal(String(objectId))).body.fields.hs_next_step).toBe('Call back');
  });

  it('applies a batch whose events come out of order in occurredAt order, one result per event', async () => {
    const objectId = uniqueNumber();
    const at = clock();
    const batch = [
      hubspotChange(objectId, at(3), 'dealstage', 'presentationscheduled'),
      ...hubspotChanges(objectId, at(2), QUALIFY_EXIT),
      hubspotChange(objectId, at(1.5), 'dealstage', 'qualifiedtobuy'),
      ...hubspotChanges(objectId, at(1), IDENTIFY_EXIT),
      hubspotCreation(objectId, at(0)),
    ];
    const { status, body } = await postHubspot(batch);
    expect(status).toBe(202);
    expect(body.results).toHaveLength(batch.length);
    expect(body.results.map((result) => result.outcome)).toEqual(Array(batch.length).fill('applied'));
    expect(body.results.at(-1)).toEqual({
      outcome: 'applied',
      dealId: String(objectId),
      stage: 'propose',
      reasons: [],
    });

    const deal = await getDeal(String(objectId));
    expect(deal.body.stage).toBe('propose');
    expect(moves(deal.body)).toEqual([
      { from: 'identify', to: 'qualify', outcome: 'applied' },
      { from: 'qualify', to: 'propose', outcome: 'applied' },
    ]);
  });

  it('answers stale for an older delivery that arrives after a newer one, and does not move the deal back', async () => {
    const objectId = uniqueNumber();
    const at = clock();
    await postHubspot([hubspotCreation(objectId, at(0)), ...hubspotChanges(objectId, at(0), IDENTIFY_EXIT)]);
    await postHubspot([hubspotChange(objectId, at(2), 'dealstage', 'qualifiedtobuy')]);
    const late = await postHubspot([hubspotChange(objectId, at(1), 'dealstage', 'appointmentscheduled')]);
    expect(late.status).toBe(202);
    expect(late.body.results).toMatchObject([{ outcome: 'stale', stage: 'qualify' }]);
    expect((await getDeal(String(objectId))).body.stage).toBe('qualify');
  });

  it('answers 202 rejected, not a 4xx HubSpot would retry, for a skipped stage and an unmapped dealstage', async () => {
    const objectId = uniqueNumber();
    const at = clock();
    await postHubspot([hubspotCreation(objectId, at(0)), ...hubspotChanges(objectId, at(0), IDENTIFY_EXIT)]);
    const skip = await postHubspot([hubspotChange(objectId, at(1), 'dealstage', 'decisionmakerboughtin')]);
    expect(skip.status).toBe(202);
    expect(skip.body.results).toEqual([
      expect.objectContaining({
        outcome: 'rejected',
        stage: 'identify',
        reasons: [expect.objectContaining({ code: 'SKIP_NOT_ALLOWED' })],
      }),
    ]);
    const unmapped = await postHubspot([hubspotChange(objectId, at(2), 'dealstage', '1234567')]);
    expect(unmapped.status).toBe(202);
    expect(unmapped.body.results[0]?.reasons).toContainEqual(expect.objectContaining({ code: 'UNKNOWN_STAGE' }));
    expect((await getDeal(String(objectId))).body.stage).toBe('identify');
  });
});

describe('Pipedrive webhooks v2 through the local stack', () => {
  it('creates a deal, moves it through two stages by stage_id and stores other data as fields', async () => {
    const dealId = uniqueNumber();
    const at = clock();
    const create = pipedriveCreate(dealId, at(0), IDENTIFY_EXIT);
    expect(await postPipedrive(create)).toMatchObject({
      status: 202,
      body: { outcome: 'applied', dealId: String(dealId), stage: 'identify', reasons: [] },
    });
    expect((await postPipedrive(pipedriveStageChange(dealId, at(1), 1, 2))).body).toMatchObject({
      outcome: 'applied',
      stage: 'qualify',
    });
    expect((await postPipedrive(pipedriveFieldsChange(dealId, at(2), 2, QUALIFY_EXIT))).body).toMatchObject({
      outcome: 'applied',
      stage: 'qualify',
    });
    expect((await postPipedrive(pipedriveStageChange(dealId, at(3), 2, 3))).body).toEqual({
      outcome: 'applied',
      dealId: String(dealId),
      stage: 'propose',
      reasons: [],
    });

    const fixtureCustomFields = Object.entries(pipedriveFixture('deal-create.json').data?.custom_fields as object);
    const deal = await getDeal(String(dealId));
    expect(deal.body).toMatchObject({
      dealName: 'Acme rollout',
      stage: 'propose',
      fields: {
        value: 50000,
        currency: 'EUR',
        ...Object.fromEntries(fixtureCustomFields.map(([key, field]) => [key, field.value])),
        decisionMaker: 'Jane Roe',
        champion: 'Sam Champion',
        budgetConfirmed: 'true',
      },
    });
    expect(deal.body.fields).not.toHaveProperty('stage_id');
    expect(moves(deal.body)).toEqual([
      { from: 'identify', to: 'qualify', outcome: 'applied' },
      { from: 'qualify', to: 'propose', outcome: 'applied' },
    ]);
    // With no Pipedrive domain configured, the deal page links to the company domain its webhooks name (`meta.host`).
    const page = await fetch(`${stackUrls().api}/board/deals/${dealId}?pipeline=default`);
    expect(await page.text()).toContain(`href="https://acme.pipedrive.com/deal/${dealId}"`);
  });

  it('maps status lost to closed_lost', async () => {
    const dealId = uniqueNumber();
    const at = clock();
    await postPipedrive(pipedriveCreate(dealId, at(0), IDENTIFY_EXIT));
    await postPipedrive(pipedriveStageChange(dealId, at(1), 1, 2));
    const lost = pipedriveChange(dealId, at(2), {
      data: { status: 'lost', custom_fields: customFields({ lostReason: 'Chose a competitor' }) },
      previous: { status: 'open', custom_fields: { lostReason: null } },
    });
    expect((await postPipedrive(lost)).body).toMatchObject({ outcome: 'applied', stage: 'closed_lost' });
    expect((await getDeal(String(dealId))).body).toMatchObject({ stage: 'closed_lost', status: 'lost' });
  });

  it('answers 401 with WWW-Authenticate for wrong or missing credentials, and records nothing', async () => {
    const dealId = uniqueNumber();
    const create = pipedriveCreate(dealId, Date.now());
    const [user] = DEVELOPMENT_SECRETS.PIPEDRIVE_BASIC_AUTH.split(':');
    for (const authorization of [basicAuth(`${user}:not-the-password`), null]) {
      const refusal = await postPipedrive(create, authorization);
      expect(refusal.status).toBe(401);
      expect(refusal.wwwAuthenticate).toMatch(/^Basic /);
      expect(refusal.body.error).toMatchObject({ code: 'UNAUTHORIZED', message: expect.any(String) });
    }
    await expectNoDeal(dealId);
    expect((await postPipedrive(create)).body).toMatchObject({ outcome: 'applied', stage: 'identify' });
  });

  it('answers duplicate for a redelivery (same meta.id, attempt 2) and records it once', async () => {
    const dealId = uniqueNumber();
    const at = clock();
    await postPipedrive(pipedriveCreate(dealId, at(0), IDENTIFY_EXIT));
    const move = pipedriveStageChange(dealId, at(1), 1, 2);
    expect((await postPipedrive(move)).body).toMatchObject({ outcome: 'applied', stage: 'qualify' });
    const before = await getDeal(String(dealId));

    const redelivery = await postPipedrive({ ...move, meta: { ...move.meta, attempt: 2 } });
    expect(redelivery).toMatchObject({
      status: 202,
      body: { outcome: 'duplicate', dealId: String(dealId), stage: 'qualify', reasons: [] },
    });
    expect((await getDeal(String(dealId))).body.history).toEqual(before.body.history);
  });

  it('answers stale for an older change that arrives after a newer one, and does not move the deal back', async () => {
    const dealId = uniqueNumber();
    const at = clock();
    await postPipedrive(pipedriveCreate(dealId, at(0), IDENTIFY_EXIT));
    await postPipedrive(pipedriveStageChange(dealId, at(2), 1, 2));
    const late = await postPipedrive(pipedriveStageChange(dealId, at(1), 2, 1));
    expect(late).toMatchObject({ status: 202, body: { outcome: 'stale', stage: 'qualify' } });
    expect((await getDeal(String(dealId))).body.stage).toBe('qualify');
  });

  it('answers 202 rejected, not a 4xx Pipedrive would retry, for a skipped stage', async () => {
    const dealId = uniqueNumber();
    const at = clock();
    await postPipedrive(pipedriveCreate(dealId, at(0), IDENTIFY_EXIT));
    const skip = await postPipedrive(pipedriveStageChange(dealId, at(1), 1, 3));
    expect(skip.status).toBe(202);
    expect(skip.body).toMatchObject({
      outcome: 'rejected',
      stage: 'identify',
      reasons: [expect.objectContaining({ code: 'SKIP_NOT_ALLOWED' })],
    });
  });
});

describe('Pipedrive data is the whole state', () => {
  it('moves a deal whose exit fields came only in a dropped webhook, from the next snapshot naming only stage_id', async () => {
    const dealId = uniqueNumber();
    const at = clock();
    await postPipedrive(pipedriveCreate(dealId, at(0)));
    // The webhook that filled the exit fields was dropped; the stage change's data carries them anyway.
    const base = pipedriveCreate(dealId, at(0), IDENTIFY_EXIT).data ?? {};
    const move = pipedriveChange(dealId, at(2), {
      data: { stage_id: 2, custom_fields: base.custom_fields },
      previous: { stage_id: 1 },
    });
    const answer = await postPipedrive(move);
    expect(answer.body).toMatchObject({ outcome: 'applied', stage: 'qualify' });
    expect((await getDeal(String(dealId))).body.fields).toMatchObject(IDENTIFY_EXIT);
  });

  it('keeps newer values when an older snapshot arrives late', async () => {
    const dealId = uniqueNumber();
    const at = clock();
    await postPipedrive(pipedriveCreate(dealId, at(0)));
    await postPipedrive(
      pipedriveChange(dealId, at(5), { data: { stage_id: 1, value: 90000 }, previous: { value: 1 } }),
    );
    await postPipedrive(
      pipedriveChange(dealId, at(3), { data: { stage_id: 1, value: 70000 }, previous: { value: 1 } }),
    );
    expect((await getDeal(String(dealId))).body.fields.value).toBe(90000);
  });
});

describe("the default pipeline reads the CRMs' own field names", () => {
  it('closes a HubSpot deal lost with closed_lost_reason saved in the same change, whatever the batch order', async () => {
    const objectId = uniqueNumber();
    const at = clock();
    await postHubspot([hubspotCreation(objectId, at(0)), ...hubspotChanges(objectId, at(0), IDENTIFY_EXIT)]);
    await postHubspot([hubspotChange(objectId, at(1), 'dealstage', 'qualifiedtobuy')]);
    const lost = await postHubspot([
      hubspotChange(objectId, at(2), 'dealstage', 'closedlost'),
      hubspotChange(objectId, at(2), 'closed_lost_reason', 'Went with a competitor'),
    ]);
    expect(lost.body.results.map((result) => result.outcome)).toEqual(['applied', 'applied']);
    const deal = await getDeal(String(objectId));
    expect(deal.body).toMatchObject({
      stage: 'closed_lost',
      status: 'lost',
      fields: { lostReason: 'Went with a competitor' },
    });
  });

  it('closes a Pipedrive deal marked lost with its lost_reason', async () => {
    const dealId = uniqueNumber();
    const at = clock();
    await postPipedrive(pipedriveCreate(dealId, at(0), IDENTIFY_EXIT));
    await postPipedrive(pipedriveStageChange(dealId, at(1), 1, 2));
    const lost = await postPipedrive(
      pipedriveChange(dealId, at(2), {
        data: { stage_id: 2, status: 'lost', lost_reason: 'No budget this year' },
        previous: { status: 'open', lost_reason: null },
      }),
    );
    expect(lost.body).toMatchObject({ outcome: 'applied', stage: 'closed_lost' });
    expect((await getDeal(String(dealId))).body.fields).toMatchObject({ lostReason: 'No budget this year' });
  });
});

describe('Salesforce outbound messages through the local stack', () => {
  it('creates an opportunity, moves it through two stages by StageName and stores other fields', async () => {
    const dealId = uniqueId('006');
    const at = clock();
    const sent = [
      { stageName: 'Identify', fields: IDENTIFY_EXIT },
      { stageName: 'Qualify', fields: { ...IDENTIFY_EXIT, ...QUALIFY_EXIT } },
      { stageName: 'Propose', fields: { ...IDENTIFY_EXIT, ...QUALIFY_EXIT } },
    ];
    for (const [minute, { stageName, fields }] of sent.entries()) {
      const answer = await postSalesforce(
        outboundMessage([{ notificationId: uniqueId('04l'), dealId, stageName, modifiedAt: at(minute), fields }]),
      );
      expect(answer).toEqual({ status: 200, contentType: expect.stringMatching(/^text\/xml/), body: ACK });
    }

    const deal = await getDeal(dealId);
    expect(deal.body).toMatchObject({
      dealName: 'Acme rollout',
      stage: 'propose',
      fields: {
        Amount: '50000.0',
        CloseDate: '2026-12-31',
        Decision_Maker__c: 'Jane Roe & Partners',
        decisionMaker: 'Jane Roe',
        champion: 'Sam Champion',
      },
    });
    expect(deal.body.fields).not.toHaveProperty('StageName');
    expect(moves(deal.body)).toEqual([
      { from: 'identify', to: 'qualify', outcome: 'applied' },
      { from: 'qualify', to: 'propose', outcome: 'applied' },
    ]);
  });

  it('answers 401 with a SOAP fault for a wrong or missing token or a foreign org, and records nothing', async () => {
    const dealId = uniqueId('006');
    const opportunity = { notificationId: uniqueId('04l'), dealId, stageName: 'Identify', modifiedAt: Date.now() };
    const refusals = [
      await postSalesforce(outboundMessage([opportunity]), 'not-the-token'),
      await postSalesforce(outboundMessage([opportunity]), null),
      await postSalesforce(outboundMessage([opportunity], '00D000000000099ZZZ')),
    ];
    for (const refusal of refusals) {
      expect(refusal).toMatchObject({
        status: 401,
        contentType: expect.stringMatching(/^text\/xml/),
        body: { Fault: { faultcode: expect.stringMatching(/Client$/), faultstring: expect.any(String) } },
      });
    }
    await expectNoDeal(dealId);
    expect((await postSalesforce(outboundMessage([opportunity]))).body).toEqual(ACK);
    expect((await getDeal(dealId)).body.stage).toBe('identify');
  });

  it('acks a redelivered notification (same Id) again and records it once', async () => {
    const dealId = uniqueId('006');
    const at = clock();
    await postSalesforce(
      outboundMessage([{ notificationId: uniqueId('04l'), dealId, stageName: 'Identify', modifiedAt: at(0) }]),
    );
    const move = outboundMessage([
      {
        notificationId: uniqueId('04l'),
        dealId,
        stageName: 'Qualify',
        modifiedAt: at(1),
        fields: IDENTIFY_EXIT,
      },
    ]);
    expect((await postSalesforce(move)).body).toEqual(ACK);
    const before = await getDeal(dealId);
    expect(await postSalesforce(move)).toMatchObject({ status: 200, body: ACK });
    const after = await getDeal(dealId);
    expect(after.body.history).toEqual(before.body.history);
    expect(after.body.stage).toBe('qualify');
  });

  it('acks a batch of several notifications once every one is recorded, in modification order', async () => {
    const [first, second] = [uniqueId('006'), uniqueId('006')];
    const at = clock();
    const batch = [
      {
        notificationId: uniqueId('04l'),
        dealId: first,
        stageName: 'Qualify',
        modifiedAt: at(1),
        fields: IDENTIFY_EXIT,
      },
      { notificationId: uniqueId('04l'), dealId: second, stageName: 'Identify', modifiedAt: at(0) },
      { notificationId: uniqueId('04l'), dealId: first, stageName: 'Identify', modifiedAt: at(0) },
    ];
    expect(await postSalesforce(outboundMessage(batch))).toMatchObject({ status: 200, body: ACK });

    const [firstDeal, secondDeal] = [await getDeal(first), await getDeal(second)];
    expect(firstDeal.body.stage).toBe('qualify');
    expect(secondDeal.body.stage).toBe('identify');
    const recorded = [...firstDeal.body.history, ...secondDeal.body.history].map((entry) => entry.eventId);
    expect(recorded).toEqual(expect.arrayContaining(batch.map((n) => n.notificationId)));
    expect(moves(firstDeal.body)).toEqual([{ from: 'identify', to: 'qualify', outcome: 'applied' }]);
  });

  it('records an older notification that arrives after a newer one as stale, without moving the deal back', async () => {
    const dealId = uniqueId('006');
    const at = clock();
    const notify = (stageName: string, minute: number) => ({
      notificationId: uniqueId('04l'),
      dealId,
      stageName,
      modifiedAt: at(minute),
      fields: IDENTIFY_EXIT,
    });
    await postSalesforce(outboundMessage([notify('Identify', 0)]));
    await postSalesforce(outboundMessage([notify('Qualify', 2)]));
    const late = notify('Identify', 1);
    expect((await postSalesforce(outboundMessage([late]))).body).toEqual(ACK);
    const deal = await getDeal(dealId);
    expect(deal.body.stage).toBe('qualify');
    expect(deal.body.history).toContainEqual(
      expect.objectContaining({ eventId: late.notificationId, outcome: 'stale' }),
    );
  });

  it('acks a refused move (a skipped stage) so that Salesforce does not retry it, and records the refusal', async () => {
    const dealId = uniqueId('006');
    const at = clock();
    await postSalesforce(
      outboundMessage([
        {
          notificationId: uniqueId('04l'),
          dealId,
          stageName: 'Identify',
          modifiedAt: at(0),
          fields: IDENTIFY_EXIT,
        },
      ]),
    );
    const skip = { notificationId: uniqueId('04l'), dealId, stageName: 'Negotiate', modifiedAt: at(1) };
    expect(await postSalesforce(outboundMessage([skip]))).toMatchObject({ status: 200, body: ACK });
    const deal = await getDeal(dealId);
    expect(deal.body.stage).toBe('identify');
    expect(deal.body.history).toContainEqual(
      expect.objectContaining({
        eventId: skip.notificationId,
        outcome: 'rejected',
        reasons: [expect.objectContaining({ code: 'SKIP_NOT_ALLOWED' })],
      }),
    );
  });
});

describe('an oversized Salesforce message', () => {
  it('is refused with 413 as a SOAP fault, the way Salesforce reads a refusal', async () => {
    const padding = `<!-- ${'x'.repeat(300 * 1024)} -->`;
    const answer = await postSalesforce(`<?xml version="1.0" encoding="UTF-8"?>${padding}<a/>`);
    expect(answer.status).toBe(413);
    expect(answer.contentType).toMatch(/^text\/xml/);
    expect(answer.body).toMatchObject({
      Fault: { faultcode: expect.stringMatching(/Client$/), faultstring: expect.stringContaining('256 KiB') },
    });
  });
});
