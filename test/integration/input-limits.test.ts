import { describe, expect, it } from 'vitest';
import { DEVELOPMENT_SECRETS } from '../../infra/local/stack.ts';
import { fixture, signHubspot } from '../fixtures/signing.ts';
import { getDeal, postGeneric, stackUrls, uniqueId, uniqueNumber } from '../support/api.ts';

/**
 * Inputs that look valid but that storage cannot hold as sent (issue 13, items 6 and 9): each is stored safely or
 * refused with a 400 that names the limit, never a 500 that the sender would retry forever.
 */

/** A generic create event whose `fields` are the given raw JSON text. */
function rawCreate(dealId: string, fieldsJson: string): string {
  return `{"eventId":"${uniqueId('E')}","dealId":"${dealId}","stage":"identify","fields":${fieldsJson}}`;
}

describe('webhook inputs at the edge of what storage holds (issue 13 item 6)', () => {
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
    const url = `${stackUrls().api}/webhooks/hubspot`;
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
    expect((await getDeal(String(objectId))).body.fields).toMatchObject({ constructor: 'kept' });
  });
});
