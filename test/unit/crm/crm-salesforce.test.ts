import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SalesforceClient } from '../../../functions/adapters/crm/salesforce.ts';
import type { CrmNote } from '../../../functions/adapters/crm/types.ts';
import { SalesforceStandIn } from '../../support/crm/salesforce.ts';
import { fastRetries } from './fast-retries.ts';

/** A note about decision 7 of the default pipeline. */
const note = (text: string): CrmNote => ({ text, ref: 'default#7' });

const OPPORTUNITY = '006000000000001AAA';
const OPPORTUNITY_PATH = `/services/data/v62.0/sobjects/Opportunity/${OPPORTUNITY}`;

let salesforce: SalesforceStandIn;
beforeEach(async () => {
  salesforce = await new SalesforceStandIn({ stageNames: ['Qualify', 'Propose', 'Closed Won'] }).start();
  salesforce.addDeal(OPPORTUNITY, 'Propose');
});
afterEach(() => salesforce.close());

const client = (options = fastRetries(), clientSecret = salesforce.clientSecret) =>
  new SalesforceClient({ clientId: salesforce.clientId, clientSecret, loginUrl: salesforce.url }, options);

describe('Salesforce client', () => {
  it('gets a token by client credentials, then PATCHes the StageName (204)', async () => {
    const result = await client().setStage(OPPORTUNITY, { field: 'StageName', value: 'Qualify' });

    expect(result).toEqual({ ok: true, status: 204, attempts: 1 });
    expect(salesforce.stageOf(OPPORTUNITY)).toBe('Qualify');
    expect(salesforce.requests).toEqual([
      expect.objectContaining({
        method: 'POST',
        path: '/services/oauth2/token',
        body: { grant_type: 'client_credentials', client_id: salesforce.clientId, client_secret: '[secret]' },
        headers: expect.objectContaining({ 'content-type': 'application/x-www-form-urlencoded' }),
        status: 200,
      }),
      expect.objectContaining({
        method: 'PATCH',
        path: OPPORTUNITY_PATH,
        body: { StageName: 'Qualify' },
        authenticated: true,
        headers: expect.objectContaining({ authorization: 'Bearer [secret]' }),
        status: 204,
      }),
    ]);
  });

  it('adds a completed Task on the Opportunity as the note', async () => {
    const text = 'Stageflow held the move to Closed Won\nWaiting for: Finance (finance@example.com)';

    const result = await client().addNote(OPPORTUNITY, note(text));

    expect(result).toEqual({ ok: true, status: 201, attempts: 1 });
    expect(salesforce.tasks(OPPORTUNITY)).toEqual([
      {
        Id: expect.stringMatching(/^00T/),
        WhatId: OPPORTUNITY,
        Subject: 'Stageflow held the move to Closed Won [default#7]',
        Description: `${text}\n(Stageflow decision default#7)`,
        Status: 'Completed',
      },
    ]);
    expect(salesforce.requestsTo('/services/data')[0]?.path).toBe('/services/data/v62.0/sobjects/Task');
  });

  it('keeps the token for later calls, and concurrent calls share one token request', async () => {
    const shared = client();

    await Promise.all([
      shared.setStage(OPPORTUNITY, { field: 'StageName', value: 'Qualify' }),
      shared.addNote(OPPORTUNITY, note('one')),
      shared.addNote(OPPORTUNITY, note('two')),
    ]);
    await shared.addNote(OPPORTUNITY, note('three'));

    expect(salesforce.tokensIssued).toBe(1);
    expect(salesforce.requestsTo('/services/data').every((r) => r.authenticated)).toBe(true);
  });

  it('fetches a new token once when the session expired (401 INVALID_SESSION_ID), within the same attempt', async () => {
    const shared = client();
    await shared.addNote(OPPORTUNITY, note('first'));
    salesforce.expireSessions();

    const result = await shared.setStage(OPPORTUNITY, { field: 'StageName', value: 'Closed Won' });

    expect(result).toEqual({ ok: true, status: 204, attempts: 1 });
    expect(salesforce.requests.slice(2).map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
      `PATCH ${OPPORTUNITY_PATH} 401`,
      'POST /services/oauth2/token 200',
      `PATCH ${OPPORTUNITY_PATH} 204`,
    ]);
    expect(salesforce.tokensIssued).toBe(2);
  });

  it('reports a 401 that a fresh token does not cure, without retrying further', async () => {
    salesforce.failNext(2, { status: 401 }, '/services/data');

    const result = await client().setStage(OPPORTUNITY, { field: 'StageName', value: 'Qualify' });

    expect(result).toEqual({
      ok: false,
      status: 401,
      attempts: 1,
      message: 'INVALID_SESSION_ID: Session expired or invalid',
    });
    expect(salesforce.tokensIssued).toBe(2);
    expect(salesforce.requestsTo('/services/data')).toHaveLength(2);
  });

  it('reports refused client credentials as a 401, without the secret, and does not retry them', async () => {
    const wrongSecret = 'not-the-consumer-secret';

    const result = await client(fastRetries(), wrongSecret).setStage(OPPORTUNITY, {
      field: 'StageName',
      value: 'Qualify',
    });

    expect(result).toEqual({
      ok: false,
      status: 401,
      attempts: 1,
      message: 'OAuth token refused (HTTP 400): invalid_client: invalid client credentials',
    });
    expect(JSON.stringify(salesforce.requests)).not.toContain(wrongSecret);
    expect(salesforce.requests).toHaveLength(1);
  });

  it('retries a 503 from the API and a 500 from the token endpoint', async () => {
    salesforce.failNext(1, { status: 500 }, '/services/oauth2/token');
    salesforce.failNext(1, { status: 503 }, '/services/data');

    const result = await client().setStage(OPPORTUNITY, { field: 'StageName', value: 'Closed Won' });

    expect(result).toEqual({ ok: true, status: 204, attempts: 3 });
    expect(salesforce.stageOf(OPPORTUNITY)).toBe('Closed Won');
  });

  it('does not retry a 400 and reports Salesforce errors as errorCode: message', async () => {
    const result = await client().setStage(OPPORTUNITY, { field: 'StageName', value: 'Won-ish' });

    expect(result).toEqual({
      ok: false,
      status: 400,
      attempts: 1,
      message: 'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: Stage: bad value for restricted picklist field: Won-ish',
    });
    expect(salesforce.requestsTo('/services/data')).toHaveLength(1);
  });

  it('retries the API limit (403 REQUEST_LIMIT_EXCEEDED) with backoff until the write lands', async () => {
    salesforce.failNext(2, { status: 403 }, '/services/data');
    const options = fastRetries();

    const result = await client(options).setStage(OPPORTUNITY, { field: 'StageName', value: 'Qualify' });

    expect(result).toEqual({ ok: true, status: 204, attempts: 3 });
    expect(salesforce.requestsTo('/services/data').map((request) => request.status)).toEqual([403, 403, 204]);
    expect(options.notices).toEqual([
      expect.objectContaining({ source: 'salesforce', status: 403, attempt: 1 }),
      expect.objectContaining({ source: 'salesforce', status: 403, attempt: 2 }),
    ]);
    expect(salesforce.stageOf(OPPORTUNITY)).toBe('Qualify');
  });

  it('reports the API limit as a 403 once the retry budget is spent', async () => {
    salesforce.failNext(1_000, { status: 403 }, '/services/data');

    const result = await client(fastRetries({ retry: { budgetMs: 300 } })).addNote(OPPORTUNITY, note('note'));

    expect(result).toMatchObject({
      ok: false,
      status: 403,
      message: expect.stringContaining('REQUEST_LIMIT_EXCEEDED'),
    });
    expect(result.attempts).toBeGreaterThan(1);
  });

  it('reports a connected app without the api scope as a 401, after one fresh token', async () => {
    const limited = await new SalesforceStandIn({ scopes: ['refresh_token'] }).start();
    try {
      limited.addDeal(OPPORTUNITY, 'Propose');
      const { clientId, clientSecret, url } = limited;
      const app = new SalesforceClient({ clientId, clientSecret, loginUrl: url }, fastRetries());

      const result = await app.setStage(OPPORTUNITY, { field: 'StageName', value: 'Qualify' });

      expect(result).toMatchObject({ ok: false, status: 401, attempts: 1 });
      expect(result.message).toContain('not valid for use with the REST API');
      expect(limited.stageOf(OPPORTUNITY)).toBe('Propose');
    } finally {
      await limited.close();
    }
  });

  it('caps the requests in flight', async () => {
    salesforce.setLatency(150);
    const capped = client(fastRetries({ cap: { concurrency: 2 } }));

    await Promise.all(Array.from({ length: 6 }, (_, i) => capped.addNote(OPPORTUNITY, note(`note ${i}`))));

    expect(salesforce.maxInFlight).toBe(2);
    expect(salesforce.tasks(OPPORTUNITY)).toHaveLength(6);
  });
});
