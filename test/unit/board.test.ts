import { describe, expect, it } from 'vitest';
import { loadPipelineConfig } from '../../functions/adapters/config-files.ts';
import { COUNTER, cardFields, exitChecklist, insightsFrom, isStale, percentile } from '../../functions/core/board.ts';
import type { Deal } from '../../functions/core/deal.ts';
import { boardCard, columnTotal } from '../../functions/views/board-cards.ts';
import { boardPage, dealPage, insightsPage, MAX_CARDS_PER_COLUMN } from '../../functions/views/board-pages.ts';

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
      amountValue: 48000,
      currency: 'EUR',
      daysInStage: 30,
      openCriteria: 1,
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

  it('totals a column in its one currency, or as plain numbers when currencies differ', () => {
    const card = (amount: number, currency?: string) =>
      boardCard(deal({ fields: { amount, ...(currency ? { currency } : {}) } }), stage('qualify'), NOW);
    expect(columnTotal([card(100, 'EUR'), card(50, 'EUR')])).toEqual({ count: 2, total: 150, currency: 'EUR' });
    expect(columnTotal([card(100, 'EUR'), card(50, 'USD')])).toEqual({ count: 2, total: 150, currency: null });
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

  it('escapes every deal value on the board and links each card to its deal', () => {
    const hostile = deal({ dealId: 'D/1?x', dealName: HOSTILE, owner: { name: HOSTILE } });
    const page = boardPage({
      pipeline,
      columns: config.stages.map((s) => ({
        stage: s,
        cards: s.key === 'qualify' ? [boardCard(hostile, s, NOW)] : [],
      })),
      filters: { owner: HOSTILE, stale: false },
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
      pipeline,
      columns: [{ stage: stage('qualify'), cards }],
      filters: { owner: null, stale: false },
    });
    expect(page.match(/<li class="card/g)).toHaveLength(MAX_CARDS_PER_COLUMN);
    expect(page).toContain(`${MAX_CARDS_PER_COLUMN + 5} deals`);
    expect(page).toContain('550');
    expect(page).toContain('5 more, not shown');
  });

  it('escapes the deal page, with refusals and their reasons in the timeline', () => {
    const hostile = deal({ dealName: HOSTILE, fields: { champion: HOSTILE } });
    const page = dealPage({
      pipeline,
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
      pipeline,
      from: '2026-09-01',
      to: '2026-11-30',
      insights: insightsFrom(config, { [COUNTER.lost]: 1, [COUNTER.lostReason(HOSTILE)]: 1 }),
    });
    expect(page.match(/<svg /g)).toHaveLength(3);
    expect(page).not.toContain('<script>');
    expect(page).toContain('&lt;script&gt;');
  });
});
