import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { StageEvent } from '../../../functions/core/deal.ts';
import { BadRequestError, UnauthorizedError } from '../../../functions/core/errors.ts';
import { PipelineConfigSchema } from '../../../functions/core/pipeline-config.ts';
import { hubspotAdapter, hubspotSignatureHeaders } from '../../../functions/sources/hubspot.ts';
import type { WebhookRequest } from '../../../functions/sources/types.ts';
import {
  defaultPipelineConfig,
  fixture,
  readAs,
  signHubspot,
  sourceContext,
  TEST_BASE_URL,
  TEST_SECRETS,
  webhookRequest,
} from '../../fixtures/signing.ts';

const receivedAt = new Date('2026-11-27T10:05:00Z');
const secret = TEST_SECRETS.hubspotClientSecret;
const url = `${TEST_BASE_URL}/webhooks/hubspot`;
const enterprise = PipelineConfigSchema.parse({
  ...defaultPipelineConfig(),
  pipeline: 'enterprise',
  crm: {
    hubspot: {
      stages: { appointmentscheduled: 'identify', '1234567': 'qualify' },
      fields: { amount: 'dealAmount', hs_next_step: 'closePlan' },
    },
  },
});
const ctx = sourceContext([defaultPipelineConfig(), enterprise]);

function signedRequest(
  body: string,
  { timestamp = receivedAt.getTime(), query = {}, signedUrl = url, rawQuery } = {} as {
    timestamp?: number;
    query?: WebhookRequest['query'];
    signedUrl?: string;
    rawQuery?: string;
  },
) {
  const request = webhookRequest('hubspot', body, receivedAt, {
    headers: {
      'content-type': 'application/json',
      'x-hubspot-signature-v3': signHubspot(body, secret, signedUrl, timestamp),
      'x-hubspot-request-timestamp': String(timestamp),
    },
    query,
  });
  return rawQuery === undefined ? request : { ...request, rawQuery };
}

const parse = (body: string, query: WebhookRequest['query'] = {}) =>
  readAs(hubspotAdapter.parse(signedRequest(body, { query }), ctx), ctx, query.pipeline);
const badRequest = (code: string, issues: unknown[] = []) =>
  expect.objectContaining({ name: 'BadRequestError', code, issues: expect.arrayContaining(issues) });
const issueAt = (path: string) => expect.objectContaining({ path, message: expect.any(String) });

interface HubSpotEvent {
  eventId: number;
  subscriptionId: number;
  portalId: number;
  occurredAt: number;
  subscriptionType: string;
  objectId: number;
  attemptNumber: number;
  propertyName?: string;
  propertyValue?: string;
}

const dealEvent = (overrides: Partial<HubSpotEvent>): HubSpotEvent => ({
  eventId: 1,
  subscriptionId: 10,
  portalId: 62515,
  occurredAt: Date.parse('2026-11-27T10:00:00Z'),
  subscriptionType: 'deal.propertyChange',
  objectId: 9001,
  attemptNumber: 0,
  propertyName: 'dealstage',
  propertyValue: 'qualifiedtobuy',
  ...overrides,
});

describe('hubspot adapter: authenticate', () => {
  const body = fixture('hubspot', 'deal-batch.json');

  it('accepts the v3 signature over POST, the public URL, the raw body and the timestamp', () => {
    expect(() => hubspotAdapter.authenticate(signedRequest(body), ctx)).not.toThrow();
  });

  it('verifies against the full URL HubSpot called, query string included', () => {
    const query = { pipeline: 'enterprise' };
    const good = signedRequest(body, { query, signedUrl: `${url}?pipeline=enterprise` });
    expect(() => hubspotAdapter.authenticate(good, ctx)).not.toThrow();
    expect(() => hubspotAdapter.authenticate(signedRequest(body, { query }), ctx)).toThrow(UnauthorizedError);
  });

  it("takes the URL with the characters HubSpot decodes before signing (':' here)", () => {
    const request = signedRequest(body, { query: { pipeline: 'a:b' }, signedUrl: `${url}?pipeline=a:b` });
    expect(() => hubspotAdapter.authenticate(request, ctx)).not.toThrow();
  });

  it('verifies against the query string as received: %20, + and ~ stay as sent', () => {
    const rawQuery = 'pipeline=enterprise&note=a%20b+c~d&path=x%2Fy';
    const query = { pipeline: 'enterprise', note: 'a b c~d', path: 'x/y' };
    const good = signedRequest(body, {
      query,
      rawQuery,
      signedUrl: `${url}?pipeline=enterprise&note=a%20b+c~d&path=x/y`,
    });
    expect(() => hubspotAdapter.authenticate(good, ctx)).not.toThrow();
    const reencoded = signedRequest(body, {
      query,
      rawQuery,
      signedUrl: `${url}?pipeline=enterprise&note=a+b+c%7Ed&path=x/y`,
    });
    expect(() => hubspotAdapter.authenticate(reencoded, ctx)).toThrow(UnauthorizedError);
  });

  it('ignores a trailing slash on the public base URL', () => {
    const slashed = { ...ctx, publicBaseUrl: `${TEST_BASE_URL}/` };
    expect(() => hubspotAdapter.authenticate(signedRequest(body), slashed)).not.toThrow();
  });

  it('refuses a body changed after signing', () => {
    const request = { ...signedRequest(body), rawBody: body.replace('qualifiedtobuy', 'closedwon') };
    expect(() => hubspotAdapter.authenticate(request, ctx)).toThrow(UnauthorizedError);
  });

  it('refuses a signature made with another secret', () => {
    const request = signedRequest(body);
    request.headers['x-hubspot-signature-v3'] = signHubspot(body, 'other', url, receivedAt.getTime());
    expect(() => hubspotAdapter.authenticate(request, ctx)).toThrow(UnauthorizedError);
  });

  it.each([
    ['older than 5 minutes', receivedAt.getTime() - 300_001],
    ['more than 5 minutes ahead', receivedAt.getTime() + 300_001],
  ])('refuses a timestamp %s, even when signed', (_, timestamp) => {
    expect(() => hubspotAdapter.authenticate(signedRequest(body, { timestamp }), ctx)).toThrow(
      expect.objectContaining({ name: 'UnauthorizedError', message: expect.stringMatching(/5 minutes/) }),
    );
  });

  it('accepts a timestamp exactly 5 minutes old', () => {
    const timestamp = receivedAt.getTime() - 300_000;
    expect(() => hubspotAdapter.authenticate(signedRequest(body, { timestamp }), ctx)).not.toThrow();
  });

  it.each([
    ['no signature', 'x-hubspot-signature-v3', undefined],
    ['no timestamp', 'x-hubspot-request-timestamp', undefined],
    ['a timestamp that is not a number', 'x-hubspot-request-timestamp', 'soon'],
  ])('refuses a request with %s', (_, header, value) => {
    const request = signedRequest(body);
    request.headers[header] = value;
    expect(() => hubspotAdapter.authenticate(request, ctx)).toThrow(UnauthorizedError);
  });

  it('never names the secret in a refusal', () => {
    const request = { ...signedRequest(body), rawBody: '[]' };
    expect(() => hubspotAdapter.authenticate(request, ctx)).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining(secret) }),
    );
  });
});

/** The event without its origin marker and CRM facts (each asserted on its own). */
const withoutOrigin = ({ origin: _origin, crm: _crm, ...event }: StageEvent) => event;

describe('hubspot adapter: parse', () => {
  it('carries the origin marker of each change (changeSource, sourceId) for recognising echoes', () => {
    const origins = parse(fixture('hubspot', 'deal-batch.json')).map((event) => event.origin);
    expect(new Set(origins)).toEqual(new Set(['CRM_UI:userId:4321']));
  });

  it('translates a batch into canonical events, oldest first, skipping other objects', () => {
    expect(parse(fixture('hubspot', 'deal-batch.json')).map(withoutOrigin)).toStrictEqual([
      {
        source: 'hubspot',
        eventId: '62515:1246:3000:1795773600000',
        pipeline: 'default',
        dealId: '9001',
        occurredAt: '2026-11-27T10:00:00.000Z',
        fields: {},
      },
      {
        source: 'hubspot',
        eventId: '62515:1247:3003:1795773660000',
        pipeline: 'default',
        dealId: '9001',
        occurredAt: '2026-11-27T10:01:00.000Z',
        fields: { amount: '50000' },
      },
      {
        source: 'hubspot',
        eventId: '62515:1247:3004:1795773660000',
        pipeline: 'default',
        dealId: '9001',
        occurredAt: '2026-11-27T10:01:00.000Z',
        dealName: 'Acme rollout',
        fields: {},
      },
      {
        source: 'hubspot',
        eventId: '62515:1248:3001:1795773720000',
        pipeline: 'default',
        dealId: '9001',
        stage: 'qualify',
        occurredAt: '2026-11-27T10:02:00.000Z',
        fields: {},
      },
    ]);
  });

  it('maps every dealstage of the default pipeline to its stage, in order', () => {
    const values = [
      'appointmentscheduled',
      'qualifiedtobuy',
      'presentationscheduled',
      'decisionmakerboughtin',
      'contractsent',
      'closedwon',
      'closedlost',
    ];
    const events = values.map((propertyValue, i) => dealEvent({ eventId: i, occurredAt: 1_000 * i, propertyValue }));
    expect(parse(JSON.stringify(events)).map((event) => event.stage)).toStrictEqual([
      'identify',
      'qualify',
      'propose',
      'negotiate',
      'deliver',
      'closed_won',
      'closed_lost',
    ]);
  });

  it("keeps an unmapped dealstage as 'hubspot:<value>', which is never a stage key", () => {
    const [event] = parse(JSON.stringify([dealEvent({ propertyValue: 'customstage42' })]));
    expect(event?.stage).toBe('hubspot:customstage42');
  });

  it('reads a deletion as the deal deleted in the CRM, and a restore as restored', () => {
    expect(parse(fixture('hubspot', 'deal-deletion.json')).map(withoutOrigin)).toStrictEqual([
      {
        source: 'hubspot',
        eventId: '62515:1249:4000:1795773780000',
        pipeline: 'default',
        dealId: '9001',
        occurredAt: '2026-11-27T10:03:00.000Z',
        fields: {},
        lifecycle: 'deleted',
      },
    ]);
    const [restored] = parse(JSON.stringify([dealEvent({ subscriptionType: 'deal.restore' })]));
    expect(restored?.lifecycle).toBe('restored');
  });

  it('keeps the portal on the event, and routes by the pipeline property the batch names', () => {
    const batch = [dealEvent({ eventId: 1 }), dealEvent({ eventId: 2, propertyName: 'pipeline', propertyValue: '77' })];
    const parsed = hubspotAdapter.parse(signedRequest(JSON.stringify(batch)), ctx);
    expect(parsed.map((event) => (event.kind === 'event' ? event.route : null))).toEqual([
      { crmPipeline: '77' },
      { crmPipeline: '77', stageValue: 'qualifiedtobuy' },
    ]);
    expect(parse(JSON.stringify(batch)).map((event) => event.crm)).toEqual([
      { portalId: '62515' },
      { portalId: '62515' },
    ]);
  });

  it('reads a merge: the new deal survives, the primary and the others are merged into it', () => {
    const merge = {
      ...dealEvent({ subscriptionType: 'deal.merge' }),
      primaryObjectId: 9001,
      mergedObjectIds: [9002],
      newObjectId: 9003,
    };
    expect(hubspotAdapter.parse(signedRequest(JSON.stringify([merge])), ctx)).toEqual([
      expect.objectContaining({ kind: 'merge', primary: '9001', survivor: '9003', merged: ['9001', '9002'] }),
    ]);
  });

  it('maps stages and renames fields through the pipeline named in the URL', () => {
    const events = [
      dealEvent({ eventId: 1, propertyValue: '1234567' }),
      dealEvent({ eventId: 2, propertyName: 'amount', propertyValue: '75000' }),
      dealEvent({ eventId: 3, propertyName: 'hs_next_step', propertyValue: 'Sign by Friday' }),
      dealEvent({ eventId: 4, propertyName: 'hubspot_owner_id', propertyValue: '4321' }),
      dealEvent({ eventId: 5, propertyValue: 'qualifiedtobuy' }),
    ];
    const parsed = parse(JSON.stringify(events), { pipeline: 'enterprise' });
    // At the same time, field changes come before stage changes (each group in the order sent).
    expect(parsed.map(({ pipeline, stage, fields }) => ({ pipeline, stage, fields }))).toStrictEqual([
      { pipeline: 'enterprise', stage: undefined, fields: { dealAmount: '75000' } },
      { pipeline: 'enterprise', stage: undefined, fields: { closePlan: 'Sign by Friday' } },
      { pipeline: 'enterprise', stage: undefined, fields: { hubspot_owner_id: '4321' } },
      { pipeline: 'enterprise', stage: 'qualify', fields: {} },
      { pipeline: 'enterprise', stage: 'hubspot:qualifiedtobuy', fields: {} },
    ]);
  });

  it('never resolves a CRM value through an inherited object property', () => {
    const events = [
      dealEvent({ eventId: 1, propertyValue: 'constructor' }),
      dealEvent({ eventId: 2, propertyName: 'toString', propertyValue: 'x' }),
    ];
    const [fieldEvent, stageEvent] = parse(JSON.stringify(events));
    expect(stageEvent?.stage).toBe('hubspot:constructor');
    expect(fieldEvent?.fields).toStrictEqual({ toString: 'x' });
  });

  it('deduplicates on (portalId, subscriptionId, eventId, occurredAt): a retry keeps its key', () => {
    const first = dealEvent({ attemptNumber: 0 });
    const keys = parse(
      JSON.stringify([
        first,
        { ...first, attemptNumber: 3 },
        { ...first, subscriptionId: 11 },
        { ...first, portalId: 7 },
        { ...first, occurredAt: first.occurredAt + 1 },
      ]),
    ).map((event) => event.eventId);
    expect(keys[0]).toBe(keys[1]);
    expect(new Set(keys).size).toBe(4);
  });

  it('orders any batch by occurredAt, keeping the sent order of events at the same time', () => {
    const events = fc
      .array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 12 })
      .map((times) =>
        times.map((minute, i) =>
          dealEvent({ eventId: i, occurredAt: Date.parse('2026-11-27T10:00:00Z') + minute * 60_000 }),
        ),
      );
    fc.assert(
      fc.property(events, (sent) => {
        const parsed = parse(JSON.stringify(sent));
        const expected = sent
          .map((event, index) => ({ event, index }))
          .sort((a, b) => a.event.occurredAt - b.event.occurredAt || a.index - b.index)
          .map(({ event }) => `62515:10:${event.eventId}:${event.occurredAt}`);
        expect(parsed.map((event) => event.eventId)).toStrictEqual(expected);
      }),
    );
  });

  it("reads closed_lost_reason as the default pipeline's lostReason, ahead of a stage change saved with it", () => {
    const at = Date.parse('2026-11-27T10:00:00Z');
    const parsed = parse(
      JSON.stringify([
        dealEvent({ eventId: 1, occurredAt: at, propertyName: 'dealstage', propertyValue: 'closedlost' }),
        dealEvent({ eventId: 2, occurredAt: at, propertyName: 'closed_lost_reason', propertyValue: 'Budget cut' }),
      ]),
    );
    expect(parsed.map((event) => [event.stage ?? null, event.fields])).toEqual([
      [null, { lostReason: 'Budget cut' }],
      ['closed_lost', {}],
    ]);
  });

  it('takes a batch of other objects only as nothing to record, so that HubSpot does not retry it', () => {
    expect(parse(fixture('hubspot', 'contacts-only.json'))).toEqual([]);
  });

  it('reads new-platform object.* events of objectTypeId 0-3 as deal events and skips other object types', () => {
    const events = [
      { ...dealEvent({ eventId: 1, subscriptionType: 'object.creation' }), objectTypeId: '0-3' },
      { ...dealEvent({ eventId: 2, subscriptionType: 'object.propertyChange' }), objectTypeId: '0-3' },
      { ...dealEvent({ eventId: 3, subscriptionType: 'object.deletion' }), objectTypeId: '0-3' },
      { ...dealEvent({ eventId: 4, subscriptionType: 'object.propertyChange', objectId: 501 }), objectTypeId: '0-1' },
    ];
    const parsed = parse(JSON.stringify(events));
    expect(
      parsed.map((event) => [event.eventId.split(':')[2], event.dealId, event.stage ?? null, event.fields]),
    ).toEqual([
      ['1', '9001', null, {}],
      ['3', '9001', null, {}],
      ['2', '9001', 'qualify', {}],
    ]);
  });

  it('refuses a body that is not JSON', () => {
    expect(() => parse('[{"eventId": 1,')).toThrow(badRequest('INVALID_JSON'));
  });

  it.each([
    ['an object', '{"eventId": 1}', ['']],
    ['an empty array', '[]', ['']],
    ['a string event', '["deal.creation"]', ['[0]']],
    ['an event without a type', JSON.stringify([{ eventId: 1 }]), ['[0].subscriptionType']],
    [
      'a deal event without objectId and with a string occurredAt',
      JSON.stringify([{ ...dealEvent({}), objectId: undefined, occurredAt: '2026-11-27' }]),
      ['[0].objectId', '[0].occurredAt'],
    ],
    [
      'a property change without its property, second in the batch',
      JSON.stringify([dealEvent({}), dealEvent({ propertyName: undefined, propertyValue: undefined })]),
      ['[1].propertyName', '[1].propertyValue'],
    ],
  ])('refuses %s, naming each field', (_, body, paths) => {
    expect(() => parse(body)).toThrow(badRequest('INVALID_EVENT', paths.map(issueAt)));
  });

  it('refuses an unknown pipeline in the URL', () => {
    expect(() => parse(fixture('hubspot', 'deal-batch.json'), { pipeline: 'nope' })).toThrow(
      badRequest('UNKNOWN_PIPELINE', [issueAt('query.pipeline')]),
    );
  });

  it('throws nothing but a BadRequestError for any body', () => {
    const event = fc.record(
      {
        eventId: fc.oneof(fc.nat(), fc.jsonValue()),
        subscriptionId: fc.oneof(fc.nat(), fc.jsonValue()),
        portalId: fc.oneof(fc.nat(), fc.jsonValue()),
        occurredAt: fc.oneof(fc.nat(), fc.double(), fc.jsonValue()),
        subscriptionType: fc.oneof(
          fc.constantFrom('deal.creation', 'deal.propertyChange', 'deal.deletion', 'deal.restore', 'contact.creation'),
          fc.jsonValue(),
        ),
        objectId: fc.oneof(fc.nat(), fc.stringMatching(/^\d+$/), fc.jsonValue()),
        propertyName: fc.oneof(fc.constantFrom('dealstage', 'dealname', 'amount', '__proto__'), fc.jsonValue()),
        propertyValue: fc.oneof(fc.string(), fc.jsonValue()),
      },
      { requiredKeys: [] },
    );
    const bodies = fc.oneof(
      fc.string(),
      fc.jsonValue().map((value) => JSON.stringify(value)),
      fc.array(event, { maxLength: 5 }).map((events) => JSON.stringify(events)),
    );
    fc.assert(
      fc.property(bodies, (body) => {
        try {
          for (const parsed of parse(body)) expect(parsed.source).toBe('hubspot');
        } catch (error) {
          if (!(error instanceof BadRequestError)) throw error;
        }
      }),
    );
  });
});

describe('hubspot adapter: answers', () => {
  it('answers 202 with one result per event, in the order processed', () => {
    const response = hubspotAdapter.respond([
      { outcome: 'applied', dealId: '9001', stage: 'identify', reasons: [] },
      {
        outcome: 'rejected',
        dealId: '9001',
        stage: 'identify',
        reasons: [{ code: 'UNKNOWN_STAGE', message: "no stage 'hubspot:x'", stage: 'hubspot:x' }],
      },
    ]);
    expect(response.statusCode).toBe(202);
    expect(JSON.parse(response.body ?? '')).toStrictEqual({
      results: [
        { outcome: 'applied', dealId: '9001', stage: 'identify', reasons: [] },
        {
          outcome: 'rejected',
          dealId: '9001',
          stage: 'identify',
          reasons: [{ code: 'UNKNOWN_STAGE', message: "no stage 'hubspot:x'", stage: 'hubspot:x' }],
        },
      ],
    });
  });

  it('answers a refusal with the contract error body', () => {
    const response = hubspotAdapter.respondError(new UnauthorizedError('bad signature'));
    expect(response.statusCode).toBe(401);
    expect(JSON.parse(response.body ?? '')).toStrictEqual({
      error: { code: 'UNAUTHORIZED', message: 'bad signature', issues: [] },
    });
  });
});

describe('hubspotSignatureHeaders (the sender side the demo uses)', () => {
  it("signs now as HubSpot does: the adapter accepts it and the documentation's signer agrees", () => {
    const body = fixture('hubspot', 'deal-batch.json');
    const headers = hubspotSignatureHeaders(secret, url, body);
    const timestamp = headers['x-hubspot-request-timestamp'] ?? '';
    expect(headers['x-hubspot-signature-v3']).toBe(signHubspot(body, secret, url, timestamp));
    const request = webhookRequest('hubspot', body, new Date(Number(timestamp)), {
      headers: { 'content-type': 'application/json', ...headers },
    });
    expect(() => hubspotAdapter.authenticate(request, ctx)).not.toThrow();
    expect(() =>
      hubspotAdapter.authenticate(request, { ...ctx, secrets: { ...TEST_SECRETS, hubspotClientSecret: 'other' } }),
    ).toThrow(UnauthorizedError);
  });
});
