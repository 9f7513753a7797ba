import { type IncomingMessage, request } from 'node:http';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { fixture } from '../fixtures/signing.ts';
import { getDeal, postGeneric, postHubspot, stackUrls, uniqueId, uniqueNumber } from '../support/api.ts';

/**
 * Inputs that look valid but that storage cannot hold as sent: each is stored safely or
 * refused with a 400 that names the limit, never a 500 that the sender would retry forever.
 */

async function json(response: IncomingMessage): Promise<unknown> {
  return JSON.parse((await buffer(response)).toString('utf8'));
}

/** A generic create event whose `fields` are the given raw JSON text. */
function rawCreate(dealId: string, fieldsJson: string): string {
  return `{"eventId":"${uniqueId('E')}","dealId":"${dealId}","stage":"identify","fields":${fieldsJson}}`;
}

describe('webhook inputs at the edge of what storage holds', () => {
  it('keeps numbers a double cannot hold exactly as their exact text', async () => {
    const dealId = uniqueId('D');
    const { status, body } = await postGeneric(
      rawCreate(dealId, '{"bigId":9007199254740993,"huge":1e400,"tiny":1e-200,"small":-12.5}'),
    );
    expect(status).toBe(202);
    expect(body.outcome).toBe('applied');
    expect((await getDeal(dealId)).body.fields).toEqual({
      bigId: '9007199254740993',
      huge: '1e400',
      tiny: '1e-200',
      small: -12.5,
    });
  });

  it('stores fields named like Object members (constructor, toString) and keeps them on read', async () => {
    const dealId = uniqueId('D');
    const { status } = await postGeneric(
      rawCreate(dealId, '{"constructor":"x","toString":"y","nested":{"constructor":{"name":"z"}}}'),
    );
    expect(status).toBe(202);
    expect((await getDeal(dealId)).body.fields).toEqual({
      constructor: 'x',
      toString: 'y',
      nested: { constructor: { name: 'z' } },
    });
  });

  it('refuses a __proto__ key anywhere in the body with 400 naming it', async () => {
    const dealId = uniqueId('D');
    const { status, body } = await postGeneric(rawCreate(dealId, '{"a":{"b":{"__proto__":{"polluted":true}}}}'));
    expect(status).toBe(400);
    expect(body.error).toMatchObject({
      code: 'RESERVED_KEY',
      issues: [expect.objectContaining({ path: 'fields.a.b.__proto__' })],
    });
    expect((await getDeal(dealId)).status).toBe(404);
  });

  it.each([30, 5000])('refuses fields nested %i levels with 400 naming the depth limit', async (depth) => {
    const dealId = uniqueId('D');
    const nested = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    const { status, body } = await postGeneric(rawCreate(dealId, `{"deep":${nested}}`));
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: 'TOO_DEEP' });
    expect((body.error as { message: string }).message).toMatch(/20 levels/);
  });

  it('refuses a 70,000-character field name with 400 naming the length limit', async () => {
    const dealId = uniqueId('D');
    const { status, body } = await postGeneric(rawCreate(dealId, `{"${'k'.repeat(70_000)}":1}`));
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: 'KEY_TOO_LONG' });
    expect((body.error as { message: string }).message).toMatch(/256 characters/);
  });

  it('stores a HubSpot property named constructor without failing the batch', async () => {
    const objectId = uniqueNumber();
    const occurredAt = Date.now() - 60_000;
    const template = (JSON.parse(fixture('hubspot', 'deal-batch.json')) as Record<string, unknown>[]).find(
      (event) => event.subscriptionType === 'deal.propertyChange',
    );
    const events = [
      {
        ...template,
        eventId: uniqueNumber(),
        objectId,
        occurredAt,
        propertyName: 'dealstage',
        propertyValue: 'appointmentscheduled',
      },
      {
        ...template,
        eventId: uniqueNumber(),
        objectId,
        occurredAt,
        propertyName: 'constructor',
        propertyValue: 'kept',
      },
    ];
    expect((await postHubspot(events)).status).toBe(202);
    expect((await getDeal(String(objectId))).body.fields).toMatchObject({ constructor: 'kept' });
  });
});

describe('a deal that would outgrow the store', () => {
  it("answers 413 naming DynamoDB's 400 KB item limit, keeps nothing of the event, and answers the same to a retry", async () => {
    const dealId = uniqueId('D');
    const first = await postGeneric({
      eventId: uniqueId('E'),
      dealId,
      stage: 'identify',
      fields: { a: 'x'.repeat(200_000) },
    });
    expect(first.status).toBe(202);
    const overflow = { eventId: uniqueId('E'), dealId, fields: { b: 'y'.repeat(220_000), decisionMaker: 'Jane Roe' } };
    for (const attempt of [1, 2]) {
      const { status, body } = await postGeneric(overflow);
      expect(status, `attempt ${attempt}`).toBe(413);
      expect(body.error).toMatchObject({ code: 'DEAL_TOO_LARGE' });
      expect((body.error as { message: string }).message).toMatch(/item size limit of 400 KB/);
    }
    const deal = (await getDeal(dealId)).body;
    expect(Object.keys(deal.fields)).toEqual(['a']);
    expect(deal.history.filter((entry) => entry.eventId === overflow.eventId)).toEqual([]);
  });

  it('answers a HubSpot batch that would outgrow the deal with 413 too', async () => {
    const objectId = uniqueNumber();
    const template = (JSON.parse(fixture('hubspot', 'deal-batch.json')) as Record<string, unknown>[]).find(
      (event) => event.subscriptionType === 'deal.propertyChange',
    );
    const change = (propertyName: string, propertyValue: string) => ({
      ...template,
      eventId: uniqueNumber(),
      objectId,
      occurredAt: Date.now() - 60_000,
      propertyName,
      propertyValue,
    });
    expect(
      (await postHubspot([change('dealstage', 'appointmentscheduled'), change('a', 'x'.repeat(200_000))])).status,
    ).toBe(202);
    const { status, body } = await postHubspot([change('b', 'y'.repeat(220_000))]);
    expect(status).toBe(413);
    expect(JSON.stringify(body)).toMatch(/400 KB/);
    expect((await getDeal(String(objectId))).body.fields).not.toHaveProperty('b');
  });
});

describe('event times before any CRM kept deals', () => {
  it.each(['0000-01-01T00:00:00Z', '1970-01-01T00:00:00Z'])(
    'refuses occurredAt %s with 400 naming the field',
    async (occurredAt) => {
      const dealId = uniqueId('D');
      const { status, body } = await postGeneric({ eventId: uniqueId('E'), dealId, stage: 'identify', occurredAt });
      expect(status).toBe(400);
      expect(body.error).toMatchObject({
        code: 'OCCURRED_AT_OUT_OF_RANGE',
        issues: [expect.objectContaining({ path: 'occurredAt' })],
      });
      expect((body.error as { message: string }).message).toMatch(/before 2000-01-01/);
      expect((await getDeal(dealId)).status).toBe(404);
    },
  );
});

describe('read API inputs', () => {
  const api = () => stackUrls().api;

  it('answers 400 for a deal id longer than any deal id can be', async () => {
    const response = await fetch(`${api()}/deals/${'d'.repeat(5000)}?pipeline=default`);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('INVALID_DEAL_ID');
  });

  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty'])(
    'answers 400/404 for a pipeline named %s',
    async (pipeline) => {
      for (const path of [
        `/deals/D-1?pipeline=${pipeline}`,
        `/deals?pipeline=${pipeline}`,
        `/pipelines/${pipeline}/stages`,
      ]) {
        const response = await fetch(`${api()}${path}`);
        expect([400, 404], path).toContain(response.status);
        expect(((await response.json()) as { error: { code: string } }).error.code, path).toMatch(
          /UNKNOWN_PIPELINE|NOT_FOUND/,
        );
      }
    },
  );

  it('refuses a webhook deal id longer than 256 characters with 400', async () => {
    const { status, body } = await postGeneric({ eventId: uniqueId('E'), dealId: 'd'.repeat(5000), stage: 'identify' });
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: 'INVALID_EVENT' });
  });

  it('refuses a webhook that names the pipeline __proto__ with 400', async () => {
    const { status, body } = await postGeneric({
      eventId: uniqueId('E'),
      dealId: uniqueId('D'),
      pipeline: '__proto__',
    });
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: 'UNKNOWN_PIPELINE' });
  });
});

describe('the local host refuses an oversized body', () => {
  it("names the contract's 256 KiB in its 413, not the platform's 10 MB", async () => {
    // `Expect: 100-continue`, as curl sends for large bodies: the host answers before any of the body is sent.
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(`${stackUrls().api}/webhooks/generic`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': 11 * 1024 * 1024, expect: '100-continue' },
      });
      req.on('response', resolve).on('error', reject).end();
    });
    expect(response.statusCode).toBe(413);
    const { error } = (await json(response)) as { error: { code: string; message: string } };
    expect(error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(error.message).toContain('256 KiB');
    expect(error.message).not.toMatch(/10485760|10 MB/);
  });
});

describe('event times far in the future', () => {
  it('takes an occurredAt more than 5 minutes ahead as the receive time, so later events still apply', async () => {
    const dealId = uniqueId('D');
    const future = await postGeneric({
      eventId: uniqueId('E'),
      dealId,
      stage: 'identify',
      occurredAt: '2099-01-01T00:00:00Z',
      fields: { decisionMaker: 'Jane Roe' },
    });
    expect(future.body.outcome).toBe('applied');
    const next = await postGeneric({
      eventId: uniqueId('E'),
      dealId,
      occurredAt: new Date(Date.now() + 1000).toISOString(),
      fields: { decisionMaker: 'John Doe' },
    });
    expect(next.body.outcome).toBe('applied');
    const deal = await getDeal(dealId);
    expect(deal.body.fields.decisionMaker).toBe('John Doe');
  });

  it('keeps a time a little ahead (clock drift within 5 minutes) as sent', async () => {
    const dealId = uniqueId('D');
    const ahead = new Date(Date.now() + 60_000).toISOString();
    await postGeneric({ eventId: uniqueId('E'), dealId, stage: 'identify', occurredAt: ahead, fields: { a: 1 } });
    const stale = await postGeneric({
      eventId: uniqueId('E'),
      dealId,
      occurredAt: new Date(Date.now() - 60_000).toISOString(),
      fields: { a: 2 },
    });
    expect(stale.body.outcome).toBe('stale');
  });
});
