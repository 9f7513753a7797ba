import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { InsightsStore } from '../../functions/adapters/insights-store.ts';
import { COUNTER } from '../../functions/core/board.ts';
import type { Deal } from '../../functions/core/deal.ts';
import type { StoredDeal } from '../../functions/core/stored-deal.ts';
import { projectInsights } from '../../functions/usecases/effects/insights-projection.ts';
import { EXIT_FIELDS } from '../../infra/local/default-story.ts';
import { postGeneric, stackUrls, uniqueId, waitFor } from '../support/api.ts';
import { localDynamoDb, scratchTable } from '../support/local-table.ts';

const DAY_MS = 86_400_000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY_MS).toISOString();
const HOSTILE = '<script>alert("board")</script>';

async function page(path: string) {
  const response = await fetch(`${stackUrls().api}${path}`);
  return { status: response.status, headers: response.headers, html: await response.text() };
}

/** Sends one generic event and expects the given outcome. */
async function send(event: Parameters<typeof postGeneric>[0], outcome = 'applied') {
  const result = await postGeneric(event);
  expect(result.body).toMatchObject({ outcome });
}

/** Three deals of one owner: stale in qualify (with a refused move), fresh in identify, and lost two days ago. */
async function ownersDeals() {
  const owner = { email: `${uniqueId('owner').toLowerCase()}@example.com`, name: 'Board Owner' };
  const stale = uniqueId('STALE');
  const fresh = uniqueId('FRESH');
  const lost = uniqueId('LOST');
  const lostReason = uniqueId('Budget cut');
  await send({
    eventId: uniqueId('E'),
    dealId: stale,
    stage: 'identify',
    occurredAt: daysAgo(60),
    dealName: HOSTILE,
    owner,
    fields: { amount: 1000, currency: 'EUR' },
  });
  await send({
    eventId: uniqueId('E'),
    dealId: stale,
    stage: 'qualify',
    occurredAt: daysAgo(40),
    fields: EXIT_FIELDS.identify,
  });
  await send({ eventId: uniqueId('E'), dealId: stale, stage: 'propose', occurredAt: daysAgo(1) }, 'rejected');
  await send({
    eventId: uniqueId('E'),
    dealId: fresh,
    stage: 'identify',
    dealName: 'Fresh deal',
    owner,
    fields: { amount: 500, currency: 'EUR' },
  });
  await send({
    eventId: uniqueId('E'),
    dealId: lost,
    stage: 'identify',
    occurredAt: daysAgo(50),
    dealName: 'Lost deal',
    owner,
  });
  await send({
    eventId: uniqueId('E'),
    dealId: lost,
    stage: 'qualify',
    occurredAt: daysAgo(45),
    fields: EXIT_FIELDS.identify,
  });
  await send({
    eventId: uniqueId('E'),
    dealId: lost,
    stage: 'closed_lost',
    occurredAt: daysAgo(2),
    fields: { lostReason },
  });
  return { owner, stale, fresh, lost, lostReason };
}

describe('the board on the local stack', () => {
  it('shows a column per stage with cards, counts, totals and the stale mark; filters by owner and stale', async () => {
    const { owner, stale, fresh, lost } = await ownersDeals();
    const board = await page(`/board?pipeline=default&owner=${encodeURIComponent(owner.email)}`);
    expect(board.status).toBe(200);
    expect(board.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(board.headers.get('content-type')).toContain('text/html');
    const columns = [...board.html.matchAll(/<h2 id="col-([a-z_]+)">/g)].map((m) => m[1]);
    expect(columns).toEqual(['identify', 'qualify', 'propose', 'negotiate', 'deliver', 'closed_won', 'closed_lost']);
    expect(board.html).not.toContain(HOSTILE);
    expect(board.html).toContain('&lt;script&gt;alert(&quot;board&quot;)&lt;/script&gt;');
    for (const id of [stale, fresh, lost]) expect(board.html).toContain(`/board/deals/${id}?pipeline=default`);
    const staleCard = board.html.slice(board.html.indexOf(`/board/deals/${stale}`) - 40);
    expect(staleCard.slice(0, 600)).toMatch(
      /is-stale[\s\S]*stale<\/strong>[\s\S]*move refused[\s\S]*40 days in stage[\s\S]*Missing: An internal champion is established; The budget is confirmed/,
    );
    expect(board.html).toContain('€1,000.00');

    const staleOnly = await page(`/board?pipeline=default&owner=${encodeURIComponent(owner.email)}&stale=1`);
    expect(staleOnly.status).toBe(200);
    expect(staleOnly.html).toContain(`/board/deals/${stale}`);
    expect(staleOnly.html).not.toContain(`/board/deals/${fresh}`);
    expect(staleOnly.html).not.toContain(`/board/deals/${lost}`);
  });

  it('shows a deal with its stage guidance, checklist and timeline including the refusal and its reasons', async () => {
    const { stale } = await ownersDeals();
    const deal = await page(`/board/deals/${stale}?pipeline=default`);
    expect(deal.status).toBe(200);
    expect(deal.html).not.toContain(HOSTILE);
    expect(deal.html).toContain('Qualify: what it means');
    expect(deal.html).toContain('Establish internal champion');
    expect(deal.html).toMatch(/<span class="mark">Open<\/span> An internal champion is established/);
    expect(deal.html).toContain('Stale: longer than 21 days in Qualify');
    expect(deal.html).toMatch(/class="refused"[\s\S]*Move Qualify → Propose[\s\S]*To leave Qualify, these must hold/);
  });

  it('shows the insights of a period from the read model, with the lost reason', async () => {
    const { lostReason } = await ownersDeals();
    // The outbox projects each change after it is committed: the read model catches up within moments.
    const insights = await waitFor(async () => {
      const answer = await page(`/board/insights?pipeline=default&from=${daysAgo(70).slice(0, 10)}`);
      return answer.html.includes(lostReason) ? answer : undefined;
    }, 'the lost reason in the insights');
    expect(insights.status).toBe(200);
    expect(insights.html.match(/<svg /g)).toHaveLength(3);
    expect(insights.html).toContain(lostReason);
    expect(insights.html).toMatch(/Win rate/);
  });

  it('finds an owner by name or address in any case, offers the owners, and searches deals by name or id', async () => {
    const { owner, stale, fresh, lost } = await ownersDeals();
    const shouting = await page(`/board?pipeline=default&owner=${encodeURIComponent(owner.email.toUpperCase())}`);
    for (const id of [stale, fresh, lost]) expect(shouting.html).toContain(`/board/deals/${id}?`);
    const byName = await page('/board?pipeline=default&owner=board%20owner');
    for (const id of [stale, fresh]) expect(byName.html).toContain(`/board/deals/${id}?`);
    // The owners to pick from come from the read model, which the outbox keeps moments after each change.
    await waitFor(async () => {
      const board = await page('/board?pipeline=default');
      return board.html.includes(`<option value="${owner.email}">Board Owner (${owner.email})</option>`) || undefined;
    }, 'the owner among the options');
    const search = await page(`/board?pipeline=default&q=${encodeURIComponent(fresh.slice(2).toLowerCase())}`);
    expect(search.html).toContain(`/board/deals/${fresh}?`);
    expect(search.html).not.toContain(`/board/deals/${stale}?`);
    expect(search.html).not.toContain(`/board/deals/${lost}?`);
  });

  it('totals each column per currency, never adding different currencies', async () => {
    const owner = { email: `${uniqueId('cur').toLowerCase()}@example.com`, name: 'Currency Owner' };
    for (const [amount, currency] of [
      [150_000, 'USD'],
      [67_000, 'EUR'],
      [54_000, 'USD'],
    ] as const) {
      await send({
        eventId: uniqueId('E'),
        dealId: uniqueId('CUR'),
        stage: 'identify',
        owner,
        fields: { amount, currency },
      });
    }
    const board = await page(`/board?pipeline=default&owner=${encodeURIComponent(owner.email)}`);
    expect(board.html).toContain('<p class="totals">3 deals · $204,000 · €67,000</p>');
    expect(board.html).toContain('<p class="totals">No deals</p>');
    // Unfiltered, the totals come from the read model, which the outbox keeps moments after each change.
    const identify = await waitFor(async () => {
      const whole = await page('/board?pipeline=default');
      const text = /<h2 id="col-identify">Identify<\/h2>\s*<p class="totals">([^<]*)<\/p>/.exec(whole.html)?.[1] ?? '';
      return text.includes('$') ? text : undefined;
    }, 'the dollar total of Identify');
    expect(identify).toMatch(/^\d+ deals( · (\$|€)[\d,.]+){2}/);
  });

  it('exports the deals the filters select as CSV, with no cell a spreadsheet would run', async () => {
    const owner = { email: `${uniqueId('csv').toLowerCase()}@example.com`, name: 'Csv Owner' };
    const dealId = uniqueId('CSV');
    await send({
      eventId: uniqueId('E'),
      dealId,
      stage: 'identify',
      owner,
      dealName: '=SUM(A1:A9)',
      fields: { amount: 1200, currency: 'GBP' },
    });
    const response = await fetch(`${stackUrls().api}/board/export.csv?pipeline=default&owner=${owner.email}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/csv');
    expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename="default-deals-/);
    const lines = (await response.text())
      .replace(/^\uFEFF/, '')
      .trim()
      .split('\r\n');
    expect(lines).toEqual([
      'Deal,Deal id,Owner,Owner email,Stage,Amount,Currency,Days in stage,Open exit criteria',
      `'=SUM(A1:A9),${dealId},Csv Owner,${owner.email},Identify,1200,GBP,0,` +
        'The targeted decision maker is named; The first meeting is on the calendar',
    ]);
  });

  it('links a deal to its CRM and shows each event at the CRM time, with the received time when it differs', async () => {
    const { stale } = await ownersDeals();
    const db = localDynamoDb();
    const key = { pk: `DEAL#default#${stale}`, sk: 'DEAL' };
    // The CRM link is written straight into the item: only once the deal's execution waits in its stage, so that no
    // workflow write of the item (which puts the whole item) can land after it.
    await waitFor(async () => {
      const { Item } = await db.send(new GetCommand({ TableName: 'stageflow', Key: key, ConsistentRead: true }));
      const workflow = Item?.workflow as StoredDeal['workflow'] | undefined;
      return workflow?.waitStage === 'qualify' && workflow.waitToken ? true : undefined;
    }, `${stale}'s execution waiting in qualify`);
    await db.send(
      new UpdateCommand({
        TableName: 'stageflow',
        Key: key,
        UpdateExpression: 'SET crm = :crm',
        ExpressionAttributeValues: { ':crm': { source: 'hubspot', writes: [], portalId: '4711' } },
      }),
    );
    const deal = await page(`/board/deals/${stale}?pipeline=default`);
    expect(deal.html).toContain(`href="https://app.hubspot.com/contacts/4711/record/0-3/${stale}"`);
    const entered =
      /<time datetime="([^"]+)">[^<]*<\/time> <span class="hint">\(received [^)]*\)<\/span> <strong>Move Identify → Qualify/.exec(
        deal.html,
      );
    expect(Date.now() - Date.parse(entered?.[1] ?? '')).toBeGreaterThan(39 * DAY_MS);
    expect((await fetch(`${stackUrls().api}/`, { redirect: 'manual' })).headers.get('location')).toBe('/board');
  });

  it('answers bad parameters with a 400 page and unknown deals or pipelines with a 404 page', async () => {
    for (const path of [
      '/board?stale=yes',
      `/board?owner=${'x'.repeat(201)}`,
      '/board/insights?from=2026-02-30',
      '/board/insights?from=2026-12-01&to=2026-11-01',
    ]) {
      const refused = await page(path);
      expect(refused.status, path).toBe(400);
      expect(refused.headers.get('content-type')).toContain('text/html');
    }
    for (const path of [
      '/board?pipeline=nope',
      '/board/deals/never-seen?pipeline=default',
      '/board/insights?pipeline=nope',
    ]) {
      expect((await page(path)).status, path).toBe(404);
    }
  });
});

describe('the insights projection on DynamoDB Local', () => {
  it('counts a change once however often it is delivered, and ignores field updates', async () => {
    const { db, tableName } = await scratchTable('insights');
    const insights = new InsightsStore(db, tableName);
    const stored = (version: number, deal: Partial<Deal>): StoredDeal => ({
      version,
      workflow: { executionArn: null, generation: 0, waitToken: null, waitStage: null, notifiedVisit: 0 },
      deal: {
        pipeline: 'p',
        dealId: 'D',
        dealName: null,
        owner: null,
        stage: 'identify',
        status: 'open',
        configVersion: 'v',
        fields: {},
        fieldTimes: {},
        stageEventAt: '2026-11-01T00:00:00.000Z',
        lastEventAt: '2026-11-01T00:00:00.000Z',
        visit: 1,
        approvals: [],
        pendingMove: null,
        createdAt: '2026-11-01T00:00:00.000Z',
        updatedAt: '2026-11-01T00:00:00.000Z',
        ...deal,
      },
    });
    const created = { before: null, after: stored(1, {}) };
    const fields = { before: created.after, after: stored(2, { fields: { a: 1 } }) };
    const moved = {
      before: fields.after,
      after: stored(3, {
        stage: 'closed_lost',
        status: 'lost',
        stageEventAt: '2026-11-04T06:00:00.000Z',
        fields: { lostReason: 'Price' },
      }),
    };
    expect(await projectInsights(created, { insights })).toBe('projected');
    expect(await projectInsights(created, { insights })).toBe('duplicate');
    expect(await projectInsights(fields, { insights })).toBe('unchanged');
    expect(await projectInsights(moved, { insights })).toBe('projected');
    expect(await Promise.all([projectInsights(moved, { insights }), projectInsights(created, { insights })])).toEqual([
      'duplicate',
      'duplicate',
    ]);
    expect(await insights.sum('p', '2026-11-01', '2026-11-30')).toEqual({
      [COUNTER.entered('identify')]: 1,
      [COUNTER.entered('closed_lost')]: 1,
      [COUNTER.dwell('identify', 3)]: 1,
      [COUNTER.lost]: 1,
      [COUNTER.lostReason('Price')]: 1,
    });
    expect(await insights.sum('p', '2026-11-02', '2026-11-03')).toEqual({});
    // The board's open-deal totals: the deal counted in identify on creation, taken out when it closed.
    expect(await insights.totals('p')).toEqual({ 'count#identify': 0 });
  });
});
