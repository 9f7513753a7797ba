import { describe, expect, it } from 'vitest';
import { EXIT_FIELDS } from '../../infra/local/default-story.ts';
import { DEVELOPMENT_SECRETS } from '../../infra/local/stack.ts';
import { signGeneric } from '../fixtures/signing.ts';
import { dealAt, getDeal, postGeneric, stackUrls, uniqueId } from '../support/api.ts';

const owner = { email: 'rep@example.com', name: 'Riley Rep' };

describe('generic webhook: outcomes (through HTTP on the local stack)', () => {
  it('creates a deal in identify and answers 202 applied', async () => {
    const dealId = uniqueId('D');
    const { status, body } = await postGeneric({
      eventId: uniqueId('E'),
      dealId,
      stage: 'identify',
      dealName: 'Acme rollout',
      owner,
      fields: { decisionMaker: 'Jane Roe' },
    });
    expect(status).toBe(202);
    expect(body).toEqual({ outcome: 'applied', dealId, stage: 'identify', reasons: [] });
    const deal = await getDeal(dealId);
    expect(deal.status).toBe(200);
    expect(deal.body).toMatchObject({
      dealId,
      stage: 'identify',
      status: 'open',
      fields: { decisionMaker: 'Jane Roe' },
    });
    expect(deal.body.configVersion).toMatch(/^[0-9a-f]{16}$/);
  });

  it('refuses to start a deal past the first stage, but keeps what the event brought', async () => {
    const dealId = uniqueId('D');
    const { status, body } = await postGeneric({
      eventId: uniqueId('E'),
      dealId,
      stage: 'propose',
      fields: { champion: 'Sam' },
    });
    expect(status).toBe(202);
    expect(body).toMatchObject({ outcome: 'rejected', stage: 'identify' });
    expect(body.reasons).toEqual([expect.objectContaining({ code: 'START_STAGE_NOT_ALLOWED' })]);
    expect((await getDeal(dealId)).body).toMatchObject({ stage: 'identify', fields: { champion: 'Sam' } });
  });

  it('applies a move that arrived before the deal’s creation once the creation arrives', async () => {
    const dealId = uniqueId('D');
    const created = new Date(Date.now() - 120_000).toISOString();
    const moved = new Date(Date.now() - 60_000).toISOString();
    const early = await postGeneric({ eventId: uniqueId('E'), dealId, stage: 'qualify', occurredAt: moved });
    expect(early.body.outcome).toBe('rejected');
    const late = await postGeneric({
      eventId: uniqueId('E'),
      dealId,
      stage: 'identify',
      occurredAt: created,
      fields: EXIT_FIELDS.identify,
    });
    expect(late.body).toMatchObject({ outcome: 'applied', stage: 'qualify' });
    expect((await getDeal(dealId)).body.stage).toBe('qualify');
  });

  it('rejects a forward move with unmet exit criteria, naming the missing fields, and keeps the fields it brought', async () => {
    const dealId = await dealAt('identify');
    const { body } = await postGeneric({
      eventId: uniqueId('E'),
      dealId,
      stage: 'qualify',
      fields: { decisionMaker: 'Jane Roe' },
    });
    expect(body.outcome).toBe('rejected');
    expect(body.stage).toBe('identify');
    expect(body.reasons).toEqual([
      expect.objectContaining({ code: 'EXIT_CRITERIA_UNMET', missing: ['firstMeetingDate'] }),
    ]);
    expect((await getDeal(dealId)).body.fields.decisionMaker).toBe('Jane Roe');
  });

  it('applies a move when the same event supplies the exit criteria', async () => {
    const dealId = await dealAt('identify');
    const { body } = await postGeneric({
      eventId: uniqueId('E'),
      dealId,
      stage: 'qualify',
      fields: EXIT_FIELDS.identify,
    });
    expect(body).toMatchObject({ outcome: 'applied', stage: 'qualify' });
  });

  it('refuses skips with SKIP_NOT_ALLOWED and allows backward moves', async () => {
    const dealId = await dealAt('qualify');
    const skip = await postGeneric({
      eventId: uniqueId('E'),
      dealId,
      stage: 'negotiate',
      fields: { ...EXIT_FIELDS.qualify, ...EXIT_FIELDS.propose },
    });
    expect(skip.body.outcome).toBe('rejected');
    expect(skip.body.reasons).toContainEqual(expect.objectContaining({ code: 'SKIP_NOT_ALLOWED' }));
    const back = await postGeneric({ eventId: uniqueId('E'), dealId, stage: 'identify' });
    expect(back.body).toMatchObject({ outcome: 'applied', stage: 'identify' });
  });

  it('closes lost only from qualify on, with a lostReason', async () => {
    const early = await dealAt('identify');
    const fromIdentify = await postGeneric({
      eventId: uniqueId('E'),
      dealId: early,
      stage: 'closed_lost',
      fields: { lostReason: 'No budget' },
    });
    expect(fromIdentify.body.reasons).toContainEqual(expect.objectContaining({ code: 'CLOSED_LOST_REQUIRES_QUALIFY' }));

    const dealId = await dealAt('qualify');
    const noReason = await postGeneric({ eventId: uniqueId('E'), dealId, stage: 'closed_lost' });
    expect(noReason.body.outcome).toBe('rejected');
    expect(noReason.body.reasons).toContainEqual(expect.objectContaining({ missing: ['lostReason'] }));
    const lost = await postGeneric({
      eventId: uniqueId('E'),
      dealId,
      stage: 'closed_lost',
      fields: { lostReason: 'Chose a competitor' },
    });
    expect(lost.body).toMatchObject({ outcome: 'applied', stage: 'closed_lost' });
    const deal = await getDeal(dealId);
    expect(deal.body.status).toBe('lost');

    const reopen = await postGeneric({ eventId: uniqueId('E'), dealId, stage: 'qualify', fields: { note: 'kept' } });
    expect(reopen.body.outcome).toBe('rejected');
    expect(reopen.body.reasons).toContainEqual(expect.objectContaining({ code: 'DEAL_CLOSED' }));
    expect((await getDeal(dealId)).body.fields.note).toBe('kept');
  });

  it('answers UNKNOWN_STAGE for a stage the pipeline does not have', async () => {
    const dealId = await dealAt('identify');
    const { status, body } = await postGeneric({ eventId: uniqueId('E'), dealId, stage: 'prospecting' });
    expect(status).toBe(202);
    expect(body.reasons).toContainEqual(expect.objectContaining({ code: 'UNKNOWN_STAGE' }));
  });

  it('stores field updates without a stage and removes a field sent as null', async () => {
    const dealId = await dealAt('identify', { extraFields: { budget: 1000, temporary: 'x' } });
    const { body } = await postGeneric({ eventId: uniqueId('E'), dealId, fields: { budget: 2000, temporary: null } });
    expect(body).toMatchObject({ outcome: 'applied', stage: 'identify' });
    const deal = await getDeal(dealId);
    expect(deal.body.fields.budget).toBe(2000);
    expect(deal.body.fields).not.toHaveProperty('temporary');
  });

  it('answers duplicate for a redelivered event and stale for an older move', async () => {
    const dealId = await dealAt('identify');
    const move = {
      eventId: uniqueId('E'),
      dealId,
      stage: 'qualify',
      occurredAt: new Date(Date.now() + 60_000).toISOString(),
      fields: EXIT_FIELDS.identify,
    };
    expect((await postGeneric(move)).body.outcome).toBe('applied');
    expect((await postGeneric(move)).body).toMatchObject({ outcome: 'duplicate', stage: 'qualify' });
    const older = await postGeneric({
      eventId: uniqueId('E'),
      dealId,
      stage: 'identify',
      occurredAt: new Date(Date.now() - 60_000).toISOString(),
    });
    expect(older.body).toMatchObject({ outcome: 'stale', stage: 'qualify' });
    const history = (await getDeal(dealId)).body.history;
    expect(history.filter((h) => h.eventId === move.eventId)).toHaveLength(1);
  });
});

describe('generic webhook: refusals change nothing', () => {
  const event = () => ({ eventId: uniqueId('E'), dealId: uniqueId('D'), stage: 'identify' });

  async function expectNoDeal(dealId: string) {
    expect((await getDeal(dealId)).status).toBe(404);
  }

  it('401 for a wrong secret, an old timestamp and a missing signature', async () => {
    const wrong = event();
    const bad = await postGeneric(wrong, { secret: 'not-the-secret' });
    expect(bad.status).toBe(401);
    expect(bad.body).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    const old = event();
    expect((await postGeneric(old, { timestamp: Math.floor(Date.now() / 1000) - 301 })).status).toBe(401);
    const missing = event();
    const response = await fetch(`${stackUrls().api}/webhooks/generic`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(missing),
    });
    expect(response.status).toBe(401);
    for (const e of [wrong, old, missing]) await expectNoDeal(e.dealId);
  });

  it('400 for malformed JSON and for missing fields, naming them', async () => {
    const malformed = await postGeneric('{"eventId": "x", ');
    expect(malformed.status).toBe(400);
    expect(malformed.body).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
    const missing = await postGeneric(JSON.stringify({ eventId: uniqueId('E'), stage: 'identify' }));
    expect(missing.status).toBe(400);
    const issues = (missing.body.error as { issues: { path: string }[] }).issues;
    expect(issues.map((i) => i.path).join(' ')).toContain('dealId');
  });

  it('413 for a body over 256 KiB and 415 for a wrong content type', async () => {
    const big = { ...event(), fields: { blob: 'x'.repeat(300 * 1024) } };
    expect((await postGeneric(big)).status).toBe(413);
    const wrongType = event();
    const body = JSON.stringify(wrongType);
    const response = await fetch(`${stackUrls().api}/webhooks/generic`, {
      method: 'POST',
      headers: {
        'content-type': 'text/plain',
        'stageflow-signature': signGeneric(body, DEVELOPMENT_SECRETS.GENERIC_WEBHOOK_SECRET),
      },
      body,
    });
    expect(response.status).toBe(415);
    await expectNoDeal(big.dealId);
    await expectNoDeal(wrongType.dealId);
  });

  it('404 for a source that does not exist, naming the sources there are', async () => {
    const body = JSON.stringify(event());
    const response = await fetch(`${stackUrls().api}/webhooks/zoho`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'stageflow-signature': signGeneric(body, DEVELOPMENT_SECRETS.GENERIC_WEBHOOK_SECRET),
      },
      body,
    });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      error: {
        code: 'NOT_FOUND',
        message: "no webhook source 'zoho' — use one of: generic, hubspot, pipedrive, salesforce",
        issues: [],
      },
    });
  });
});

describe('generic webhook: concurrency', () => {
  it('30 different concurrent updates to one deal: none is lost', async () => {
    const dealId = await dealAt('identify');
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        postGeneric({ eventId: uniqueId('E'), dealId, fields: { [`note${i}`]: `value ${i}` } }),
      ),
    );
    expect(results.map((r) => r.body)).toEqual(Array(30).fill(expect.objectContaining({ outcome: 'applied' })));
    const deal = await getDeal(dealId);
    for (let i = 0; i < 30; i++) expect(deal.body.fields[`note${i}`]).toBe(`value ${i}`);
    expect(deal.body.history.filter((h) => h.type === 'fields')).toHaveLength(30);
  });

  it('20 concurrent copies of one move: exactly one applies', async () => {
    const dealId = await dealAt('identify');
    const move = { eventId: uniqueId('E'), dealId, stage: 'qualify', fields: EXIT_FIELDS.identify };
    const results = await Promise.all(Array.from({ length: 20 }, () => postGeneric(move)));
    const outcomes = results.map((r) => r.body.outcome);
    expect(outcomes.filter((o) => o === 'applied')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'duplicate')).toHaveLength(19);
    const deal = await getDeal(dealId);
    expect(deal.body.history.filter((h) => h.eventId === move.eventId)).toHaveLength(1);
  });
});
