import { describe, expect, it } from 'vitest';
import { loadPipelineConfig } from '../../functions/adapters/config-files.ts';
import {
  COUNTER,
  cardFields,
  columnTotalFrom,
  exitChecklist,
  insightsFrom,
  isStale,
  ownerIndexFinds,
  ownersFrom,
  ownersMatching,
  percentile,
  totalsContribution,
} from '../../functions/core/board.ts';
import type { Deal } from '../../functions/core/deal.ts';
import type { CrmState } from '../../functions/core/stored-deal.ts';
import { boardCard, columnTotal, columnTotalText } from '../../functions/views/board-cards.ts';
import { boardCsv } from '../../functions/views/board-csv.ts';
import { boardPage, MAX_CARDS_PER_COLUMN } from '../../functions/views/board-pages.ts';
import { crmLink } from '../../functions/views/crm-links.ts';
import { dealPage } from '../../functions/views/deal-page.ts';
import { insightsPage } from '../../functions/views/insights-page.ts';

const { config } = loadPipelineConfig('stage-config/default.yaml');
const stage = (key: string) => {
  const found = config.stages.find((s) => s.key === key);
  if (!found) throw new Error(key);
  return found;
};
const NOW = new Date('2026-12-01T12:00:00Z');
const HOSTILE = '<script>alert("x")</script>&\'';

function deal(overrides: Partial<Deal> = {}): Deal {
  return {
    pipeline: 'default',
    dealId: 'D-1',
    dealName: 'Acme rollout',
    owner: { email: 'rep@example.com', name: 'Riley Rep' },
    stage: 'qualify',
    status: 'open',
    configVersion: 'v1',
    fields: {},
    fieldTimes: {},
    stageEventAt: '2026-11-01T12:00:00.000Z',
    lastEventAt: '2026-11-01T12:00:00.000Z',
    visit: 2,
    approvals: [],
    pendingMove: null,
    createdAt: '2026-10-01T00:00:00.000Z',
    updatedAt: '2026-11-01T00:00:00.000Z',
    ...overrides,
  };
}

describe('board cards', () => {
  it('counts days in stage from the CRM time of the move, open criteria, pending approvals and staleness', () => {
    const card = boardCard(
      deal({
        fields: { champion: 'Sam', amount: '48000', currency: 'EUR' },
        approvals: [{ status: 'pending' }, { status: 'approved' }] as Deal['approvals'],
      }),
      stage('qualify'),
      NOW,
    );
    expect(card).toMatchObject({
      name: 'Acme rollout',
      owner: 'Riley Rep',
      amount: '€48,000.00',
      summable: { kind: 'summed', value: 48000, currency: 'EUR' },
      daysInStage: 30,
      openCriteria: ['The budget is confirmed'],
      pendingApprovals: 1,
      stale: true,
    });
  });

  it('is stale only after more than staleAfterDays, and never in a closed stage', () => {
    const qualify = stage('qualify');
    const days = (n: number) => new Date(NOW.getTime() - n * 86_400_000).toISOString();
    expect(isStale(qualify, days(21), NOW)).toBe(false);
    expect(isStale(qualify, days(21.01), NOW)).toBe(true);
    expect(isStale(stage('closed_won'), days(400), NOW)).toBe(false);
  });

  it('totals a column per currency, never adding different currencies, and leaves out inexact amounts', () => {
    const card = (amount: number | string, currency?: string) =>
      boardCard(deal({ fields: { amount, ...(currency ? { currency } : {}) } }), stage('qualify'), NOW);
    const total = columnTotal([
      card(150_000, 'USD'),
      card(67_000, 'EUR'),
      card(54_000, 'USD'),
      card('10000000000000000', 'USD'),
      card(5),
    ]);
    expect(total).toEqual({
      count: 5,
      sums: [
        { currency: 'USD', total: 204_000 },
        { currency: 'EUR', total: 67_000 },
        { currency: null, total: 5 },
      ],
      unsummed: 1,
    });
    expect(columnTotalText(total)).toBe('5 deals · $204,000 · €67,000 · 5 · 1 amount not added (not an exact number)');
    expect(columnTotalText(columnTotal([]))).toBe('No deals');
  });

  it('keeps the same per-currency totals and the owners in the read model', () => {
    const deals = [
      deal({ fields: { amount: 100, currency: 'USD' } }),
      deal({ fields: { amount: 40, currency: 'EUR' }, owner: { email: 'eve@example.com', name: 'Eve #1' } }),
      deal({ fields: { amount: 2 ** 60, currency: 'USD' } }),
    ];
    const totals: Record<string, number> = {};
    for (const d of deals) {
      for (const [name, n] of Object.entries(totalsContribution(d))) totals[name] = (totals[name] ?? 0) + n;
    }
    expect(columnTotalFrom('qualify', totals)).toEqual({
      count: 3,
      sums: [
        { currency: 'USD', total: 100 },
        { currency: 'EUR', total: 40 },
      ],
      unsummed: 1,
    });
    const owners = ownersFrom(totals);
    expect(owners).toEqual([
      { email: 'eve@example.com', name: 'Eve #1', openDeals: 1 },
      { email: 'rep@example.com', name: 'Riley Rep', openDeals: 2 },
    ]);
    expect(ownersMatching('EVE@example.com', owners)[0]).toEqual({ email: 'eve@example.com', name: 'Eve #1' });
    expect(ownersMatching('riley rep', owners)[0]).toEqual({ email: 'rep@example.com', name: 'Riley Rep' });
    expect(ownersMatching(' Nobody ', owners)).toEqual([{ email: 'Nobody' }, { name: 'Nobody' }]);
    // The owner index finds every name, and the addresses the read model knows.
    expect(ownerIndexFinds('Someone New', owners)).toBe(true);
    expect(ownerIndexFinds('EVE@example.com', owners)).toBe(true);
    expect(ownerIndexFinds('new@example.com', owners)).toBe(false);
  });

  it('names up to two open criteria and marks a refused move and a rejected approval', () => {
    const refused = boardCard(
      {
        ...deal({
          approvals: [
            { status: 'rejected', visit: 2 },
            { status: 'rejected', visit: 1 },
          ] as Deal['approvals'],
        }),
        lastDecision: { kind: 'event', outcome: 'rejected', target: 'propose' },
      },
      stage('qualify'),
      NOW,
    );
    expect(refused).toMatchObject({ refused: true, rejectedApproval: true });
    expect(refused.openCriteria).toEqual(['An internal champion is established', 'The budget is confirmed']);
    const calm = boardCard({ ...deal(), lastDecision: { kind: 'event', outcome: 'applied' } }, stage('qualify'), NOW);
    expect(calm).toMatchObject({ refused: false, rejectedApproval: false });
  });

  it('reads only the amount fields and the exit-criteria fields of the stage', () => {
    expect(cardFields('identify', [config])).toEqual(
      expect.arrayContaining(['amount', 'decisionMaker', 'firstMeetingDate']),
    );
    expect(cardFields('identify', [config])).not.toContain('champion');
  });

  it('lists the checklist met or open with the value', () => {
    expect(exitChecklist(stage('qualify'), { champion: 'Sam', budgetConfirmed: 'no' })).toEqual([
      expect.objectContaining({ met: true, value: 'Sam' }),
      expect.objectContaining({ met: false, value: 'no' }),
    ]);
  });
});

describe('insight figures', () => {
  it('takes the nearest-rank median and 90th percentile of a histogram of days', () => {
    const histogram = new Map([
      [1, 5],
      [3, 4],
      [10, 1],
    ]);
    expect(percentile(histogram, 0.5)).toBe(1);
    expect(percentile(histogram, 0.9)).toBe(3);
    expect(percentile(histogram, 1)).toBe(10);
    expect(percentile(new Map(), 0.5)).toBeNull();
  });

  it('builds the funnel, win rate, dwell and lost reasons from counters', () => {
    const insights = insightsFrom(config, {
      [COUNTER.entered('identify')]: 10,
      [COUNTER.entered('qualify')]: 5,
      [COUNTER.entered('closed_won')]: 2,
      [COUNTER.won]: 2,
      [COUNTER.lost]: 2,
      [COUNTER.dwell('identify', 2)]: 3,
      [COUNTER.dwell('identify', 8)]: 1,
      [COUNTER.cycle(40)]: 2,
      [COUNTER.lostReason('Budget')]: 1,
      [COUNTER.lostReason('Timing')]: 1,
    });
    expect(insights.funnel.map((s) => [s.stage.key, s.entered, s.conversion])).toEqual([
      ['identify', 10, 0.5],
      ['qualify', 5, 0],
      ['propose', 0, null],
      ['negotiate', 0, null],
      ['deliver', 0, null],
      ['closed_won', 2, null],
    ]);
    expect(insights.winRate).toBe(0.5);
    expect(insights.dwell[0]).toMatchObject({ exits: 4, medianDays: 2, p90Days: 8 });
    expect(insights.medianCycleDays).toBe(40);
    expect(insights.lostReasons).toEqual([
      { reason: 'Budget', count: 1 },
      { reason: 'Timing', count: 1 },
    ]);
  });
});

describe('board pages', () => {
  const pipeline = { id: 'default', name: config.name };
  const place = (page: 'board' | 'deal' | 'insights') => ({ pipeline, pipelines: [pipeline], page });

  it('offers the other pipelines only when there are several', () => {
    const other = { id: 'partners', name: 'Partner deals' };
    const one = insightsPage({
      place: place('insights'),
      from: '2026-09-01',
      to: '2026-11-30',
      insights: insightsFrom(config, {}),
    });
    expect(one).not.toContain('aria-label="Pipelines"');
    const two = insightsPage({
      place: { pipeline, pipelines: [pipeline, other], page: 'insights' },
      from: '2026-09-01',
      to: '2026-11-30',
      insights: insightsFrom(config, {}),
    });
    expect(two).toContain('href="/board/insights?pipeline=partners">Partner deals</a>');
  });

  it('exports the cards as CSV with amounts and currencies apart, and no cell a spreadsheet runs', () => {
    const card = boardCard(
      deal({ dealName: '=HYPERLINK("http://x")', fields: { amount: 1200.5, currency: 'USD' } }),
      stage('qualify'),
      NOW,
    );
    const csv = boardCsv([{ stage: stage('qualify'), cards: [card] }]);
    const [header, row] = csv.replace(/^\uFEFF/, '').split('\r\n');
    expect(header).toBe('Deal,Deal id,Owner,Owner email,Stage,Amount,Currency,Days in stage,Open exit criteria');
    expect(row).toBe(
      `"'=HYPERLINK(""http://x"")",D-1,Riley Rep,rep@example.com,Qualify,1200.5,USD,30,An internal champion is established; The budget is confirmed`,
    );
  });

  it('links a deal to its CRM when its CRM state says where it lives', () => {
    expect(crmLink('123', { source: 'hubspot', writes: [], portalId: '4711' }, {})?.href).toBe(
      'https://app.hubspot.com/contacts/4711/record/0-3/123',
    );
    expect(crmLink('9', { source: 'pipedrive', writes: [] }, { pipedrive: 'https://acme.pipedrive.com/' })?.href).toBe(
      'https://acme.pipedrive.com/deal/9',
    );
    expect(
      crmLink('006A', { source: 'salesforce', writes: [], instanceUrl: 'https://acme.my.salesforce.com' }, {})?.href,
    ).toBe('https://acme.my.salesforce.com/lightning/r/Opportunity/006A/view');
    const named: CrmState = { source: 'pipedrive', writes: [], host: 'acme.pipedrive.com' };
    expect(crmLink('9', named, {})?.href).toBe('https://acme.pipedrive.com/deal/9');
    expect(crmLink('9', named, { pipedrive: 'https://eu.pipedrive.example' })?.href).toBe(
      'https://eu.pipedrive.example/deal/9',
    );
    expect(crmLink('9', { source: 'pipedrive', writes: [] }, {})).toBeNull();
    expect(crmLink('123', { source: 'hubspot', writes: [] }, {})).toBeNull();
    expect(crmLink('123', undefined, {})).toBeNull();
  });

  it('escapes every deal value on the board and links each card to its deal', () => {
    const hostile = deal({ dealId: 'D/1?x', dealName: HOSTILE, owner: { name: HOSTILE } });
    const page = boardPage({
      place: place('board'),
      columns: config.stages.map((s) => ({
        stage: s,
        cards: s.key === 'qualify' ? [boardCard(hostile, s, NOW)] : [],
      })),
      filters: { owner: HOSTILE, q: HOSTILE, stale: false },
      owners: [{ email: null, name: HOSTILE, openDeals: 1 }],
    });
    expect(page).not.toContain('<script>');
    expect(page).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;');
    expect(page).toContain('href="/board/deals/D%2F1%3Fx?pipeline=default"');
    for (const s of config.stages) expect(page).toContain(`>${s.name}</h2>`);
  });

  it('shows at most a page of cards per column but counts them all', () => {
    const cards = Array.from({ length: MAX_CARDS_PER_COLUMN + 5 }, (_, n) =>
      boardCard(deal({ dealId: `D-${n}`, fields: { amount: 10 } }), stage('qualify'), NOW),
    );
    const page = boardPage({
      place: place('board'),
      columns: [{ stage: stage('qualify'), cards }],
      filters: { owner: null, q: null, stale: false },
      owners: [],
    });
    expect(page.match(/<li class="card/g)).toHaveLength(MAX_CARDS_PER_COLUMN);
    expect(page).toContain(`${MAX_CARDS_PER_COLUMN + 5} deals`);
    expect(page).toContain('550');
    expect(page).toContain('5 more, not shown');
  });

  it('escapes the deal page, with refusals and their reasons in the timeline', () => {
    const hostile = deal({ dealName: HOSTILE, fields: { champion: HOSTILE } });
    const page = dealPage({
      place: place('deal'),
      crm: null,
      deal: hostile,
      stage: stage('qualify'),
      config,
      checklist: exitChecklist(stage('qualify'), hostile.fields),
      history: [
        {
          at: '2026-11-02T00:00:00Z',
          type: 'move',
          from: 'qualify',
          to: 'propose',
          outcome: 'rejected',
          eventId: 'e',
          source: 'generic',
          reasons: [
            { code: 'EXIT_CRITERIA_UNMET', message: `missing ${HOSTILE}`, stage: 'qualify', missing: [HOSTILE] },
          ],
        },
      ],
      stale: true,
      now: NOW,
    });
    expect(page).not.toContain('<script>');
    expect(page).toContain('Move Qualify → Propose');
    expect(page).toContain('missing &lt;script&gt;');
    expect(page).toContain('class="refused"');
    expect(page).toContain(stage('qualify').definition);
  });

  it('draws the insights as inline SVG charts with escaped labels', () => {
    const page = insightsPage({
      place: place('insights'),
      from: '2026-09-01',
      to: '2026-11-30',
      insights: insightsFrom(config, { [COUNTER.lost]: 1, [COUNTER.lostReason(HOSTILE)]: 1 }),
    });
    expect(page.match(/<svg /g)).toHaveLength(3);
    expect(page).not.toContain('<script>');
    expect(page).toContain('&lt;script&gt;');
  });
});
