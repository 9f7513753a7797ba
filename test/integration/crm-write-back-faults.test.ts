import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crmClients } from '../../functions/adapters/crm/index.ts';
import type { CrmSource } from '../../functions/adapters/crm/types.ts';
import { DealRepository } from '../../functions/adapters/deal-repository.ts';
import { crmStageValue, mapStage } from '../../functions/sources/crm-maps.ts';
import { sweepWriteBacks } from '../../functions/usecases/write-back/runs.ts';
import { DEVELOPMENT_SECRETS, TABLE_NAME } from '../../infra/local/stack.ts';
import { basicAuth, defaultPipelineConfig, fixture } from '../fixtures/signing.ts';
import { type DealView, getDeal, postGeneric, postHubspot, uniqueId, uniqueNumber, waitFor } from '../support/api.ts';
import { startCrmStandIns } from '../support/crm/index.ts';
import { waitForEmail } from '../support/mail.ts';
import { type StackProcess, startStackProcess } from '../support/stack-process.ts';
import { silentTelemetry } from '../support/telemetry.ts';

/**
 * A CRM that fails, hangs, asks for a long wait or redirects delays that CRM's write-backs only, writes each
 * decision at most once, and never hands its credentials to another origin. Through the local stack, with the CRM
 * stand-ins scripted to misbehave.
 */

const config = defaultPipelineConfig();
let crms: Awaited<ReturnType<typeof startCrmStandIns>>;
let stack: StackProcess;
let table: DealRepository;
let clock = Date.now() - 20 * 60_000;
const tick = () => {
  clock += 1000;
  return clock;
};

beforeAll(async () => {
  crms = await startCrmStandIns();
  stack = await startStackProcess({ ...crms.env, APPROVAL_REMINDER_SECONDS: '', APPROVAL_EXPIRY_SECONDS: '' }, [
    '--in-memory',
  ]);
  const local = { region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
  table = new DealRepository(
    DynamoDBDocumentClient.from(new DynamoDBClient({ ...local, endpoint: stack.urls.dynamoDb })),
    TABLE_NAME,
  );
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await crms?.close();
});

const crmValue = (source: CrmSource, stage: string) => {
  const value = crmStageValue(config, source, stage);
  if (!value) throw new Error(`the default pipeline maps no ${source} value to ${stage}`);
  return value;
};
const deal = async (id: string) => (await getDeal(id, 'default', stack.urls.api)).body as DealView;
const syncs = async (id: string) =>
  (await deal(id)).history.filter((entry) => entry.type === 'crm_sync') as (DealView['history'][number] & {
    status?: number;
  })[];
const hubspotPath = (id: string) => `/crm/v3/objects/deals/${id}`;

/** A HubSpot deal in Identify, as its webhook told Stageflow. */
async function hubspotDeal(): Promise<string> {
  const id = String(uniqueNumber());
  crms.hubspot.addDeal(id, 'appointmentscheduled');
  await hubspotStage(id, 'identify');
  return id;
}

/** The rep moves the HubSpot deal to `stage`, and HubSpot's webhook arrives: the outcome. */
async function hubspotStage(id: string, stage: string): Promise<string | undefined> {
  const value = crmValue('hubspot', stage);
  crms.hubspot.moveDeal(id, value);
  const template = (JSON.parse(fixture('hubspot', 'deal-batch.json')) as Record<string, unknown>[]).find(
    (event) => event.subscriptionType === 'deal.propertyChange',
  );
  const event = {
    ...template,
    eventId: uniqueNumber(),
    objectId: Number(id),
    occurredAt: tick(),
    propertyName: 'dealstage',
    propertyValue: String(value.value),
  };
  const answer = await postHubspot([event], stack.urls.api);
  expect(answer.status).toBe(202);
  return (answer.body.results as { outcome: string }[]).at(-1)?.outcome;
}

/** The rep moves the Pipedrive deal to `stage` (creating it first when `create`), and Pipedrive's webhook arrives. */
async function pipedriveStage(id: string, stage: string, create = false): Promise<string> {
  const value = crmValue('pipedrive', stage);
  if (create) crms.pipedrive.addDeal(Number(id), 1);
  crms.pipedrive.moveDeal(id, value);
  const base = JSON.parse(fixture('pipedrive', 'deal-change-stage.json')) as Record<string, Record<string, unknown>>;
  const body = JSON.stringify({
    meta: {
      ...base.meta,
      action: create ? 'create' : 'change',
      change_source: 'app',
      user_id: '13540546',
      id: uniqueId('pd'),
      entity_id: id,
      timestamp: new Date(tick()).toISOString(),
    },
    data: { ...base.data, id: Number(id), ...crms.pipedrive.dealState(id), custom_fields: {} },
    previous: create ? null : {},
  });
  const response = await fetch(`${stack.urls.api}/webhooks/pipedrive`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: basicAuth(DEVELOPMENT_SECRETS.PIPEDRIVE_BASIC_AUTH) },
    body,
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { outcome: string }).outcome;
}

/** A generic deal whose owner is emailed on entering Identify: the record path at work. */
async function dealWithOwnerEmail(): Promise<{ dealId: string; owner: string }> {
  const dealId = uniqueId('G');
  const owner = `${dealId.toLowerCase()}@example.com`;
  const event = { eventId: uniqueId('E'), dealId, stage: 'identify', owner: { email: owner } };
  expect((await postGeneric(event, { api: stack.urls.api })).status).toBe(202);
  return { dealId, owner };
}

describe('a CRM that fails, hangs or asks to wait', () => {
  it("answering 500 for one deal holds back that deal's write-back only: 30 other deals get their emails", async () => {
    const id = await hubspotDeal();
    crms.hubspot.failNext(10_000, { status: 500 }, hubspotPath(id));
    expect(await hubspotStage(id, 'qualify')).toBe('rejected');
    await waitFor(
      async () => (crms.hubspot.requestsTo(hubspotPath(id)).some((r) => r.status === 500) ? true : undefined),
      'the first failing write-back',
    );

    const others = [];
    for (let n = 0; n < 30; n++) others.push(await dealWithOwnerEmail());
    for (const { dealId, owner } of others) await waitForEmail(stack.urls.ses, owner, [dealId]);
    expect(await syncs(id)).toEqual([]);
    expect(mapStage('hubspot', config.crm.hubspot?.stages, crms.hubspot.stageOf(id) ?? '')).toBe('qualify');

    crms.hubspot.clearFailures();
    await waitFor(async () => ((await syncs(id)).length > 0 ? true : undefined), 'the write-back', 120_000);
    expect(await syncs(id)).toMatchObject([{ outcome: 'synced', to: 'identify' }]);
    expect(mapStage('hubspot', config.crm.hubspot?.stages, crms.hubspot.stageOf(id) ?? '')).toBe('identify');
  }, 240_000);

  it('never answering (the notes stored, the answers lost) makes one note and one crm_sync per decision', async () => {
    const id = await hubspotDeal();
    crms.hubspot.holdRequests({ stored: true, pathPrefix: '/crm/v3/objects/notes' });
    expect(await hubspotStage(id, 'qualify')).toBe('rejected');
    // Longer than any handler or request timeout: runs of the write-back give up on the CRM and try again meanwhile.
    await sleep(45_000);
    crms.hubspot.releaseHeld();
    await waitFor(async () => ((await syncs(id)).length > 0 ? true : undefined), 'the write-back', 150_000);
    // Whatever ghost run there could be has its moment to write.
    await sleep(5_000);
    expect(crms.hubspot.notes(id)).toHaveLength(1);
    expect(crms.hubspot.notes(id)[0]).toMatch(/refused the move to Qualify/);
    expect(await syncs(id)).toMatchObject([{ outcome: 'synced' }]);
  }, 300_000);

  it('a 429 asking for an hour is scheduled an hour on, the record path moves on, and the write lands then', async () => {
    const id = await hubspotDeal();
    crms.hubspot.failNext(1, { status: 429, retryAfter: '3600' }, hubspotPath(id));
    const asked = Date.now();
    expect(await hubspotStage(id, 'qualify')).toBe('rejected');
    const scheduled = await waitFor(async () => {
      const [item] = await table.writeBacks.pending('default', id);
      return item && item.tries > 0 ? item : undefined;
    }, 'the write-back scheduled');
    expect(Date.parse(scheduled.dueAt) - asked).toBeGreaterThanOrEqual(3_600_000);
    const later = await dealWithOwnerEmail();
    await waitForEmail(stack.urls.ses, later.owner, [later.dealId]);
    expect(await syncs(id)).toEqual([]);

    const anHourOn = () => new Date(Date.now() + 3_601_000);
    const report = await sweepWriteBacks(
      {
        deals: table,
        crm: async () => crmClients(crms.env),
        telemetry: silentTelemetry(),
        logger: new Logger({ logLevel: 'SILENT' }),
        clock: anHourOn,
      },
      { runMs: 30_000 },
    );
    expect(report.synced).toBeGreaterThanOrEqual(1);
    expect(await syncs(id)).toMatchObject([{ outcome: 'synced', to: 'identify' }]);
    expect(mapStage('hubspot', config.crm.hubspot?.stages, crms.hubspot.stageOf(id) ?? '')).toBe('identify');
    expect(crms.hubspot.notes(id)).toHaveLength(1);
    expect(await table.writeBacks.pending('default', id)).toEqual([]);
  }, 120_000);
});

describe('a CRM that redirects', () => {
  const received: { path: string; headers: IncomingHttpHeaders }[] = [];
  const elsewhere = createServer((req, res) => {
    received.push({ path: req.url ?? '', headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"success":true,"data":{}}');
  });
  let elsewhereUrl = '';
  beforeAll(async () => {
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
    elsewhereUrl = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => elsewhere.close(() => resolve())));

  it('to another origin is not followed, carries no token there, and is recorded failed', async () => {
    const id = String(uniqueNumber() % 1_000_000_000);
    await pipedriveStage(id, 'identify', true);
    crms.pipedrive.redirectNext(5, `${elsewhereUrl}/api/v2/deals/${id}`, `/api/v2/deals/${id}`);
    expect(await pipedriveStage(id, 'qualify')).toBe('rejected');
    await waitFor(async () => ((await syncs(id)).length > 0 ? true : undefined), 'the write-back');
    expect(await syncs(id)).toMatchObject([{ outcome: 'failed', status: 307 }]);
    expect(received).toEqual([]);
  }, 60_000);
});
