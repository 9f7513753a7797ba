import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BadRequestError, UnauthorizedError } from '../../../functions/core/errors.ts';
import { genericAdapter } from '../../../functions/sources/generic.ts';
import {
  defaultPipelineConfig,
  fixture,
  signGeneric,
  sourceContext,
  TEST_SECRETS,
  webhookRequest,
} from '../../fixtures/signing.ts';

const receivedAt = new Date('2026-11-27T10:05:00Z');
const now = receivedAt.getTime() / 1000;
const ctx = sourceContext();
const secret = TEST_SECRETS.genericWebhookSecret;

function withSignature(body: string, signature: string | undefined) {
  return webhookRequest('generic', body, receivedAt, {
    headers: { 'content-type': 'application/json', 'stageflow-signature': signature },
  });
}

const signed = (body: string, t = now) => withSignature(body, signGeneric(body, secret, t));
const parse = (body: string) =>
  genericAdapter
    .parse(signed(body), ctx)
    .flatMap((event) => (event.kind === 'event' ? [event.toStageEvent('', defaultPipelineConfig())] : []));
const unauthorized = (message: RegExp) =>
  expect.objectContaining({ name: 'UnauthorizedError', message: expect.stringMatching(message) });
const badRequest = (code: string, issues: unknown[] = []) =>
  expect.objectContaining({ name: 'BadRequestError', code, issues: expect.arrayContaining(issues) });

describe('generic adapter: authenticate', () => {
  const body = fixture('generic', 'stage-move.json');

  it('accepts a body signed with the secret at the current time', () => {
    expect(() => genericAdapter.authenticate(signed(body), ctx)).not.toThrow();
  });

  it('accepts a header with several v1 signatures when any one matches', () => {
    const good = signGeneric(body, secret, now);
    const other = signGeneric(body, 'rotated-out-secret', now).split(',')[1];
    const header = `t=${now},${other},${good.split(',')[1]}`;
    expect(() => genericAdapter.authenticate(withSignature(body, header), ctx)).not.toThrow();
  });

  it('refuses a body changed after signing', () => {
    const request = { ...signed(body), rawBody: body.replace('qualify', 'propose') };
    expect(() => genericAdapter.authenticate(request, ctx)).toThrow(unauthorized(/does not match/));
  });

  it('refuses a signature made with another secret', () => {
    const request = withSignature(body, signGeneric(body, 'not-the-secret', now));
    expect(() => genericAdapter.authenticate(request, ctx)).toThrow(UnauthorizedError);
  });

  it.each([
    ['301 s old', now - 301],
    ['301 s ahead', now + 301],
  ])('refuses a timestamp %s', (_, t) => {
    expect(() => genericAdapter.authenticate(signed(body, t), ctx)).toThrow(unauthorized(/300 s/));
  });

  it.each([now - 300, now + 300])('accepts a timestamp exactly 300 s away (%s)', (t) => {
    expect(() => genericAdapter.authenticate(signed(body, t), ctx)).not.toThrow();
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['without v1', `t=${now}`],
    ['without t', `v1=${'a'.repeat(64)}`],
    ['with a non-numeric t', `t=yesterday,v1=${'a'.repeat(64)}`],
    ['with a non-hex v1', `t=${now},v1=not-hex`],
    ['with two t', `t=${now},t=${now},v1=${'a'.repeat(64)}`],
    ['of another scheme', 'sha256=abcdef'],
  ])('refuses a header %s, saying the expected format', (_, header) => {
    expect(() => genericAdapter.authenticate(withSignature(body, header), ctx)).toThrow(
      unauthorized(/t=<unix seconds>,v1=<hex HMAC-SHA256/),
    );
  });

  it('never names the secret in a refusal', () => {
    const error = (() => {
      try {
        genericAdapter.authenticate(withSignature(body, signGeneric(body, 'wrong', now)), ctx);
      } catch (caught) {
        return caught as Error;
      }
    })();
    expect(error?.message).toBeDefined();
    expect(error?.message).not.toContain(secret);
  });

  it('refuses everything while no secret is configured', () => {
    const unconfigured = { ...ctx, secrets: { ...ctx.secrets, genericWebhookSecret: '' } };
    const request = withSignature(body, signGeneric(body, '', now));
    expect(() => genericAdapter.authenticate(request, unconfigured)).toThrow(unauthorized(/GENERIC_WEBHOOK_SECRET/));
  });

  it('accepts any body signed with any secret, and refuses it once a byte changes', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }),
        fc.string({ minLength: 1 }),
        fc.integer({ min: -300, max: 300 }),
        fc.nat(),
        (anyBody, anySecret, skew, position) => {
          const anyCtx = { ...ctx, secrets: { ...ctx.secrets, genericWebhookSecret: anySecret } };
          const request = withSignature(anyBody, signGeneric(anyBody, anySecret, now + skew));
          expect(() => genericAdapter.authenticate(request, anyCtx)).not.toThrow();
          const at = position % anyBody.length;
          const changed = `${anyBody.slice(0, at)}${anyBody[at] === 'x' ? 'y' : 'x'}${anyBody.slice(at + 1)}`;
          expect(() => genericAdapter.authenticate({ ...request, rawBody: changed }, anyCtx)).toThrow(
            UnauthorizedError,
          );
        },
      ),
    );
  });
});

describe('generic adapter: parse', () => {
  it('translates the contract example into its canonical event', () => {
    expect(parse(fixture('generic', 'stage-move.json'))).toStrictEqual([
      {
        source: 'generic',
        eventId: 'evt-0001',
        pipeline: 'default',
        dealId: 'D-1001',
        stage: 'qualify',
        occurredAt: '2026-11-27T10:00:00.000Z',
        dealName: 'Acme rollout',
        owner: { email: 'rep@example.com', name: 'Riley Rep' },
        fields: { decisionMaker: 'Jane Roe', firstMeetingDate: '2026-11-20' },
      },
    ]);
  });

  it('defaults the pipeline and the time, and keeps a field update without a stage (null included)', () => {
    expect(parse(fixture('generic', 'field-update.json'))).toStrictEqual([
      {
        source: 'generic',
        eventId: 'evt-0002',
        pipeline: 'default',
        dealId: 'D-1001',
        occurredAt: receivedAt.toISOString(),
        fields: { champion: 'Sam Lee', budgetConfirmed: true, discountPercent: 15, lostReason: null },
      },
    ]);
  });

  it('normalises an occurredAt with an offset to UTC', () => {
    const body = JSON.stringify({ eventId: 'e', dealId: 'd', occurredAt: '2026-11-27T12:00:00+02:00' });
    expect(parse(body)[0]?.occurredAt).toBe('2026-11-27T10:00:00.000Z');
  });

  it('leaves stage keys to the core: an unknown stage passes through', () => {
    const body = JSON.stringify({ eventId: 'e', dealId: 'd', stage: 'no_such_stage' });
    expect(parse(body)[0]?.stage).toBe('no_such_stage');
  });

  it('refuses a body that is not JSON', () => {
    expect(() => parse('{"eventId": ')).toThrow(badRequest('INVALID_JSON'));
  });

  it.each([
    ['missing ids', {}, ['eventId', 'dealId']],
    ['a non-string stage', { eventId: 'e', dealId: 'd', stage: 3 }, ['stage']],
    ['an empty dealId', { eventId: 'e', dealId: '' }, ['dealId']],
    ['a date without a zone', { eventId: 'e', dealId: 'd', occurredAt: '2026-11-27 10:00' }, ['occurredAt']],
    ['a bad owner email', { eventId: 'e', dealId: 'd', owner: { email: 'nobody' } }, ['owner.email']],
    ['fields that are not an object', { eventId: 'e', dealId: 'd', fields: ['a'] }, ['fields']],
    ['a misspelt key', { eventId: 'e', dealId: 'd', feilds: {} }, ['feilds']],
    ['a null stage', { eventId: 'e', dealId: 'd', stage: null }, ['stage']],
  ])('refuses %s, naming each field', (_, body, paths) => {
    expect(() => parse(JSON.stringify(body))).toThrow(
      badRequest(
        'INVALID_EVENT',
        paths.map((path) => expect.objectContaining({ path, message: expect.any(String) })),
      ),
    );
  });

  it.each([['[]'], ['"event"'], ['null'], ['42']])('refuses the JSON value %s', (body) => {
    expect(() => parse(body)).toThrow(badRequest('INVALID_EVENT'));
  });

  it('refuses an unknown pipeline', () => {
    const body = JSON.stringify({ eventId: 'e', dealId: 'd', pipeline: 'enterprise' });
    expect(() => parse(body)).toThrow(badRequest('UNKNOWN_PIPELINE', [expect.objectContaining({ path: 'pipeline' })]));
  });

  it('throws nothing but a BadRequestError for any body', () => {
    const bodies = fc.oneof(
      fc.string(),
      fc.jsonValue().map((value) => JSON.stringify(value)),
      fc
        .record(
          {
            eventId: fc.jsonValue(),
            dealId: fc.jsonValue(),
            pipeline: fc.jsonValue(),
            stage: fc.jsonValue(),
            occurredAt: fc.oneof(
              fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
              fc.jsonValue(),
            ),
            owner: fc.jsonValue(),
            fields: fc.jsonValue(),
          },
          { requiredKeys: [] },
        )
        .map((value) => JSON.stringify(value)),
    );
    fc.assert(
      fc.property(bodies, (body) => {
        try {
          expect(parse(body)).toHaveLength(1);
        } catch (error) {
          if (!(error instanceof BadRequestError)) throw error;
        }
      }),
    );
  });
});

describe('generic adapter: answers', () => {
  it('answers 202 with the single result, exactly the contract keys', () => {
    const response = genericAdapter.respond([
      { outcome: 'applied', dealId: 'D-1001', stage: 'qualify', reasons: [], extra: 'internal' } as never,
    ]);
    expect(response.statusCode).toBe(202);
    expect(response.headers?.['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(response.body ?? '')).toStrictEqual({
      outcome: 'applied',
      dealId: 'D-1001',
      stage: 'qualify',
      reasons: [],
    });
  });

  it('answers a refusal with the contract error body and its status', () => {
    const response = genericAdapter.respondError(
      new BadRequestError('INVALID_EVENT', 'fix it', [{ path: 'stage', message: 'expected string' }]),
    );
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body ?? '')).toStrictEqual({
      error: { code: 'INVALID_EVENT', message: 'fix it', issues: [{ path: 'stage', message: 'expected string' }] },
    });
  });
});
