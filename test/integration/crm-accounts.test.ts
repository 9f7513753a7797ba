import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEVELOPMENT_SECRETS } from '../../infra/local/stack.ts';
import { basicAuth, fixture, signHubspot } from '../fixtures/signing.ts';
import { type DealView, getDeal, postHubspot, uniqueNumber, waitFor } from '../support/api.ts';
import { startCrmStandIns } from '../support/crm/index.ts';
import { sentEmails, waitForEmail } from '../support/mail.ts';
import { type StackProcess, startStackProcess } from '../support/stack-process.ts';

/**
 * One CRM account with several pipelines, through a local stack that runs two Stageflow pipelines: `default`
 * (HubSpot pipeline `default`, Pipedrive pipeline 1) and `renewals` (HubSpot `renewals`, Pipedrive 2, one Salesforce
 * record type), with the CRM stand-ins counting every write. Every other CRM pipeline of the account is unmanaged.
 */

interface Result {
  outcome: string;
  dealId: string;
  stage: string | null;
  reasons: { code: string; message: string; crmPipeline?: string | null; into?: string }[];
}
type HistoryLine = DealView['history'][number] & { from: string | string[] | null };

let crms: Awaited<ReturnType<typeof startCrmStandIns>>;
let stack: StackProcess;
let configDir: string;

beforeAll(async () => {
  configDir = mkdtempSync(join(tmpdir(), 'stageflow-accounts-'));
  copyFileSync('stage-config/default.yaml', join(configDir, 'default.yaml'));
  copyFileSync('test/fixtures/accounts/renewals.yaml', join(configDir, 'renewals.yaml'));
  crms = await startCrmStandIns();
  stack = await startStackProcess(
    { ...crms.env, STAGEFLOW_CONFIG: configDir, APPROVAL_REMINDER_SECONDS: '', APPROVAL_EXPIRY_SECONDS: '' },
    ['--in-memory'],
  );
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await crms?.close();
  rmSync(configDir, { recursive: true, force: true });
});

let clock = Date.now() - 20 * 60_000;
const tick = () => {
  clock += 1000;
  return clock;
};

// HubSpot webhooks v3: every property of a save is an event of its own.

const hubspotTemplate = (JSON.parse(fixture('hubspot', 'deal-batch.json')) as Record<string, unknown>[]).find(
  (event) => event.subscriptionType === 'deal.propertyChange',
);

function hubspotEvent(objectId: string, fields: Record<string, unknown>): Record<string, unknown> {
  return { ...hubspotTemplate, eventId: uniqueNumber(), objectId: Number(objectId), occurredAt: tick(), ...fields };
}

const change = (objectId: string, propertyName: string, propertyValue: string) =>
  hubspotEvent(objectId, { subscriptionType: 'deal.propertyChange', propertyName, propertyValue });
const lifecycle = (objectId: string, subscriptionType: string) => {
  const { propertyName: _name, propertyValue: _value, ...event } = hubspotEvent(objectId, { subscriptionType });
  return event;
};

/** What HubSpot sends when a deal is created in a pipeline at a stage. */
const hubspotCreation = (objectId: string, pipeline: string, stage: string, name = `Deal ${objectId}`) => [
  lifecycle(objectId, 'deal.creation'),
  change(objectId, 'pipeline', pipeline),
  change(objectId, 'dealname', name),
  change(objectId, 'dealstage', stage),
];

function hubspotMerge(primary: string, merged: string[], newObjectId?: string) {
  const { propertyName: _name, propertyValue: _value, objectId: _id, ...event } = hubspotEvent(primary, {});
  return {
    ...event,
    subscriptionType: 'deal.merge',
    objectId: Number(primary),
    primaryObjectId: Number(primary),
    mergedObjectIds: merged.map(Number),
    ...(newObjectId ? { newObjectId: Number(newObjectId) } : {}),
  };
}

async function hubspot(events: Record<string, unknown>[], query = ''): Promise<Result[]> {
  if (query === '') {
    const answer = await postHubspot(events, stack.urls.api);
    expect(answer.status).toBe(202);
    return answer.body.results as Result[];
  }
  const url = `${stack.urls.api}/webhooks/hubspot${query}`;
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
  return ((await response.json()) as { results: Result[] }).results;
}

// Pipedrive webhooks v2: one event per delivery, `data` the deal's whole state.

type PipedriveBody = { meta: Record<string, unknown>; data: Record<string, unknown> | null; previous: unknown };

function pipedriveBody(name: string, dealId: string, data: Record<string, unknown> | null, previous: unknown = null) {
  const base = JSON.parse(fixture('pipedrive', name)) as PipedriveBody;
  return {
    meta: { ...base.meta, id: randomUUID(), entity_id: dealId, timestamp: new Date(tick()).toISOString() },
    data: data && { ...base.data, id: Number(dealId), ...data },
    previous,
  };
}

async function pipedrive(body: unknown): Promise<{ status: number; body: Result & { results?: Result[] } }> {
  const response = await fetch(`${stack.urls.api}/webhooks/pipedrive`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: basicAuth(DEVELOPMENT_SECRETS.PIPEDRIVE_BASIC_AUTH) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Result & { results?: Result[] } };
}

async function salesforce(dealId: string, stageName: string, extra: string, type = 'Opportunity') {
  const xml = fixture('salesforce', 'opportunity.xml')
    .replace(/<OrganizationId>[^<]*/, `<OrganizationId>${DEVELOPMENT_SECRETS.SALESFORCE_ORG_ID}`)
    .replace(/<Id>[^<]*/, `<Id>${randomUUID().replaceAll('-', '').slice(0, 18)}`)
    .replace(/<sf:Id>[^<]*/, `<sf:Id>${dealId}`)
    .replace(/<sf:StageName>[^<]*/, `<sf:StageName>${stageName}`)
    .replace(/<sf:LastModifiedDate>[^<]*/, `<sf:LastModifiedDate>${new Date(tick()).toISOString()}`)
    .replace('sf:Opportunity', `sf:${type}`)
    .replace('</sObject>', `${extra}</sObject>`);
  const token = encodeURIComponent(DEVELOPMENT_SECRETS.SALESFORCE_WEBHOOK_TOKEN);
  const response = await fetch(`${stack.urls.api}/webhooks/salesforce?token=${token}`, {
    method: 'POST',
    headers: { 'content-type': 'text/xml; charset=utf-8' },
    body: xml,
  });
  return { status: response.status, text: await response.text() };
}

const deal = async (dealId: string, pipeline = 'default') => getDeal(dealId, pipeline, stack.urls.api);
const history = (view: DealView) => view.history as HistoryLine[];

/** Every write the CRM stand-ins received (reads and token requests aside). */
const crmWrites = () =>
  [crms.hubspot, crms.pipedrive, crms.salesforce].flatMap((standIn) =>
    standIn.requests.filter((request) => request.method !== 'GET' && !request.path.includes('/oauth2/')),
  );
const writesAbout = (dealId: string) =>
  crmWrites().filter((request) => request.path.includes(dealId) || JSON.stringify(request.body).includes(dealId));

describe('one CRM account, several pipelines', () => {
  it('routes each deal to the pipeline that manages its CRM pipeline, with no ?pipeline= and a stage-only event later', async () => {
    const id = String(uniqueNumber());
    const created = await hubspot(hubspotCreation(id, 'renewals', 'renewalreview'));
    expect(created.map((result) => [result.outcome, result.stage])).toEqual(Array(4).fill(['applied', 'review']));
    // A later event names only the stage: the deal's CRM pipeline was kept from the first.
    const [moved] = await hubspot([change(id, 'dealstage', 'renewalrenew')]);
    expect(moved).toMatchObject({ outcome: 'applied', stage: 'renew' });
    expect((await deal(id, 'renewals')).body).toMatchObject({ stage: 'renew', status: 'open' });
    expect((await deal(id)).status).toBe(404);

    const pipedriveId = String(uniqueNumber());
    const answer = await pipedrive(pipedriveBody('deal-create.json', pipedriveId, { pipeline_id: 2, stage_id: 21 }));
    expect(answer.body).toMatchObject({ outcome: 'applied', stage: 'review' });
    expect((await deal(pipedriveId, 'renewals')).body.stage).toBe('review');

    const opportunity = `0065A${uniqueNumber()}`.slice(0, 18);
    const soap = await salesforce(
      opportunity,
      'Renewal Review',
      '<sf:RecordTypeId>012000000000RNWAAA</sf:RecordTypeId>',
    );
    expect(soap.status).toBe(200);
    expect((await deal(opportunity, 'renewals')).body.stage).toBe('review');
  });

  it('ignores an event another pipeline manages when ?pipeline= names one, recording nothing', async () => {
    const id = String(uniqueNumber());
    const results = await hubspot(hubspotCreation(id, 'renewals', 'renewalreview'), '?pipeline=default');
    expect(results.map((result) => [result.outcome, result.reasons[0]?.code])).toEqual(
      Array(4).fill(['ignored', 'UNMANAGED_PIPELINE']),
    );
    expect((await deal(id, 'renewals')).status).toBe(404);
  });

  it('refuses a stage the map lacks without writing back, and logs it as an error', async () => {
    const id = String(uniqueNumber());
    crms.hubspot.addDeal(id, 'appointmentscheduled');
    await hubspot(hubspotCreation(id, 'default', 'appointmentscheduled'));
    const [unmapped] = await hubspot([change(id, 'dealstage', 'addedbyanadmin')]);
    expect(unmapped).toMatchObject({ outcome: 'rejected', stage: 'identify', reasons: [{ code: 'UNKNOWN_STAGE' }] });
    // A move the rules refuse is written back: once its note arrives, the unmapped stage's effects ran before it.
    const [skip] = await hubspot([change(id, 'dealstage', 'contractsent')]);
    expect(skip).toMatchObject({ outcome: 'rejected', stage: 'identify' });
    expect(skip?.reasons.map((reason) => reason.code)).toContain('SKIP_NOT_ALLOWED');
    await waitFor(
      async () =>
        writesAbout(id).some((request) => JSON.stringify(request.body).includes('one stage at a time')) || undefined,
      'the refused skip written back',
    );
    const synced = await waitFor(async () => {
      const entries = history((await deal(id)).body).filter((entry) => entry.type === 'crm_sync');
      return entries.length > 0 ? entries : undefined;
    }, 'the write-back in the history');
    expect(synced).toHaveLength(1);
    expect(writesAbout(id).filter((request) => request.method === 'PATCH')).toHaveLength(1);
    expect(writesAbout(id).filter((request) => JSON.stringify(request.body).includes('addedbyanadmin'))).toEqual([]);
    expect(stack.output()).toContain('a CRM stage is missing from the stage map');
  });
});

describe('a deal the CRM moves to another pipeline', () => {
  it('leaves its pipeline (approvals cancelled, off the board, never written back), arrives elsewhere, and comes back', async () => {
    const id = String(uniqueNumber());
    const name = `Renewal ${id}`;
    await hubspot(hubspotCreation(id, 'renewals', 'renewalreview', name));
    const waiting = await deal(id, 'renewals');
    expect(waiting.body.approvals).toEqual([expect.objectContaining({ role: 'finance', status: 'pending' })]);
    const boardBefore = await (await fetch(`${stack.urls.api}/board?pipeline=renewals`)).text();
    expect(boardBefore).toContain(name);

    const moved = await hubspot([change(id, 'pipeline', 'partners'), change(id, 'dealstage', 'partnerintro')]);
    expect(moved.map((result) => [result.outcome, result.reasons[0]?.code])).toEqual([
      ['ignored', 'UNMANAGED_PIPELINE'],
      ['ignored', 'UNMANAGED_PIPELINE'],
    ]);
    const left = (await deal(id, 'renewals')).body;
    expect(left.status).toBe('left');
    expect(history(left)).toContainEqual(expect.objectContaining({ type: 'left', to: 'partners' }));
    expect(left.approvals).toEqual([expect.objectContaining({ role: 'finance', status: 'cancelled' })]);
    await waitForEmail(stack.urls.ses, 'renewals-finance@example.com', [name, 'cancel']);
    expect(await (await fetch(`${stack.urls.api}/board?pipeline=renewals`)).text()).not.toContain(name);
    // A stage-only event later is still about the unmanaged pipeline the deal is in now.
    const [later] = await hubspot([change(id, 'dealstage', 'partnerclose')]);
    expect(later).toMatchObject({ outcome: 'ignored', reasons: [{ code: 'UNMANAGED_PIPELINE' }] });

    const arrived = await hubspot([change(id, 'pipeline', 'default'), change(id, 'dealstage', 'qualifiedtobuy')]);
    expect(arrived.at(-1)).toMatchObject({ outcome: 'rejected', stage: 'identify' });
    const inDefault = (await deal(id)).body;
    expect(history(inDefault)[0]).toMatchObject({ type: 'created', from: 'partners', to: 'identify' });

    const back = await hubspot([change(id, 'pipeline', 'renewals'), change(id, 'dealstage', 'renewalreview')]);
    expect(back.at(-1)).toMatchObject({ outcome: 'applied', stage: 'review' });
    const returned = (await deal(id, 'renewals')).body;
    expect(returned.status).toBe('open');
    const arrivals = history(returned).filter((entry) => entry.type === 'created');
    expect(arrivals.at(-1)).toMatchObject({ from: 'default', to: 'review' });
    expect((await deal(id)).body.status).toBe('left');
    expect(writesAbout(id).filter((request) => request.method === 'PATCH' && request.path.includes(id))).toEqual([]);
  });
});

describe('merges and deletions', () => {
  it('continues the primary deal under the new deal a HubSpot merge makes; the merged deals end merged', async () => {
    const [a, b, c] = [uniqueNumber(), uniqueNumber(), uniqueNumber()].map(String) as [string, string, string];
    await hubspot(hubspotCreation(a, 'renewals', 'renewalreview'));
    await hubspot(hubspotCreation(b, 'renewals', 'renewalreview'));
    await hubspot([change(a, 'dealstage', 'renewalrenew')]);
    const [merged] = await hubspot([hubspotMerge(a, [b], c)]);
    expect(merged).toMatchObject({ outcome: 'applied', dealId: c, stage: 'renew' });

    const survivor = (await deal(c, 'renewals')).body;
    expect(survivor).toMatchObject({ stage: 'renew', status: 'open' });
    const kinds = history(survivor).map((entry) => entry.type);
    expect(kinds.filter((kind) => kind !== 'fields')).toEqual(['created', 'move', 'merged']);
    expect(history(survivor).at(-1)).toMatchObject({ type: 'merged', from: [a, b] });
    for (const id of [a, b]) {
      const gone = (await deal(id, 'renewals')).body;
      expect(gone.status).toBe('merged');
      expect(history(gone).at(-1)).toMatchObject({ type: 'merged_into', to: c });
    }
    expect((await deal(b, 'renewals')).body.approvals).toEqual([expect.objectContaining({ status: 'cancelled' })]);
    const [later] = await hubspot([change(a, 'dealstage', 'renewalreview')]);
    expect(later).toMatchObject({ outcome: 'ignored', reasons: [{ code: 'MERGED', into: c }] });
  });

  it('ends a Pipedrive deal merged into another (a delete naming merged_to_id)', async () => {
    const [kept, gone] = [String(uniqueNumber()), String(uniqueNumber())];
    await pipedrive(pipedriveBody('deal-create.json', kept, { pipeline_id: 1, stage_id: 1 }));
    await pipedrive(pipedriveBody('deal-create.json', gone, { pipeline_id: 1, stage_id: 1 }));
    const answer = await pipedrive(
      pipedriveBody('deal-delete.json', gone, null, { id: Number(gone), pipeline_id: 1, merged_to_id: Number(kept) }),
    );
    expect(answer.body).toMatchObject({ outcome: 'applied', dealId: kept });
    const ended = (await deal(gone)).body;
    expect(ended.status).toBe('merged');
    expect(history(ended).at(-1)).toMatchObject({ type: 'merged_into', to: kept });
    expect(history((await deal(kept)).body).at(-1)).toMatchObject({ type: 'merged', from: [gone] });
  });

  it('marks deleted deals deleted, and reopens a restored one at its stage', async () => {
    const id = String(uniqueNumber());
    await hubspot(hubspotCreation(id, 'default', 'appointmentscheduled'));
    const [deleted] = await hubspot([lifecycle(id, 'deal.deletion')]);
    expect(deleted).toMatchObject({ outcome: 'applied' });
    expect((await deal(id)).body.status).toBe('deleted');
    const [ignored] = await hubspot([change(id, 'dealstage', 'qualifiedtobuy')]);
    expect(ignored).toMatchObject({ outcome: 'ignored', reasons: [{ code: 'DELETED' }] });
    await hubspot([lifecycle(id, 'deal.restore')]);
    expect((await deal(id)).body).toMatchObject({ status: 'open', stage: 'identify' });

    const pipedriveId = String(uniqueNumber());
    await pipedrive(pipedriveBody('deal-create.json', pipedriveId, { pipeline_id: 1, stage_id: 1 }));
    await pipedrive(pipedriveBody('deal-delete.json', pipedriveId, null, { id: Number(pipedriveId), pipeline_id: 1 }));
    expect((await deal(pipedriveId)).body.status).toBe('deleted');
  });

  it('answers events of other objects 2xx and records nothing, on every CRM route', async () => {
    const person = await pipedrive(JSON.parse(fixture('pipedrive', 'person-change.json')));
    expect(person).toEqual({ status: 202, body: { results: [] } });
    const account = await salesforce('001000000000001AAA', 'Qualify', '', 'Account');
    expect(account.status).toBe(200);
    expect(account.text).toContain('<Ack>true</Ack>');
    expect((await deal('001000000000001AAA')).status).toBe(404);
  });
});

describe('on a stand-in account with a second pipeline', () => {
  it('1,000 events of unmanaged deals (creations, moves, merges) cause zero CRM writes and zero emails', async () => {
    const writesBefore = crmWrites().length;
    const emailsBefore = (await sentEmails(stack.urls.ses)).length;
    const results: Result[] = [];
    const hubspotIds: string[] = [];
    for (let n = 0; n < 100; n++) {
      const id = String(uniqueNumber());
      hubspotIds.push(id);
      results.push(...(await hubspot(hubspotCreation(id, 'partners', 'partnerintro'))));
      results.push(...(await hubspot([change(id, 'dealstage', 'partnerclose')])));
    }
    for (let n = 0; n < 50; n++) {
      const [primary, other] = [hubspotIds[2 * n], hubspotIds[2 * n + 1]] as [string, string];
      results.push(...(await hubspot([hubspotMerge(primary, [other], String(uniqueNumber()))])));
    }
    const pipedriveIds: string[] = [];
    for (let n = 0; n < 150; n++) {
      const id = String(uniqueNumber());
      pipedriveIds.push(id);
      results.push((await pipedrive(pipedriveBody('deal-create.json', id, { pipeline_id: 3, stage_id: 31 }))).body);
    }
    for (let n = 0; n < 200; n++) {
      const id = pipedriveIds[n % 150] as string;
      const moved = pipedriveBody('deal-change-stage.json', id, { pipeline_id: 3, stage_id: 32 + n });
      results.push((await pipedrive(moved)).body);
    }
    for (let n = 0; n < 100; n++) {
      const [id, into] = [pipedriveIds[n] as string, pipedriveIds[149 - n] as string];
      const previous = { id: Number(id), pipeline_id: 3, merged_to_id: Number(into) };
      results.push((await pipedrive(pipedriveBody('deal-delete.json', id, null, previous))).body);
    }

    expect(results).toHaveLength(1000);
    expect(results.filter((result) => result.outcome !== 'ignored')).toEqual([]);
    for (const id of [...hubspotIds.slice(0, 5), ...pipedriveIds.slice(0, 5)]) {
      expect((await deal(id)).status).toBe(404);
      expect((await deal(id, 'renewals')).status).toBe(404);
    }
    // A managed deal's refused move is written back and mailed: once it is, the outbox has passed every record.
    const control = String(uniqueNumber());
    await pipedrive(pipedriveBody('deal-create.json', control, { pipeline_id: 1, stage_id: 1 }));
    await pipedrive(pipedriveBody('deal-change-stage.json', control, { pipeline_id: 1, stage_id: 3 }));
    await waitFor(async () => (writesAbout(control).length > 0 ? true : undefined), 'the control write-back');
    const unmanagedWrites = crmWrites()
      .slice(writesBefore)
      .filter((request) => !request.path.includes(control) && !JSON.stringify(request.body).includes(control));
    const emails = (await sentEmails(stack.urls.ses)).slice(emailsBefore);
    console.log(
      `1,000 unmanaged events: ${results.length} answered ignored, ${unmanagedWrites.length} CRM writes, ` +
        `${emails.filter((email) => !`${email.subject}${email.body.text ?? ''}`.includes(control)).length} emails`,
    );
    expect(unmanagedWrites).toEqual([]);
    expect(emails.filter((email) => !`${email.subject}${email.body.text ?? ''}`.includes(control))).toEqual([]);
  }, 300_000);
});
