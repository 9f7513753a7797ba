import escapeHtml from 'escape-html';
import type { Insights } from '../core/board.ts';
import { boardLayout, type PagePlace } from './board-layout.ts';
import { barChart } from './charts.ts';

/** What the insights page shows: a period's figures from the read model. */
export interface InsightsView {
  place: PagePlace;
  from: string;
  to: string;
  insights: Insights;
}

/** `GET /board/insights`: the funnel, days in stage, cycle time, win rate and lost reasons of a period, as charts. */
export function insightsPage(view: InsightsView): string {
  const { from, to, insights } = view;
  const pipeline = view.place.pipeline;
  const percent = (share: number | null) => (share === null ? '—' : `${Math.round(share * 100)}%`);
  const daysText = (days: number | null) => (days === null ? '—' : `${days} ${days === 1 ? 'day' : 'days'}`);
  const form = [
    '<form class="filters" method="get" action="/board/insights">',
    `<input type="hidden" name="pipeline" value="${escapeHtml(pipeline.id)}">`,
    `<label for="from">From</label><input id="from" name="from" type="date" value="${escapeHtml(from)}">`,
    `<label for="to">To</label><input id="to" name="to" type="date" value="${escapeHtml(to)}">`,
    '<button type="submit">Show</button>',
    '</form>',
  ].join('\n');
  const tiles = [
    ['Win rate', percent(insights.winRate), `${insights.won} won, ${insights.lost} lost`],
    [
      'Median cycle to won',
      daysText(insights.medianCycleDays),
      `over ${insights.cycles} won ${insights.cycles === 1 ? 'deal' : 'deals'}`,
    ],
  ]
    .map(
      ([label, value, note]) =>
        `<div class="tile"><p class="tile-label">${escapeHtml(label ?? '')}</p><p class="tile-value">${escapeHtml(value ?? '')}</p>` +
        `<p class="hint">${escapeHtml(note ?? '')}</p></div>`,
    )
    .join('');
  const funnel = barChart(
    'funnel',
    'Deals that entered each stage',
    insights.funnel.map((step) => ({
      label: step.stage.name,
      value: step.entered,
      note: step.conversion === null ? `${step.entered}` : `${step.entered} · ${percent(step.conversion)} to next`,
    })),
  );
  const dwell = barChart(
    'dwell',
    'Days in stage: median (dark) and 90th percentile (light)',
    insights.dwell.map((row) => ({
      label: row.stage.name,
      value: row.medianDays ?? 0,
      second: row.p90Days ?? 0,
      note: row.exits === 0 ? 'no exits' : `median ${daysText(row.medianDays)} · p90 ${daysText(row.p90Days)}`,
    })),
  );
  const lost =
    insights.lostReasons.length === 0
      ? '<p class="empty">No deals were lost in this period.</p>'
      : barChart(
          'lost',
          'Lost reasons',
          insights.lostReasons.map((row) => ({ label: row.reason, value: row.count, note: `${row.count}` })),
        );
  return boardLayout(`${pipeline.name}: insights`, view.place, [
    form,
    `<p class="summary">${escapeHtml(`${from} to ${to}, by the CRM's time of each move`)}</p>`,
    `<div class="tiles">${tiles}</div>`,
    '<h2>Funnel</h2>',
    funnel,
    '<h2>Days in stage</h2>',
    dwell,
    '<h2>Lost reasons</h2>',
    lost,
  ]);
}
