import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CrmSource, CrmStageValue } from '../../functions/adapters/crm/types.ts';
import { crmStageValue, mapStage } from '../../functions/sources/crm-maps.ts';
import { EXIT_FIELDS, OPEN_STAGES } from '../../infra/local/default-story.ts';
import { DEVELOPMENT_SECRETS } from '../../infra/local/stack.ts';
import { basicAuth, defaultPipelineConfig, fixture } from '../fixtures/signing.ts';
import { type DealView, getDeal, postGeneric, postHubspot, uniqueId, uniqueNumber, waitFor } from '../support/api.ts';
import { HUBSPOT_WRITE_BACK_SCOPES } from '../support/crm/hubspot.ts';
import { startCrmStandIns } from '../support/crm/index.ts';
import type { CrmStandIn, ReceivedRequest, ScriptedFailure } from '../support/crm/server.ts';
import { decide, reviewLink, waitForEmail } from '../support/mail.ts';
import { type StackProcess, startStackProcess } from '../support/stack-process.ts';

/**
 * Write-back through the local stack, as `npm start` runs it with CRM credentials set, for each of
 * the three CRMs: a stand-in plays the CRM's API and keeps the deal as the CRM would, and the test plays the rep who
 * moves the deal in the CRM (which then sends its webhook, in its own format).
 */

const config = defaultPipelineConfig();
/**
 * The origin marker an integration's change carries in each CRM, and how Stageflow records it. In Salesforce it is
 * the user Stageflow's connected app runs as (`SALESFORCE_INTEGRATION_USER_ID` below).
 */
const INTEGRATION_ORIGIN = { hubspot: 'INTEGRATION:app:1', pipedrive: 'api:9001', salesforce: '005INTEGRATION0001' };
/** The origin marker of a rep's change in each CRM's own UI. */
const PERSON_ORIGIN = { hubspot: 'CRM_UI:userId:4321', pipedrive: 'app:13540546', salesforce: '005REP000000001' };

let crms: Awaited<ReturnType<typeof startCrmStandIns>>;
let stack: StackProcess;

beforeAll(async () => {
  crms = await startCrmStandIns();
  const env = {
    ...crms.env,
    SALESFORCE_INTEGRATION_USER_ID: INTEGRATION_ORIGIN.salesforce,
    APPROVAL_REMINDER_SECONDS: '',
    APPROVAL_EXPIRY_SECONDS: '',
  };
  stack = await startStackProcess(env, ['--in-memory']);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await crms?.close();
});

/** One delivery of a CRM webhook: its outcome, the deal's stage after it, and the same delivery sent again. */
interface Delivery {
  outcome: string | undefined;
  stage: string | null | undefined;
  /** Sends the very same delivery again, as the CRM's retry would. */
  redeliver(): Promise<void>;
}

/** What a test needs of one CRM: its stand-in, and how its webhooks tell that a deal changed. */
interface CrmDriver {
  source: CrmSource;
  standIn: CrmStandIn;
  /** The deal's path in the CRM's API, where stage writes go. */
  dealPath(id: string): string;
  /** How the CRM answers a call over its API limit: HubSpot and Pipedrive `429`, Salesforce `403`. */
  overLimit: ScriptedFailure;
  /** Creates the deal in the CRM, in Identify, and delivers the CRM's webhook about it. */
  newDeal(): Promise<string>;
  /** Delivers the webhook of a change to the deal: its stage set to `value` and `fields` filled in, by `origin`. */
  deliver(id: string, value: CrmStageValue, fields: Record<string, unknown>, origin?: string): Promise<Delivery>;
}

let clock = Date.now() - 20 * 60_000;
const tick = () => {
  clock += 1000;
  return clock;
};

const crmValue = (source: CrmSource, stage: string): CrmStageValue => {
  const value = crmStageValue(config, source, stage);
  if (!value) throw new Error(`the default pipeline maps no ${source} value to ${stage}`);
  return value;
};

function hubspotDriver(): CrmDriver {
  const standIn = crms.hubspot;
  const template = (JSON.parse(fixture('hubspot', 'deal-batch.json')) as Record<string, unknown>[]).find(
    (event) => event.subscriptionType === 'deal.propertyChange',
  );
  const change = (objectId: string, propertyName: string, propertyValue: unknown, extra = {}) => ({
    ...template,
    eventId: uniqueNumber(),
    objectId: Number(objectId),
    occurredAt: tick(),
    propertyName,
    propertyValue: String(propertyValue),
    ...extra,
  });
  const driver: CrmDriver = {
    source: 'hubspot',
    standIn,
    dealPath: (id) => `/crm/v3/objects/deals/${id}`,
    overLimit: { status: 429, retryAfter: '1' },
    async newDeal() {
      const id = String(uniqueNumber());
      standIn.addDeal(id, 'appointmentscheduled');
      await driver.deliver(id, crmValue('hubspot', 'identify'), {});
      return id;
    },
    async deliver(id, value, fields, origin) {
      const [changeSource, ...sourceId] = origin?.split(':') ?? [];
      const marker = origin ? { changeSource, sourceId: sourceId.join(':') } : {};
      // One batch: the fields, then the stage change (HubSpot sends one event per property).
      const events = [
        ...Object.entries(fields).map(([name, field]) => change(id, name, field)),
        change(id, 'dealstage', value.value, marker),
      ];
      const post = async () => {
        const answer = await postHubspot(events, stack.urls.api);
        expect(answer.status).toBe(202);
        return (answer.body.results as { outcome: string; stage: string | null }[]).at(-1);
      };
      const last = await post();
      return { outcome: last?.outcome, stage: last?.stage, redeliver: async () => void (await post()) };
    },
  };
  return driver;
}

function pipedriveDriver(): CrmDriver {
  const standIn = crms.pipedrive;
  const base = JSON.parse(fixture('pipedrive', 'deal-change-stage.json')) as Record<string, Record<string, unknown>>;
  /** Pipedrive sends the deal's whole state each time: every custom field filled in so far. */
  const customFields = new Map<string, Record<string, unknown>>();
  const created = new Set<string>();
  const driver: CrmDriver = {
    source: 'pipedrive',
    standIn,
    dealPath: (id) => `/api/v2/deals/${id}`,
    overLimit: { status: 429, retryAfter: '1' },
    async newDeal() {
      const id = String(uniqueNumber() % 1_000_000_000);
      standIn.addDeal(Number(id), 1);
      await driver.deliver(id, crmValue('pipedrive', 'identify'), {});
      return id;
    },
    async deliver(id, value, fields, origin) {
      const [changeSource = 'app', userId = '13540546'] = origin?.split(':') ?? [];
      const custom = { ...customFields.get(id) };
      for (const [name, field] of Object.entries(fields)) custom[name] = { type: 'varchar', value: field };
      customFields.set(id, custom);
      const action = created.has(id) ? 'change' : 'create';
      created.add(id);
      // The stand-in holds the deal as the person left it; the webhook reports that state.
      const state = { ...standIn.dealState(id), [value.field]: value.value };
      const body = JSON.stringify({
        meta: {
          ...base.meta,
          action,
          change_source: changeSource,
          user_id: userId,
          id: uniqueId('pd'),
          entity_id: id,
          timestamp: new Date(tick()).toISOString(),
        },
        data: { ...base.data, id: Number(id), ...state, custom_fields: custom },
        previous: action === 'create' ? null : {},
      });
      const post = async () => {
        const response = await fetch(`${stack.urls.api}/webhooks/pipedrive`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: basicAuth(DEVELOPMENT_SECRETS.PIPEDRIVE_BASIC_AUTH),
          },
          body,
        });
        expect(response.status).toBe(202);
        return (await response.json()) as { outcome: string; stage: string | null };
      };
      const answer = await post();
      return { ...answer, redeliver: async () => void (await post()) };
    },
  };
  return driver;
}

function salesforceDriver(): CrmDriver {
  const standIn = crms.salesforce;
  const message = fixture('salesforce', 'opportunity.xml');
  /** An outbound message carries every field it was set up with: each one filled in so far. */
  const sentFields = new Map<string, Record<string, unknown>>();
  const element = (name: string, value: unknown) => `<sf:${name}>${String(value)}</sf:${name}>`;
  const driver: CrmDriver = {
    source: 'salesforce',
    standIn,
    dealPath: (id) => `/services/data/v62.0/sobjects/Opportunity/${id}`,
    // Salesforce's REST API answers its limit with 403 REQUEST_LIMIT_EXCEEDED, and names no wait.
    overLimit: { status: 403 },
    async newDeal() {
      const id = uniqueId('006');
      standIn.addDeal(id, 'Identify');
      await driver.deliver(id, crmValue('salesforce', 'identify'), {});
      return id;
    },
    async deliver(id, value, fields, origin) {
      const all = { ...sentFields.get(id), ...fields };
      sentFields.set(id, all);
      const extra = [
        ...Object.entries(all).map(([name, field]) => element(name, field)),
        element('LastModifiedById', origin ?? '005REP000000001'),
      ].join('');
      const notificationId = uniqueId('04l');
      const xml = message
        .replace(/<OrganizationId>[^<]*/, `<OrganizationId>${DEVELOPMENT_SECRETS.SALESFORCE_ORG_ID}`)
        .replace(/<Id>[^<]*/, `<Id>${notificationId}`)
        .replace(/<sf:Id>[^<]*/, `<sf:Id>${id}`)
        .replace(/<sf:StageName>[^<]*/, `<sf:StageName>${value.value}`)
        .replace(/<sf:LastModifiedDate>[^<]*/, `<sf:LastModifiedDate>${new Date(tick()).toISOString()}`)
        .replace('</sObject>', `${extra}</sObject>`);
      const token = encodeURIComponent(DEVELOPMENT_SECRETS.SALESFORCE_WEBHOOK_TOKEN);
      const post = async () => {
        const response = await fetch(`${stack.urls.api}/webhooks/salesforce?token=${token}`, {
          method: 'POST',
          headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '""' },
          body: xml,
        });
        expect(response.status).toBe(200);
      };
      await post();
      // Salesforce reads only the acknowledgement; the outcome is in the deal's history.
      const after = await deal(id);
      const outcome = after.history.find((entry) => entry.eventId === notificationId)?.outcome;
      return { outcome, stage: after.stage, redeliver: post };
    },
  };
  return driver;
}

const deal = async (id: string) => (await getDeal(id, 'default', stack.urls.api)).body as DealView;
const syncs = async (id: string) =>
  (await deal(id)).history.filter((entry) => entry.type === 'crm_sync') as (DealView['history'][number] & {
    status?: number;
  })[];

/** The deal's stage in the CRM, as the Stageflow stage it maps to. */
function crmStage(driver: CrmDriver, id: string): string | undefined {
  const { source } = driver;
  if (source === 'pipedrive') {
    const state = crms.pipedrive.dealState(id);
    if (!state) return undefined;
    const closed =
      state.status === 'won' || state.status === 'lost' ? config.crm.pipedrive?.status[state.status] : undefined;
    return closed ?? mapStage(source, config.crm.pipedrive?.stages, String(state.stage_id));
  }
  const value = source === 'hubspot' ? crms.hubspot.stageOf(id) : crms.salesforce.stageOf(id);
  return value === undefined ? undefined : mapStage(source, config.crm[source]?.stages, value);
}

const stageWrites = (driver: CrmDriver, id: string): ReceivedRequest[] =>
  driver.standIn.requestsTo(driver.dealPath(id)).filter((request) => request.method === 'PATCH');

describe.each([
  ['HubSpot', hubspotDriver],
  ['Pipedrive', pipedriveDriver],
  ['Salesforce', salesforceDriver],
])('%s write-back through the local stack', (_name, makeDriver) => {
  let crm: CrmDriver;
  beforeAll(() => {
    crm = makeDriver();
  });

  /** The rep moves the deal in the CRM, then the CRM's webhook arrives. */
  const move = (id: string, stage: string, fields: Record<string, unknown> = {}) => {
    const value = crmValue(crm.source, stage);
    crm.standIn.moveDeal(id, value);
    return crm.deliver(id, value, fields);
  };

  it('sets a refused move back with a note saying why; a redelivery writes nothing again', async () => {
    const id = await crm.newDeal();
    const refused = await move(id, 'qualify');
    expect(refused.outcome).toBe('rejected');
    expect(crmStage(crm, id)).toBe('qualify');
    await waitFor(async () => ((await syncs(id)).length === 1 ? true : undefined), 'the write-back');
    expect(crmStage(crm, id)).toBe('identify');
    expect(crm.standIn.notes(id).join('\n')).toMatch(/refused the move to Qualify[\s\S]*decision maker/i);
    expect((await syncs(id))[0]).toMatchObject({ outcome: 'synced', to: 'identify' });

    const written = crm.standIn.requests.length;
    const recorded = (await deal(id)).history.length;
    await refused.redeliver();
    await sleep(1500);
    expect(crm.standIn.requests.length).toBe(written);
    expect((await deal(id)).history.length).toBe(recorded);
  });

  it("retries the CRM's API limit until the write lands, and the set-back's late echo never moves the deal", async () => {
    const id = await crm.newDeal();
    crm.standIn.failNext(2, crm.overLimit, crm.dealPath(id));
    expect((await move(id, 'qualify')).outcome).toBe('rejected');
    await waitFor(async () => ((await syncs(id)).length === 1 ? true : undefined), 'the write-back', 30_000);
    expect((await syncs(id))[0]).toMatchObject({ outcome: 'synced' });
    expect(stageWrites(crm, id).map((request) => request.status)).toEqual([
      crm.overLimit.status,
      crm.overLimit.status,
      crm.source === 'salesforce' ? 204 : 200,
    ]);
    expect(crmStage(crm, id)).toBe('identify');

    // The rep fills in the exit fields and moves again, which applies; then the set-back's echo arrives, late.
    expect((await move(id, 'qualify', EXIT_FIELDS.identify)).outcome).toBe('applied');
    const origin = INTEGRATION_ORIGIN[crm.source];
    const echo = await crm.deliver(id, crmValue(crm.source, 'identify'), {}, origin);
    expect(echo.stage).toBe('qualify');
    const history = (await deal(id)).history as (DealView['history'][number] & { origin?: string })[];
    expect(history.filter((entry) => entry.type === 'echo').at(-1)).toMatchObject({ to: 'identify', origin });
    expect(history.filter((entry) => entry.type === 'move' && entry.to === 'identify')).toEqual([]);
    expect((await deal(id)).stage).toBe('qualify');
  });

  /** Waits until the deal's history holds `count` write-backs. */
  const syncedTimes = (id: string, count: number, what: string) =>
    waitFor(async () => ((await syncs(id)).length >= count ? true : undefined), what, 30_000);

  it("applies a rep's move back to a stage Stageflow wrote within the hour: a person's move is no echo", async () => {
    const id = await crm.newDeal();
    expect((await move(id, 'qualify')).outcome).toBe('rejected');
    await syncedTimes(id, 1, 'the set-back to Identify');
    expect((await move(id, 'qualify', EXIT_FIELDS.identify)).outcome).toBe('applied');

    // The rep moves the deal back to Identify in the CRM's UI: the very stage Stageflow wrote minutes ago.
    const value = crmValue(crm.source, 'identify');
    crm.standIn.moveDeal(id, value);
    const back = await crm.deliver(id, value, {}, PERSON_ORIGIN[crm.source]);
    expect(back).toMatchObject({ outcome: 'applied', stage: 'identify' });
    const history = (await deal(id)).history;
    expect(history.filter((entry) => entry.type === 'echo')).toEqual([]);
    expect(history.at(-1)).toMatchObject({ type: 'move', from: 'qualify', to: 'identify', outcome: 'applied' });
  });

  it("sets the CRM to the deal's stage once when an echo names another stage (a set-back that landed late)", async () => {
    const id = await crm.newDeal();
    expect((await move(id, 'qualify')).outcome).toBe('rejected');
    await syncedTimes(id, 1, 'the set-back to Identify');
    expect((await move(id, 'qualify', EXIT_FIELDS.identify)).outcome).toBe('applied');

    // The set-back lands after the rep's new move: the CRM shows Identify, and its echo comes back.
    const identify = crmValue(crm.source, 'identify');
    crm.standIn.moveDeal(id, identify);
    const echo = await crm.deliver(id, identify, {}, INTEGRATION_ORIGIN[crm.source]);
    expect(echo.stage).toBe('qualify');
    await syncedTimes(id, 2, 'the reconciling write-back');
    expect((await syncs(id)).at(-1)).toMatchObject({ outcome: 'synced', to: 'qualify' });
    expect(crmStage(crm, id)).toBe('qualify');

    // Its own echo names the deal's stage, and the disagreeing echo redelivered is a duplicate: no write again.
    const writes = stageWrites(crm, id).length;
    await crm.deliver(id, crmValue(crm.source, 'qualify'), {}, INTEGRATION_ORIGIN[crm.source]);
    await echo.redeliver();
    await sleep(1500);
    expect(stageWrites(crm, id)).toHaveLength(writes);
    expect((await deal(id)).stage).toBe('qualify');
  });

  it('never moves a deal back for a change stamped before the approval that applied its move', async () => {
    // The CRM's clock for this deal: the rep's moves minutes ago, the set-back and the approval now.
    clock = Date.now() - 10 * 60_000;
    const id = await crm.newDeal();
    for (const [n, stage] of ['qualify', 'propose'].entries()) {
      expect((await move(id, stage, EXIT_FIELDS[OPEN_STAGES[n] ?? ''])).outcome).toBe('applied');
    }
    const held = await move(id, 'negotiate', { ...EXIT_FIELDS.propose, discountPercent: 30 });
    expect(held.outcome).toBe('pending_approval');
    await syncedTimes(id, 1, 'the set-back to Propose');
    // The set-back's echo, stamped when it landed, after the rep's move; it is delivered late (below).
    const setBackAt = Date.now();

    const request = await waitForEmail(stack.urls.ses, 'sales-manager@example.com', [id]);
    expect((await decide(reviewLink(request), 'approve')).status).toBe(200);
    await syncedTimes(id, 2, 'the move to Negotiate written back');
    expect((await deal(id)).stage).toBe('negotiate');
    // The rep's next changes happen after the approval.
    clock = Date.now();
    // Four refused moves later, the set-back to Propose is no longer among the writes a deal remembers.
    for (let refused = 3; refused <= 6; refused += 1) {
      expect((await move(id, 'deliver')).outcome).toBe('rejected');
      await syncedTimes(id, refused, 'the set-back to Negotiate');
    }

    const now = clock;
    clock = setBackAt - 1000;
    const late = await crm.deliver(id, crmValue(crm.source, 'propose'), {}, INTEGRATION_ORIGIN[crm.source]);
    clock = now;
    expect(late.stage).toBe('negotiate');
    expect((await deal(id)).stage).toBe('negotiate');
  });

  /** A deal walked to Deliver, then marked won in the CRM: the win is held for Finance and Legal and set back. */
  async function heldWin(): Promise<string> {
    const id = await crm.newDeal();
    for (const [n, stage] of OPEN_STAGES.slice(1).entries()) {
      expect((await move(id, stage, EXIT_FIELDS[OPEN_STAGES[n] ?? ''])).outcome).toBe('applied');
    }
    const win = await move(id, 'closed_won', EXIT_FIELDS.deliver);
    expect(win.outcome).toBe('pending_approval');
    await waitFor(async () => ((await syncs(id)).length === 1 ? true : undefined), 'the win held back in the CRM');
    expect(crmStage(crm, id)).toBe('deliver');
    expect(crm.standIn.notes(id).join('\n')).toMatch(/Approvals asked:[\s\S]*finance@example\.com/);
    return id;
  }

  it("notes a rejected approval with the approver's comment, and leaves the CRM deal where Stageflow has it", async () => {
    const id = await heldWin();
    const request = await waitForEmail(stack.urls.ses, 'finance@example.com', [id]);
    expect((await decide(reviewLink(request), 'reject', 'Payment terms exceed 60 days')).status).toBe(200);
    await waitFor(
      async () =>
        crm.standIn.notes(id).some((note) => /finance approval .* was rejected/.test(note)) ? true : undefined,
      'the note of the rejection',
    );
    expect(crm.standIn.notes(id).at(-1)).toMatch(/Comment: Payment terms exceed 60 days/);
    expect(crmStage(crm, id)).toBe('deliver');
  });

  it('holds a win back until Finance and Legal approve, then moves the CRM deal to Closed Won once', async () => {
    const id = await heldWin();

    const { ses } = stack.urls;
    for (const approver of ['finance@example.com', 'legal@example.com']) {
      const request = await waitForEmail(ses, approver, [id]);
      expect((await decide(reviewLink(request), 'approve')).status).toBe(200);
    }
    await waitFor(
      async () => (crm.standIn.notes(id).some((note) => /every approval was granted/.test(note)) ? true : undefined),
      'the note naming the approvers',
    );
    expect(crmStage(crm, id)).toBe('closed_won');
    const closedWon = JSON.stringify(crmValue(crm.source, 'closed_won').value);
    const won = stageWrites(crm, id).filter((request) => JSON.stringify(request.body).includes(closedWon));
    expect(won).toHaveLength(1);
  });
});

it('records a HubSpot note refused for a missing scope as failed with 403, and the terminal names the scope', async () => {
  const hubspot = hubspotDriver();
  const id = await hubspot.newDeal();
  crms.hubspot.grantScopes(['crm.objects.deals.read', 'crm.objects.deals.write', 'crm.objects.contacts.read']);
  try {
    const value = crmValue('hubspot', 'qualify');
    crms.hubspot.moveDeal(id, value);
    expect((await hubspot.deliver(id, value, {})).outcome).toBe('rejected');
    await waitFor(async () => ((await syncs(id)).length === 1 ? true : undefined), 'the write-back');
  } finally {
    crms.hubspot.grantScopes(HUBSPOT_WRITE_BACK_SCOPES);
  }
  expect((await syncs(id))[0]).toMatchObject({ outcome: 'failed', status: 403 });
  expect(crms.hubspot.requestsTo('/crm/v3/objects/notes').filter((request) => request.status === 403)).toHaveLength(1);
  // One log entry (the terminal prints each as JSON): its message names the scope and where to add it.
  const entry = new RegExp(
    `"message": "CRM refused the write-back: [^"]*crm\\.objects\\.contacts\\.write[^"]*Private Apps[^"]*"[^}]*"dealId": "${id}"`,
  );
  await waitFor(async () => (entry.test(stack.output()) ? true : undefined), 'the log entry naming the scope');
});

it('makes no CRM call for a generic deal', async () => {
  const before = crms.hubspot.requests.length + crms.pipedrive.requests.length + crms.salesforce.requests.length;
  const dealId = uniqueId('G');
  await postGeneric({ eventId: uniqueId('E'), dealId, stage: 'identify' }, { api: stack.urls.api });
  await postGeneric({ eventId: uniqueId('E'), dealId, stage: 'qualify' }, { api: stack.urls.api });
  await sleep(1500);
  expect(crms.hubspot.requests.length + crms.pipedrive.requests.length + crms.salesforce.requests.length).toBe(before);
});
