import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HubSpotClient } from '../../../functions/adapters/crm/hubspot.ts';
import type { CrmNote } from '../../../functions/adapters/crm/types.ts';
import { HUBSPOT_RENEWALS_PIPELINE, HubSpotStandIn } from '../../support/crm/hubspot.ts';
import { fastRetries, gaps } from './fast-retries.ts';

/** A note about decision 7 of the default pipeline. */
const note = (text: string): CrmNote => ({ text, ref: 'default#7' });

const DEALSTAGES = ['appointmentscheduled', 'qualifiedtobuy', 'presentationscheduled', 'closedwon', 'closedlost'];

let hubspot: HubSpotStandIn;
beforeEach(async () => {
  hubspot = await new HubSpotStandIn({ dealstages: DEALSTAGES }).start();
  hubspot.addDeal('1001', 'qualifiedtobuy');
});
afterEach(() => hubspot.close());

const client = (options = fastRetries(), accessToken = hubspot.accessToken) =>
  new HubSpotClient({ accessToken, baseUrl: hubspot.url }, options);

describe('HubSpot client', () => {
  it('sets the deal stage with PATCH /crm/v3/objects/deals/{id} and the bearer token', async () => {
    const result = await client().setStage('1001', { field: 'dealstage', value: 'appointmentscheduled' });

    expect(result).toEqual({ ok: true, status: 200, attempts: 1 });
    expect(hubspot.stageOf('1001')).toBe('appointmentscheduled');
    expect(hubspot.requests).toEqual([
      expect.objectContaining({
        method: 'PATCH',
        path: '/crm/v3/objects/deals/1001',
        body: { properties: { dealstage: 'appointmentscheduled' } },
        authenticated: true,
        headers: expect.objectContaining({
          authorization: 'Bearer [secret]',
          'content-type': 'application/json',
        }),
      }),
    ]);
  });

  it('adds a note associated to the deal (HUBSPOT_DEFINED 214), as escaped HTML with a timestamp', async () => {
    const result = await client().addNote('1001', note('Stageflow set the stage back.\nMissing: <Decision maker>'));

    expect(result).toEqual({ ok: true, status: 201, attempts: 1 });
    const [request] = hubspot.requests;
    expect(request).toMatchObject({ method: 'POST', path: '/crm/v3/objects/notes', authenticated: true });
    expect(request?.body).toEqual({
      properties: {
        hs_note_body:
          'Stageflow set the stage back.<br>Missing: &lt;Decision maker&gt;<br>(Stageflow decision default#7)',
        hs_timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      },
      associations: [
        { to: { id: '1001' }, types: [{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 214 }] },
      ],
    });
    expect(hubspot.notes('1001')).toEqual([
      'Stageflow set the stage back.<br>Missing: &lt;Decision maker&gt;<br>(Stageflow decision default#7)',
    ]);
  });

  it('retries a 429 until the write lands, waiting the Retry-After seconds', async () => {
    hubspot.failNext(2, { status: 429, retryAfter: '1' });
    const options = fastRetries();

    const result = await client(options).setStage('1001', { field: 'dealstage', value: 'closedwon' });

    expect(result).toEqual({ ok: true, status: 200, attempts: 3 });
    expect(hubspot.stageOf('1001')).toBe('closedwon');
    expect(hubspot.requests.map((r) => r.status)).toEqual([429, 429, 200]);
    for (const gap of gaps(hubspot.requests.map((r) => r.receivedAt))) expect(gap).toBeGreaterThanOrEqual(950);
    expect(options.notices).toEqual([
      expect.objectContaining({ source: 'hubspot', status: 429, attempt: 1, delayMs: 1000 }),
      expect.objectContaining({ source: 'hubspot', status: 429, attempt: 2, delayMs: 1000 }),
    ]);
    expect(options.notices[0]?.message).toBe('RATE_LIMITS: You have reached your ten_secondly_rolling limit.');
  });

  it('accepts Retry-After as an HTTP date', async () => {
    hubspot.failNext(1, { status: 503, retryAfter: new Date(Date.now() + 2_000).toUTCString() });
    const options = fastRetries();

    const result = await client(options).setStage('1001', { field: 'dealstage', value: 'closedwon' });

    expect(result).toMatchObject({ ok: true, attempts: 2 });
    expect(options.notices[0]?.delayMs).toBeGreaterThan(500);
  });

  it('retries 5xx with exponential backoff when the CRM names no wait', async () => {
    hubspot.failNext(3, { status: 500 });
    const options = fastRetries();

    const result = await client(options).addNote('1001', note('approved by Finance'));

    expect(result).toEqual({ ok: true, status: 201, attempts: 4 });
    const delays = options.notices.map((n) => n.delayMs);
    expect(delays).toHaveLength(3);
    // 20 ms doubling with jitter (×1–2), capped at 100 ms.
    expect(delays[0]).toBeGreaterThanOrEqual(20);
    expect(delays[0]).toBeLessThanOrEqual(40);
    expect(delays[2]).toBeGreaterThanOrEqual(80);
    expect(delays[2]).toBeLessThanOrEqual(100);
  });

  it('does not retry a 400 and reports the CRM message', async () => {
    const result = await client().setStage('1001', { field: 'dealstage', value: 'nosuchstage' });

    expect(result).toEqual({
      ok: false,
      status: 400,
      attempts: 1,
      message: expect.stringMatching(/^VALIDATION_ERROR: Property values were not valid/),
    });
    expect(hubspot.requests).toHaveLength(1);
    expect(hubspot.stageOf('1001')).toBe('qualifiedtobuy');
  });

  it('reports a 401 at once, without the token', async () => {
    const wrongToken = 'pat-na1-wrong-token';
    const result = await client(fastRetries(), wrongToken).setStage('1001', { field: 'dealstage', value: 'closedwon' });

    expect(result).toEqual({
      ok: false,
      status: 401,
      attempts: 1,
      message: expect.stringContaining('INVALID_AUTHENTICATION'),
    });
    expect(result.message).not.toContain(wrongToken);
    expect(hubspot.requests).toMatchObject([{ authenticated: false, headers: { authorization: 'Bearer [secret]' } }]);
  });

  it('gives up at once when the CRM asks to wait past the retry budget', async () => {
    hubspot.failNext(1, { status: 429, retryAfter: '3600' });

    const result = await client().setStage('1001', { field: 'dealstage', value: 'closedwon' });

    expect(result).toMatchObject({ ok: false, status: 429, attempts: 1 });
    expect(hubspot.requests).toHaveLength(1);
  });

  it('stops retrying when the budget is spent and reports the last status', async () => {
    hubspot.failNext(1_000, { status: 502 });

    const result = await client(fastRetries({ retry: { budgetMs: 300 } })).setStage('1001', {
      field: 'dealstage',
      value: 'closedwon',
    });

    expect(result).toMatchObject({ ok: false, status: 502, message: 'INTERNAL_ERROR: internal error' });
    expect(result.attempts).toBeGreaterThan(1);
    expect(result.attempts).toBe(hubspot.requests.length);
  });

  it('retries a network error until the CRM answers', async () => {
    const port = await reservedPort();
    const late = new HubSpotStandIn({ port });
    late.addDeal('1001', 'qualifiedtobuy');
    const options = fastRetries();
    const pending = new HubSpotClient(
      { accessToken: late.accessToken, baseUrl: `http://127.0.0.1:${port}` },
      options,
    ).setStage('1001', { field: 'dealstage', value: 'closedwon' });
    await waitUntil(() => options.notices.length >= 1);
    await late.start();
    try {
      const result = await pending;
      expect(result).toMatchObject({ ok: true, status: 200 });
      expect(result.attempts).toBeGreaterThan(1);
      expect(options.notices[0]).toMatchObject({ status: 0, message: 'hubspot unreachable: ECONNREFUSED' });
      expect(late.stageOf('1001')).toBe('closedwon');
    } finally {
      await late.close();
    }
  });

  it('reports a network error that outlasts the budget with status 0', async () => {
    const port = await reservedPort();
    const result = await new HubSpotClient(
      { accessToken: 'token', baseUrl: `http://127.0.0.1:${port}` },
      fastRetries({ retry: { budgetMs: 200 } }),
    ).setStage('1001', { field: 'dealstage', value: 'closedwon' });

    expect(result).toMatchObject({ ok: false, status: 0, message: 'hubspot unreachable: ECONNREFUSED' });
  });

  it('caps the requests in flight', async () => {
    hubspot.setLatency(150);
    const capped = client(fastRetries({ cap: { concurrency: 2 } }));

    const results = await Promise.all(
      Array.from({ length: 8 }, () => capped.setStage('1001', { field: 'dealstage', value: 'closedwon' })),
    );

    expect(results.every((r) => r.ok)).toBe(true);
    expect(hubspot.maxInFlight).toBe(2);
  });

  it('caps the requests started per window', async () => {
    // Start times are taken where the client calls fetch: arrival at the server adds the machine's own delays.
    const starts: number[] = [];
    const realFetch = globalThis.fetch;
    vi.stubGlobal('fetch', (...args: Parameters<typeof fetch>) => {
      starts.push(performance.now());
      return realFetch(...args);
    });
    try {
      const capped = client(fastRetries({ cap: { concurrency: 10, intervalCap: 3, intervalMs: 400 } }));
      const results = await Promise.all(
        Array.from({ length: 6 }, () => capped.setStage('1001', { field: 'dealstage', value: 'closedwon' })),
      );
      expect(results.every((r) => r.ok)).toBe(true);
    } finally {
      vi.unstubAllGlobals();
    }

    expect(starts).toHaveLength(6);
    for (let i = 3; i < starts.length; i += 1) {
      expect((starts[i] as number) - (starts[i - 3] as number)).toBeGreaterThanOrEqual(395);
    }
  });

  it('does not retry a 403 MISSING_SCOPES, and names the missing scope and where to add it', async () => {
    hubspot.grantScopes(['crm.objects.deals.read', 'crm.objects.deals.write', 'crm.objects.contacts.read']);

    const result = await client().addNote('1001', note('Stageflow set the stage back.'));

    expect(result).toMatchObject({ ok: false, status: 403, attempts: 1 });
    expect(result.message).toMatch(/crm\.objects\.contacts\.write.*Private Apps/);
    expect(hubspot.requestsTo('/crm/v3/objects/notes').map((request) => request.status)).toEqual([403]);
    expect(hubspot.notes('1001')).toEqual([]);
  });

  it("in doubt, reads every page of the deal's note associations (500 a page) to find the note", async () => {
    hubspot.seedNotes('1001', 1_200);
    await client().addNote('1001', note('Stageflow set the stage back.'));

    const result = await client().addNote('1001', { ...note('Stageflow set the stage back.'), inDoubt: true });

    expect(result).toMatchObject({ ok: true, status: 200 });
    expect(hubspot.notes('1001')).toHaveLength(1_201);
    const pages = hubspot.requestsTo('/crm/v4/objects/deals/1001/associations/notes');
    expect(pages.map((request) => request.status)).toEqual([200, 200, 200]);
  });

  it("refuses a dealstage of another pipeline than the deal's, as HubSpot does", async () => {
    const result = await client().setStage('1001', {
      field: 'dealstage',
      value: HUBSPOT_RENEWALS_PIPELINE.stages[0] as string,
    });

    expect(result).toMatchObject({ ok: false, status: 400, message: expect.stringContaining('VALIDATION_ERROR') });
    expect(hubspot.stageOf('1001')).toBe('qualifiedtobuy');
  });

  it('refuses a stage value of another CRM without a request', async () => {
    const result = await client().setStage('1001', { field: 'stage_id', value: 3 });

    expect(result).toEqual({
      ok: false,
      status: 0,
      attempts: 0,
      message: 'HubSpot stages are written as dealstage, not stage_id',
    });
    expect(hubspot.requests).toHaveLength(0);
  });
});

/** A port nothing listens on (it was free a moment ago). */
async function reservedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitUntil(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}
