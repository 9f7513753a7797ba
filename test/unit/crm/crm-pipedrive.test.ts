import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PipedriveClient } from '../../../functions/adapters/crm/pipedrive.ts';
import type { CrmNote } from '../../../functions/adapters/crm/types.ts';
import { PIPEDRIVE_PIPELINES, PipedriveStandIn } from '../../support/crm/pipedrive.ts';
import { fastRetries, gaps } from './fast-retries.ts';

/** A note about decision 7 of the default pipeline. */
const note = (text: string): CrmNote => ({ text, ref: 'default#7' });

let pipedrive: PipedriveStandIn;
beforeEach(async () => {
  pipedrive = await new PipedriveStandIn().start();
  pipedrive.addDeal(7, 2);
});
afterEach(() => pipedrive.close());

const client = (options = fastRetries(), apiToken = pipedrive.apiToken) =>
  new PipedriveClient({ apiToken, baseUrl: `${pipedrive.url}/` }, options);

describe('Pipedrive client', () => {
  it('moves an open deal with PATCH /api/v2/deals/{id} {"stage_id"} and the x-api-token header', async () => {
    const result = await client().setStage('7', { field: 'stage_id', value: 3 });

    expect(result).toEqual({ ok: true, status: 200, attempts: 1 });
    expect(pipedrive.dealState(7)).toEqual({ stage_id: 3, status: 'open' });
    expect(pipedrive.requests).toEqual([
      expect.objectContaining({
        method: 'PATCH',
        path: '/api/v2/deals/7',
        body: { stage_id: 3 },
        authenticated: true,
        headers: expect.objectContaining({ 'x-api-token': '[secret]', 'content-type': 'application/json' }),
      }),
    ]);
  });

  it('reopens a deal the rep marked won when it is set back to an open stage', async () => {
    pipedrive.moveDeal(7, { field: 'status', value: 'won' });
    const result = await client().setStage('7', { field: 'stage_id', value: 5 }, { field: 'status', value: 'won' });

    expect(result).toMatchObject({ ok: true, status: 200 });
    expect(pipedrive.requests[0]?.body).toEqual({ stage_id: 5, status: 'open' });
    expect(pipedrive.dealState(7)).toEqual({ stage_id: 5, status: 'open' });
  });

  it('closes a deal through its status', async () => {
    const result = await client().setStage('7', { field: 'status', value: 'won' });

    expect(result).toMatchObject({ ok: true, status: 200 });
    expect(pipedrive.requests[0]?.body).toEqual({ status: 'won' });
    expect(pipedrive.stageOf(7)).toBe('won');
  });

  it('adds a note with POST /api/v1/notes {"deal_id", "content"}', async () => {
    const result = await client().addNote('7', note('Held for approval:\nFinance & Legal'));

    expect(result).toEqual({ ok: true, status: 201, attempts: 1 });
    expect(pipedrive.requests[0]).toMatchObject({
      method: 'POST',
      path: '/api/v1/notes',
      body: { deal_id: 7, content: 'Held for approval:<br>Finance &amp; Legal<br>(Stageflow decision default#7)' },
    });
    expect(pipedrive.notes('7')).toEqual([
      'Held for approval:<br>Finance &amp; Legal<br>(Stageflow decision default#7)',
    ]);
  });

  it('honours x-ratelimit-reset on a 429 that names no Retry-After', async () => {
    pipedrive.failNext(1, { status: 429, rateLimitReset: '1' });
    const options = fastRetries();

    const result = await client(options).setStage('7', { field: 'stage_id', value: 4 });

    expect(result).toEqual({ ok: true, status: 200, attempts: 2 });
    expect(options.notices).toEqual([
      expect.objectContaining({ status: 429, delayMs: 1000, message: 'Request over limit' }),
    ]);
    expect(gaps(pipedrive.requests.map((r) => r.receivedAt))[0]).toBeGreaterThanOrEqual(950);
    expect(pipedrive.dealState(7)?.stage_id).toBe(4);
  });

  it('retries a 503 and lands', async () => {
    pipedrive.failNext(2, { status: 503 });

    const result = await client().addNote('7', note('note'));

    expect(result).toEqual({ ok: true, status: 201, attempts: 3 });
    expect(pipedrive.notes('7')).toHaveLength(1);
  });

  it('does not retry a 404 and reports the CRM message', async () => {
    const result = await client().setStage('8', { field: 'stage_id', value: 3 });

    expect(result).toEqual({ ok: false, status: 404, attempts: 1, message: 'Deal not found' });
    expect(pipedrive.requests).toHaveLength(1);
  });

  it('reports a 401 at once, without the token', async () => {
    const result = await client(fastRetries(), 'wrong-api-token').setStage('7', { field: 'stage_id', value: 3 });

    expect(result).toEqual({ ok: false, status: 401, attempts: 1, message: 'unauthorized access' });
    expect(pipedrive.requests).toMatchObject([{ authenticated: false, headers: { 'x-api-token': '[secret]' } }]);
  });

  it('refuses a non-numeric deal id or another CRM stage value without a request', async () => {
    expect(await client().setStage('D-7', { field: 'stage_id', value: 3 })).toMatchObject({
      ok: false,
      attempts: 0,
      message: "Pipedrive deal ids are numeric, not 'D-7'",
    });
    expect(await client().setStage('7', { field: 'dealstage', value: 'qualifiedtobuy' })).toMatchObject({
      ok: false,
      attempts: 0,
    });
    expect(pipedrive.requests).toHaveLength(0);
  });

  it('caps the requests in flight', async () => {
    pipedrive.setLatency(150);
    const capped = client(fastRetries({ cap: { concurrency: 3 } }));

    await Promise.all(Array.from({ length: 9 }, (_, i) => capped.addNote('7', note(`note ${i}`))));

    expect(pipedrive.maxInFlight).toBe(3);
    expect(pipedrive.notes('7')).toHaveLength(9);
  });

  it('refuses a stage_id that is no stage of the account, without retrying', async () => {
    const result = await client().setStage('7', { field: 'stage_id', value: 99 });

    expect(result).toMatchObject({ ok: false, status: 400, attempts: 1, message: expect.stringContaining('stage_id') });
    expect(pipedrive.dealState(7)).toEqual({ stage_id: 2, status: 'open' });
  });

  it('takes the deal to the pipeline of the stage it is written to, as Pipedrive does', async () => {
    const [, secondPipelineStages = []] = Object.values(PIPEDRIVE_PIPELINES);
    const stage = secondPipelineStages[0] as number;

    expect(await client().setStage('7', { field: 'stage_id', value: stage })).toMatchObject({ ok: true });
    expect(pipedrive.pipelineOf(7)).toBe(2);
  });

  it('does not retry a 403 for a token without deals:full, and reports it', async () => {
    pipedrive.grantScopes(['deals:read']);

    const result = await client().setStage('7', { field: 'stage_id', value: 3 });

    expect(result).toEqual({ ok: false, status: 403, attempts: 1, message: 'Scope and URL mismatch' });
    expect(pipedrive.dealState(7)).toEqual({ stage_id: 2, status: 'open' });
  });
});
