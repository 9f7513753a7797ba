import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { criterionHolds } from '../../../functions/core/criteria.ts';
import { BadRequestError, UnauthorizedError } from '../../../functions/core/errors.ts';
import { PipelineConfigSchema } from '../../../functions/core/pipeline-config.ts';
import { pipedriveAdapter } from '../../../functions/sources/pipedrive.ts';
import type { WebhookRequest } from '../../../functions/sources/types.ts';
import {
  basicAuth,
  defaultPipelineConfig,
  fixture,
  readAs,
  sourceContext,
  TEST_SECRETS,
  webhookRequest,
} from '../../fixtures/signing.ts';

const receivedAt = new Date('2026-11-27T10:05:00Z');
const DECISION_MAKER_KEY = '9dc80c50d78a15643bfc4ca79d76156a73a1ca0e';
const MEETING_KEY = 'b5a1d2f0c6e8a34f9e21a8cbd5f7e3a1c2b4d6e8';
const enterprise = PipelineConfigSchema.parse({
  ...defaultPipelineConfig(),
  pipeline: 'enterprise',
  crm: {
    pipedrive: {
      stages: { '7': 'identify', '8': 'qualify' },
      status: { won: 'closed_won' },
      fields: { [DECISION_MAKER_KEY]: 'decisionMaker', [MEETING_KEY]: 'firstMeetingDate', value: 'amount' },
    },
  },
});
const ctx = sourceContext([defaultPipelineConfig(), enterprise]);

function request(body: string, authorization?: string, query: WebhookRequest['query'] = {}) {
  return webhookRequest('pipedrive', body, receivedAt, {
    headers: { 'content-type': 'application/json', authorization },
    query,
  });
}

const authorized = (body: string, query: WebhookRequest['query'] = {}) =>
  request(body, basicAuth(TEST_SECRETS.pipedriveBasicAuth), query);
const parse = (body: string, query: WebhookRequest['query'] = {}) =>
  readAs(pipedriveAdapter.parse(authorized(body, query), ctx), ctx, query.pipeline);
// biome-ignore lint/suspicious/noExplicitAny: fixtures are edited freely to build variants
const json = (name: string): any => JSON.parse(fixture('pipedrive', name));
const badRequest = (code: string, issues: unknown[] = []) =>
  expect.objectContaining({ name: 'BadRequestError', code, issues: expect.arrayContaining(issues) });
const issueAt = (path: string) => expect.objectContaining({ path, message: expect.any(String) });

describe('pipedrive adapter: authenticate', () => {
  const body = fixture('pipedrive', 'deal-create.json');

  it('accepts the configured HTTP Basic credentials', () => {
    expect(() => pipedriveAdapter.authenticate(authorized(body), ctx)).not.toThrow();
  });

  it.each([
    ['missing', undefined],
    ['of another scheme', 'Bearer abc'],
    ['with a wrong password', basicAuth('stageflow:guess')],
    ['with a wrong user', basicAuth('admin:pipedrive-test-password')],
    ['with only the user', basicAuth('stageflow')],
    ['empty', 'Basic '],
  ])('refuses credentials %s', (_, authorization) => {
    expect(() => pipedriveAdapter.authenticate(request(body, authorization), ctx)).toThrow(
      expect.objectContaining({
        name: 'UnauthorizedError',
        message: expect.stringMatching(/PIPEDRIVE_BASIC_AUTH/),
      }),
    );
  });

  it('never names the credentials in a refusal', () => {
    expect(() => pipedriveAdapter.authenticate(request(body, basicAuth('x:y')), ctx)).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('pipedrive-test-password') }),
    );
  });

  it('asks for Basic credentials in the 401 answer only', () => {
    const refused = pipedriveAdapter.respondError(new UnauthorizedError('no credentials'));
    expect(refused.statusCode).toBe(401);
    expect(refused.headers?.['www-authenticate']).toBe('Basic realm="stageflow"');
    expect(JSON.parse(refused.body ?? '')).toStrictEqual({
      error: { code: 'UNAUTHORIZED', message: 'no credentials', issues: [] },
    });
    const invalid = pipedriveAdapter.respondError(new BadRequestError('INVALID_EVENT', 'fix it'));
    expect(invalid.statusCode).toBe(400);
    expect(invalid.headers?.['www-authenticate']).toBeUndefined();
  });
});

describe('pipedrive adapter: parse', () => {
  it("carries the origin marker (meta.change_source and the acting user) for recognising Stageflow's echoes", () => {
    expect(parse(fixture('pipedrive', 'deal-create.json'))[0]?.origin).toBe('app:13540546');
  });

  it("keeps the company's domain its webhook names (meta.host), and nothing that is not a Pipedrive domain", () => {
    expect(parse(fixture('pipedrive', 'deal-create.json'))[0]?.crm).toEqual({ host: 'acme.pipedrive.com' });
    for (const host of ['evil.example.com', 'acme.pipedrive.com.evil.example', 'a/b.pipedrive.com', 42]) {
      const body = json('deal-create.json');
      body.meta.host = host;
      expect(parse(JSON.stringify(body))[0]?.crm).toBeUndefined();
    }
  });

  it('translates a created deal: its stage, name, and every other field (custom fields flattened)', () => {
    expect(parse(fixture('pipedrive', 'deal-create.json')).map(({ origin: _origin, ...event }) => event)).toStrictEqual(
      [
        {
          source: 'pipedrive',
          eventId: '4b7c1f0e-52f6-4a8e-9c1d-8e2f3a4b5c6d',
          pipeline: 'default',
          dealId: '1001',
          stage: 'identify',
          occurredAt: '2026-11-27T10:00:00.000Z',
          dealName: 'Acme rollout',
          crm: { host: 'acme.pipedrive.com' },
          fields: {
            add_time: '2026-11-27T10:00:00Z',
            close_time: null,
            creator_user_id: 13540546,
            currency: 'EUR',
            expected_close_date: '2026-12-31',
            label_ids: [],
            lostReason: null,
            org_id: 2,
            origin: 'ManuallyCreated',
            owner_id: 13540546,
            person_id: 3,
            probability: null,
            update_time: '2026-11-27T10:00:00Z',
            value: 50000,
            visible_to: '3',
            [DECISION_MAKER_KEY]: 'Jane Roe',
            [MEETING_KEY]: '2026-11-20',
          },
        },
      ],
    );
  });

  it('translates a stage change: the new stage and every field of data, not only those previous names', () => {
    const [event] = parse(fixture('pipedrive', 'deal-change-stage.json'));
    expect(event).toMatchObject({
      source: 'pipedrive',
      eventId: '8d9e0f1a-2b3c-4d5e-8f6a-7b8c9d0e1f2a',
      dealId: '1001',
      stage: 'qualify',
      occurredAt: '2026-11-27T10:02:00.000Z',
      dealName: 'Acme rollout',
    });
    expect(event?.fields).toMatchObject({
      stage_change_time: '2026-11-27T10:02:00Z',
      update_time: '2026-11-27T10:02:00Z',
      value: 50000,
      currency: 'EUR',
      [DECISION_MAKER_KEY]: 'Jane Roe',
      [MEETING_KEY]: '2026-11-20',
    });
  });

  it('translates a field change as the whole state: the stage it is in and every field', () => {
    const [event] = parse(fixture('pipedrive', 'deal-change-fields.json'));
    expect(event?.stage).toBe('qualify');
    expect(event?.fields).toStrictEqual({
      add_time: '2026-11-27T10:00:00Z',
      currency: 'EUR',
      owner_id: 13540546,
      update_time: '2026-11-27T10:03:00Z',
      value: 65000,
      [DECISION_MAKER_KEY]: 'Jane Roe',
      [MEETING_KEY]: '2026-11-21',
    });
  });

  it('moves a won deal to the closed stage, reading a timestamp in epoch seconds and numeric ids', () => {
    expect(parse(fixture('pipedrive', 'deal-won.json'))).toStrictEqual([
      {
        source: 'pipedrive',
        eventId: '77001',
        pipeline: 'default',
        dealId: '1001',
        stage: 'closed_won',
        occurredAt: '2026-11-27T10:04:00.000Z',
        dealName: 'Acme rollout',
        fields: {
          close_time: '2026-11-27T10:04:00Z',
          currency: 'EUR',
          owner_id: 13540546,
          update_time: '2026-11-27T10:04:00Z',
          value: 65000,
          won_time: '2026-11-27T10:04:00Z',
        },
      },
    ]);
  });

  it('maps a lost deal to closed_lost, and stage_ids 1–5 to the open stages', () => {
    const lost = json('deal-won.json');
    lost.data.status = 'lost';
    expect(parse(JSON.stringify(lost))[0]?.stage).toBe('closed_lost');
    const stages = [1, 2, 3, 4, 5].map((stageId) => {
      const created = json('deal-create.json');
      created.data.stage_id = stageId;
      return parse(JSON.stringify(created))[0]?.stage;
    });
    expect(stages).toStrictEqual(['identify', 'qualify', 'propose', 'negotiate', 'deliver']);
  });

  it("keeps an unmapped stage_id as 'pipedrive:<id>'", () => {
    const created = json('deal-create.json');
    created.data.stage_id = 99;
    expect(parse(JSON.stringify(created))[0]?.stage).toBe('pipedrive:99');
  });

  it('includes the stage and every field of a change that carries no previous values', () => {
    const change = json('deal-change-fields.json');
    change.previous = null;
    const [event] = parse(JSON.stringify(change));
    expect(event?.stage).toBe('qualify');
    expect(Object.keys(event?.fields ?? {})).toHaveLength(7);
  });

  it('reads the same event whatever previous holds: a full snapshot, only the changed keys, or none', () => {
    const change = json('deal-change-fields.json');
    const [asSent] = parse(JSON.stringify(change));
    const [fullPrevious] = parse(JSON.stringify({ ...change, previous: { ...change.data, value: 50000 } }));
    const [onlyStage] = parse(JSON.stringify({ ...change, previous: { stage_id: 1 } }));
    expect(fullPrevious).toStrictEqual(asSent);
    expect(onlyStage).toStrictEqual(asSent);
  });

  it("reads lost_reason as the default pipeline's lostReason, so a real lost event closes the deal", () => {
    const lost = json('deal-won.json');
    lost.data.status = 'lost';
    lost.data.lost_reason = 'Went with a competitor';
    const [event] = parse(JSON.stringify(lost));
    expect(event?.stage).toBe('closed_lost');
    expect(event?.fields).toMatchObject({ lostReason: 'Went with a competitor' });
    expect(event?.fields).not.toHaveProperty('lost_reason');
  });

  it('maps enum and set option ids through crm.pipedrive.options and keeps a monetary field’s currency', () => {
    const segmentKey = 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00';
    const productsKey = 'beef0000beef0000beef0000beef0000beef0000';
    const budgetKey = 'feed0000feed0000feed0000feed0000feed0000';
    const withOptions = PipelineConfigSchema.parse({
      ...defaultPipelineConfig(),
      pipeline: 'options',
      crm: {
        pipedrive: {
          stages: { '1': 'identify' },
          status: {},
          fields: { [segmentKey]: 'segment', [budgetKey]: 'budget' },
          options: { [segmentKey]: { '4520': 'Enterprise' }, [productsKey]: { '1': 'Core', '2': 'Add-on' } },
        },
      },
    });
    const created = json('deal-create.json');
    created.data.custom_fields = {
      [segmentKey]: { type: 'enum', id: 4520 },
      [productsKey]: { type: 'set', values: [{ id: 1 }, { id: 2 }, { id: 9 }] },
      [budgetKey]: { type: 'monetary', value: 120000, currency: 'EUR' },
    };
    const options = sourceContext([withOptions]);
    const [event] = readAs(
      pipedriveAdapter.parse(authorized(JSON.stringify(created), { pipeline: 'options' }), options),
      options,
      'options',
    );
    expect(event?.fields).toMatchObject({
      segment: 'Enterprise',
      [productsKey]: ['Core', 'Add-on', 9],
      budget: 120000,
      budget_currency: 'EUR',
    });
    const segment = { field: 'segment', require: 'equals' as const, value: 'Enterprise' };
    const product = { field: productsKey, require: 'equals' as const, value: 'Add-on' };
    expect(criterionHolds(segment, event?.fields ?? {})).toBe(true);
    expect(criterionHolds(product, event?.fields ?? {})).toBe(true);
  });

  it('reads a delete as the deal deleted in the CRM', () => {
    expect(parse(fixture('pipedrive', 'deal-delete.json'))).toStrictEqual([
      {
        source: 'pipedrive',
        eventId: 'e5f6a7b8-c9d0-4e1f-8a2b-3c4d5e6f7a8b',
        pipeline: 'default',
        dealId: '1001',
        occurredAt: '2026-11-27T10:05:00.000Z',
        fields: {},
        lifecycle: 'deleted',
      },
    ]);
  });

  it('reads a delete naming merged_to_id as a merge into that deal', () => {
    const merged = json('deal-delete.json');
    merged.previous = { ...merged.previous, merged_to_id: 1002 };
    expect(pipedriveAdapter.parse(authorized(JSON.stringify(merged)), ctx)).toStrictEqual([
      expect.objectContaining({ kind: 'merge', primary: '1002', survivor: '1002', merged: ['1001'] }),
    ]);
  });

  it('answers events of other objects with nothing to record', () => {
    expect(pipedriveAdapter.parse(authorized(fixture('pipedrive', 'person-change.json')), ctx)).toEqual([]);
  });

  it.each([
    ['added', 'deal-create.json', 'create'],
    ['updated', 'deal-change-stage.json', 'change'],
    ['deleted', 'deal-delete.json', 'delete'],
  ])("reads the v1 action name '%s' as '%s'", (v1Action, name, v2Action) => {
    const v1 = json(name);
    v1.meta.action = v1Action;
    const v2 = json(name);
    v2.meta.action = v2Action;
    expect(parse(JSON.stringify(v1))).toStrictEqual(parse(JSON.stringify(v2)));
  });

  it.each([
    [1795773840000, '2026-11-27T10:04:00.000Z'],
    [1795773840, '2026-11-27T10:04:00.000Z'],
    ['2026-11-27T11:04:00+01:00', '2026-11-27T10:04:00.000Z'],
  ])('reads the timestamp %s', (timestamp, occurredAt) => {
    const won = json('deal-won.json');
    won.meta.timestamp = timestamp;
    expect(parse(JSON.stringify(won))[0]?.occurredAt).toBe(occurredAt);
  });

  it('maps and renames through the pipeline named in the URL', () => {
    const created = json('deal-create.json');
    created.data.stage_id = 8;
    const [event] = parse(JSON.stringify(created), { pipeline: 'enterprise' });
    expect(event?.pipeline).toBe('enterprise');
    expect(event?.stage).toBe('qualify');
    expect(event?.fields).toMatchObject({ decisionMaker: 'Jane Roe', firstMeetingDate: '2026-11-20', amount: 50000 });
    expect(event?.fields).not.toHaveProperty(DECISION_MAKER_KEY);
    expect(event?.fields).not.toHaveProperty('value');
  });

  it('falls back to stage_id when the pipeline maps no closed stage for the status', () => {
    const lost = json('deal-won.json');
    lost.data.status = 'lost';
    lost.data.stage_id = 7;
    expect(parse(JSON.stringify(lost), { pipeline: 'enterprise' })[0]?.stage).toBe('identify');
  });

  it('refuses a body that is not JSON', () => {
    expect(() => parse('{"meta":')).toThrow(badRequest('INVALID_JSON'));
  });

  it.each([
    ['no meta', { data: {} }, ['meta']],
    [
      'a webhooks v1 meta',
      { meta: { v: 1, action: 'updated', object: 'deal', id: 1001, timestamp: 1795773840 } },
      ['meta.entity', 'meta.entity_id'],
    ],
    [
      'an unknown action',
      { meta: { action: 'merge', entity: 'deal', entity_id: '1', id: 'x', timestamp: 1 } },
      ['meta.action'],
    ],
    [
      'a timestamp that is no time',
      { meta: { action: 'create', entity: 'deal', entity_id: '1', id: 'x', timestamp: 'tomorrow' } },
      ['meta.timestamp'],
    ],
    [
      'a create without data',
      { meta: { action: 'create', entity: 'deal', entity_id: '1', id: 'x', timestamp: 1 }, data: null },
      ['data'],
    ],
    [
      'a stage_id that is an object',
      { meta: { action: 'create', entity: 'deal', entity_id: '1', id: 'x', timestamp: 1 }, data: { stage_id: {} } },
      ['data.stage_id'],
    ],
  ])('refuses %s, naming each field', (_, body, paths) => {
    expect(() => parse(JSON.stringify(body))).toThrow(badRequest('INVALID_EVENT', paths.map(issueAt)));
  });

  it('refuses an unknown pipeline in the URL', () => {
    expect(() => parse(fixture('pipedrive', 'deal-create.json'), { pipeline: 'nope' })).toThrow(
      badRequest('UNKNOWN_PIPELINE', [issueAt('query.pipeline')]),
    );
  });

  it('throws nothing but a BadRequestError for any body', () => {
    const nearlyValid = fc
      .record({
        name: fc.constantFrom('deal-create.json', 'deal-change-stage.json', 'deal-won.json', 'deal-delete.json'),
        part: fc.constantFrom('meta', 'data', 'previous'),
        key: fc.constantFrom('action', 'entity', 'entity_id', 'id', 'timestamp', 'stage_id', 'status', 'custom_fields'),
        value: fc.jsonValue(),
      })
      .map(({ name, part, key, value }) => {
        const body = json(name);
        if (body[part] && typeof body[part] === 'object') body[part][key] = value;
        else body[part] = { [key]: value };
        return JSON.stringify(body);
      });
    const bodies = fc.oneof(
      fc.string(),
      fc.jsonValue().map((value) => JSON.stringify(value)),
      nearlyValid,
    );
    fc.assert(
      fc.property(bodies, (body) => {
        try {
          expect(parse(body).length).toBeLessThanOrEqual(1);
        } catch (error) {
          if (!(error instanceof BadRequestError)) throw error;
        }
      }),
    );
  });
});

describe('pipedrive adapter: answers', () => {
  it('answers 202 with the single result', () => {
    const response = pipedriveAdapter.respond([
      { outcome: 'duplicate', dealId: '1001', stage: 'qualify', reasons: [] },
    ]);
    expect(response.statusCode).toBe(202);
    expect(JSON.parse(response.body ?? '')).toStrictEqual({
      outcome: 'duplicate',
      dealId: '1001',
      stage: 'qualify',
      reasons: [],
    });
  });
});
