import escapeHtml from 'escape-html';
import { askLabel } from '../core/approver-routing.ts';
import { type ChecklistItem, type ColumnTotal, daysBetween, type Insights } from '../core/board.ts';
import { describeCriterion } from '../core/criteria.ts';
import type { Approval, Deal, HistoryEntry } from '../core/deal.ts';
import type { PipelineConfig, StageConfig } from '../core/pipeline-config.ts';
import { type BoardCard, columnTotal } from './board-cards.ts';
import { barChart } from './charts.ts';
import { bulletList, type ErrorPages, factList, htmlDocument } from './page.ts';
import { dealAmount, formatMoney, formatTime, personLabel, shortName } from './wording.ts';

/**
 * The board's pages: server-rendered HTML with every value escaped, no script, charts drawn as inline SVG. They are
 * served with the strict headers every page carries (`PAGE_HEADERS`), so they load nothing from anywhere. Laid out for a phone first: columns stack on a narrow screen and sit side by side on a wide one; every
 * control is a link or a native form field, so the keyboard reaches all of it.
 */

/** How many cards a column shows; the count and the total always cover all of its deals. */
export const MAX_CARDS_PER_COLUMN = 50;

export interface PipelineRef {
  id: string;
  name: string;
}

export interface BoardColumn {
  stage: StageConfig;
  /** The deals of the column that the filters select, longest in the stage first (all of them, or the first ones). */
  cards: BoardCard[];
  /** The column's count and total when `cards` holds only the first deals (from the read model); else from `cards`. */
  totals?: ColumnTotal;
  /** For a closed stage: the column holds the deals closed in this many last days. */
  recentDays?: number;
}

export interface BoardView {
  pipeline: PipelineRef;
  columns: BoardColumn[];
  filters: { owner: string | null; stale: boolean };
}

/** `GET /board`: one column per stage in order, a card per deal, each column's count and total. */
export function boardPage(view: BoardView): string {
  const { pipeline, columns, filters } = view;
  const query = (extra: Record<string, string>) => `?${new URLSearchParams({ pipeline: pipeline.id, ...extra })}`;
  const filtering = filters.owner !== null || filters.stale;
  const open = columns.filter((column) => !column.stage.closed);
  const openCount = open.reduce((sum, column) => sum + (column.totals ?? columnTotal(column.cards)).count, 0);
  const staleShown = open.flatMap((column) => column.cards).filter((card) => card.stale).length;
  const complete = open.every((column) => column.totals === undefined);
  const summary =
    `${openCount} open ${openCount === 1 ? 'deal' : 'deals'}` +
    (complete ? `, ${staleShown} stale` : `, ${staleShown} stale among those shown`) +
    (filters.owner ? ` · owner ${filters.owner}` : '') +
    (filters.stale ? ' · stale only' : '');
  const form = [
    '<form class="filters" method="get" action="/board">',
    `<input type="hidden" name="pipeline" value="${escapeHtml(pipeline.id)}">`,
    '<label for="owner">Owner email</label>',
    `<input id="owner" name="owner" type="email" value="${escapeHtml(filters.owner ?? '')}" placeholder="rep@example.com">`,
    `<label class="check"><input type="checkbox" name="stale" value="1"${filters.stale ? ' checked' : ''}> Stale only</label>`,
    '<button type="submit">Filter</button>',
    filtering ? `<a href="/board${escapeHtml(query({}))}">Clear filters</a>` : '',
    '</form>',
  ].join('\n');
  const board = columns.map((column) => boardColumn(column, pipeline)).join('\n');
  return layout(`${pipeline.name}: board`, pipeline, 'board', [
    `<p class="summary">${escapeHtml(summary)}</p>`,
    form,
    `<div class="board" role="region" aria-label="Stages" tabindex="0">${board}</div>`,
  ]);
}

function boardColumn(column: BoardColumn, pipeline: PipelineRef): string {
  const { stage, cards } = column;
  const { count, total, currency } = column.totals ?? columnTotal(cards);
  const totalText = formatMoney(total, currency);
  const label = column.recentDays === undefined ? '' : ` · last ${column.recentDays} days`;
  const shown = cards.slice(0, MAX_CARDS_PER_COLUMN);
  const more =
    count > shown.length
      ? `<p class="more">${count - shown.length} more, not shown — filter by owner or stale to narrow.</p>`
      : '';
  const list =
    shown.length === 0
      ? '<p class="empty">No deals.</p>'
      : `<ol class="cards">${shown.map((card) => boardCardHtml(card, pipeline)).join('')}</ol>`;
  return [
    `<section class="column${stage.closed ? ` closed ${stage.closed}` : ''}" aria-labelledby="col-${escapeHtml(stage.key)}">`,
    `<h2 id="col-${escapeHtml(stage.key)}">${escapeHtml(stage.name)}</h2>`,
    `<p class="totals"><span class="count">${count} ${count === 1 ? 'deal' : 'deals'}</span> · ` +
      `<span class="total">${escapeHtml(totalText)}</span>${escapeHtml(label)}</p>`,
    list,
    more,
    '</section>',
  ].join('\n');
}

function boardCardHtml(card: BoardCard, pipeline: PipelineRef): string {
  const href = `/board/deals/${encodeURIComponent(card.dealId)}?${new URLSearchParams({ pipeline: pipeline.id })}`;
  const facts = [
    card.owner ? `<span class="owner">${escapeHtml(card.owner)}</span>` : '',
    card.amount ? `<span class="amount">${escapeHtml(card.amount)}</span>` : '',
    `<span class="days">${card.daysInStage} ${card.daysInStage === 1 ? 'day' : 'days'} in stage</span>`,
    card.openCriteria > 0 ? `<span class="open">${card.openCriteria} open exit criteria</span>` : '',
    card.pendingApprovals > 0
      ? `<span class="pending">${card.pendingApprovals} pending ${card.pendingApprovals === 1 ? 'approval' : 'approvals'}</span>`
      : '',
  ].filter((part) => part !== '');
  return [
    `<li class="card${card.stale ? ' is-stale' : ''}">`,
    `<a href="${escapeHtml(href)}">${escapeHtml(card.name)}</a>`,
    card.stale ? ' <strong class="stale">stale</strong>' : '',
    `<p>${facts.join('<br>')}</p>`,
    '</li>',
  ].join('');
}

export interface DealPageView {
  pipeline: PipelineRef;
  deal: Deal;
  /** The deal's stage under its own config version. */
  stage: StageConfig;
  config: PipelineConfig;
  checklist: ChecklistItem[];
  history: HistoryEntry[];
  stale: boolean;
  now: Date;
}

/** `GET /board/deals/{dealId}`: the deal's stage guidance, exit-criteria checklist, approvals and timeline. */
export function dealPage(view: DealPageView): string {
  const { pipeline, deal, stage, config, checklist, history, stale, now } = view;
  const stageName = (key: string | null) => (key ? (config.stages.find((s) => s.key === key)?.name ?? key) : '');
  const days = daysBetween(deal.stageEventAt, now);
  const facts = factList([
    ['Deal id', deal.dealId],
    ['Owner', personLabel(deal.owner)],
    ['Amount', dealAmount(deal)],
    ['Stage', `${stage.name}${stale ? ' (stale)' : ''}`],
    ['In stage since', `${formatTime(deal.stageEventAt)} — ${days} ${days === 1 ? 'day' : 'days'}`],
    ['Status', deal.status],
    ['Waiting to move to', deal.pendingMove ? stageName(deal.pendingMove.to) : null],
  ]);
  const open = checklist.filter((item) => !item.met).length;
  const checklistHtml =
    checklist.length === 0
      ? '<p class="empty">This stage has no exit criteria.</p>'
      : `<ul class="checklist">${checklist.map(checklistItem).join('')}</ul>`;
  const approvals =
    deal.approvals.length === 0
      ? '<p class="empty">No approvals were requested.</p>'
      : table(
          ['Role', 'Stage', 'Status', 'Requested', 'Asked', 'Decided by', 'Decided', 'Comment'],
          deal.approvals.map((a) => [
            a.role,
            stageName(a.stage),
            a.status,
            formatTime(a.requestedAt),
            askedCell(a),
            a.decidedBy ? `${a.decidedBy}${a.onBehalfOf ? ` on behalf of ${a.onBehalfOf}` : ''}` : '',
            a.decidedAt ? formatTime(a.decidedAt) : '',
            a.comment ?? '',
          ]),
        );
  const timeline =
    history.length === 0
      ? '<p class="empty">No history yet.</p>'
      : `<ol class="timeline">${history
          .toReversed()
          .map((entry) => timelineEntry(entry, stageName))
          .join('')}</ol>`;
  return layout(shortName(deal), pipeline, 'deal', [
    stale ? `<p class="problem">Stale: longer than ${stage.staleAfterDays} days in ${escapeHtml(stage.name)}.</p>` : '',
    facts,
    `<h2>${escapeHtml(stage.name)}: what it means</h2>`,
    `<p>${escapeHtml(stage.definition)}</p>`,
    bulletList('Goals', stage.goals, 'h3'),
    bulletList('Actions', stage.actions, 'h3'),
    `<h2>Exit criteria <span class="badge">${open} open</span></h2>`,
    checklistHtml,
    '<h2>Approvals</h2>',
    approvals,
    '<h2>Timeline</h2>',
    timeline,
  ]);
}

function checklistItem(item: ChecklistItem): string {
  const value = item.value === undefined || item.value === null ? 'not set' : displayValue(item.value);
  const what = item.criterion.description ?? describeCriterion(item.criterion);
  return (
    `<li class="${item.met ? 'met' : 'unmet'}"><span class="mark">${item.met ? 'Met' : 'Open'}</span> ` +
    `${escapeHtml(what)} <span class="value">${escapeHtml(item.criterion.field)}: ${escapeHtml(value)}</span></li>`
  );
}

function displayValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** One history entry as a line of the timeline; entry kinds this page does not know yet still show their outcome. */
function timelineEntry(entry: HistoryEntry, stageName: (key: string | null) => string): string {
  const extra = entry as HistoryEntry & { status?: unknown };
  const merged = Array.isArray(entry.from) ? entry.from.join(', ') : '';
  const from = Array.isArray(entry.from) ? null : entry.from;
  const route = from || entry.to ? `${stageName(from) || '—'} → ${stageName(entry.to) || '—'}` : '';
  const title: Record<string, string> = {
    created: `Created in ${stageName(entry.to)}${from ? ` (arrived from CRM pipeline ${from})` : ''}`,
    move: `Move ${route}`,
    fields: 'Fields updated',
    approval: entry.approval ? `Approval by ${entry.approval.role}: ${entry.approval.status}` : 'Approval',
    crm_sync: `CRM write-back${entry.to ? ` (${stageName(entry.to)})` : ''}`,
    config: `Config version ${from ?? '—'} → ${entry.to ?? '—'}`,
    left: `Left for CRM pipeline ${entry.to ?? '—'}`,
    merged: `Deals ${merged} merged into this one`,
    merged_into: `Merged into deal ${entry.to ?? '—'}`,
    deleted: 'Deleted in the CRM',
    restored: 'Restored in the CRM',
  };
  const details = [
    `outcome: ${entry.outcome}`,
    entry.source ? `source: ${entry.source}` : '',
    extra.status !== undefined ? `status: ${displayValue(extra.status)}` : '',
    entry.approval?.decidedBy ? `by ${entry.approval.decidedBy}` : '',
    entry.approval?.onBehalfOf ? `on behalf of ${entry.approval.onBehalfOf}` : '',
  ].filter((part) => part !== '');
  const reasons = entry.reasons.length
    ? `<ul class="reasons">${entry.reasons.map((r) => `<li>${escapeHtml(r.message)}</li>`).join('')}</ul>`
    : '';
  const refused = entry.outcome === 'rejected' || (entry.outcome as string) === 'failed';
  return (
    `<li class="${refused ? 'refused' : ''}"><time datetime="${escapeHtml(entry.at)}">${escapeHtml(formatTime(entry.at))}</time> ` +
    `<strong>${escapeHtml(title[entry.type] ?? entry.type)}</strong> <span class="hint">${escapeHtml(details.join(' · '))}</span>${reasons}</li>`
  );
}

export interface InsightsView {
  pipeline: PipelineRef;
  from: string;
  to: string;
  insights: Insights;
}

/** `GET /board/insights`: the funnel, days in stage, cycle time, win rate and lost reasons of a period, as charts. */
export function insightsPage(view: InsightsView): string {
  const { pipeline, from, to, insights } = view;
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
  return layout(`${pipeline.name}: insights`, pipeline, 'insights', [
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

/** A refusal or an unknown deal or pipeline: a title and a sentence that says what to do. */
export function boardProblemPage(title: string, message: string): string {
  return layout(title, null, 'problem', [
    `<p>${escapeHtml(message)}</p>`,
    '<p><a href="/board">Open the board</a></p>',
  ]);
}

/** What the board answers when a request fails; a refusal keeps its status and says what is wrong. */
export const boardErrorPages: ErrorPages = {
  notFound: (error) => boardProblemPage('Not found', error.message),
  problem: boardProblemPage,
  failureAdvice: 'The page could not be shown. Reload it in a minute.',
  failureLog: 'board request failed',
};

/** Who an approval asked, each with their request's status when it differs from the approval's own. */
function askedCell(approval: Approval): string {
  const asks = approval.asks ?? [];
  const rule = approval.decide === 'all' ? 'all must approve: ' : approval.decide === 'any' ? 'any one decides: ' : '';
  const people = asks.map((ask) => `${askLabel(ask)}${ask.status === approval.status ? '' : ` (${ask.status})`}`);
  return people.length === 0 ? '' : `${rule}${people.join('; ')}`;
}

function table(headings: string[], rows: string[][]): string {
  const head = headings.map((h) => `<th scope="col">${escapeHtml(h)}</th>`).join('');
  const body = rows.map((row) => `<tr>${row.map((cell) => `<td>${escapeHtml(cell)}</td>`).join('')}</tr>`).join('');
  return `<div class="scroll" role="region" aria-label="Approvals" tabindex="0"><table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}

const STYLE = `
body{margin:0;background:#f3f4f6;color:#111;font:15px/1.45 -apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif}
header{background:#1f2937;color:#fff;padding:10px 16px;display:flex;flex-wrap:wrap;gap:4px 16px;align-items:center}
header a{color:#fff}
header .brand{font-weight:700;margin-right:8px}
header a[aria-current]{font-weight:700;text-decoration:none;border-bottom:2px solid #93c5fd}
main{padding:16px;max-width:1600px;margin:0 auto}
h1{font-size:22px;margin:0 0 12px;overflow-wrap:anywhere}
h3{font-size:15px;margin:14px 0 6px}
a{color:#1d4ed8}
a:focus-visible,button:focus-visible,input:focus-visible,[tabindex]:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
.summary,.hint{color:#444}
.filters{display:flex;flex-wrap:wrap;gap:8px 12px;align-items:center;margin:0 0 14px}
.filters input[type=email],.filters input[type=date]{font:inherit;padding:8px;border:1px solid #9ca3af;border-radius:6px;min-width:0}
.filters button{font:inherit;font-weight:600;padding:8px 16px;border:0;border-radius:6px;background:#1d4ed8;color:#fff;cursor:pointer}
.check{display:flex;gap:6px;align-items:center}
.board{display:grid;gap:12px;grid-template-columns:1fr}
@media (min-width:900px){.board{grid-auto-flow:column;grid-auto-columns:minmax(180px,1fr);grid-template-columns:none;overflow-x:auto;padding-bottom:8px}}
.column{background:#e5e7eb;border-radius:8px;padding:10px;min-width:0}
.column.closed{background:#eef2f7}
.column h2{margin:0 0 4px;font-size:16px}
.totals{margin:0 0 8px;color:#333;font-size:14px}
.cards{list-style:none;margin:0;padding:0;display:grid;gap:8px}
.card{background:#fff;border-radius:6px;padding:8px 10px;border-left:4px solid #9ca3af;overflow-wrap:anywhere}
.card a{font-weight:600}
.card p{margin:4px 0 0;font-size:13px;color:#333}
.card.is-stale{border-left-color:#c62828;background:#fff5f5}
.stale{color:#fff;background:#c62828;border-radius:4px;padding:0 6px;font-size:12px}
.open{color:#92400e}
.pending{color:#1e40af}
.empty,.more{color:#555;font-size:13px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:6px 12px;margin:12px 0;background:#fff;padding:12px;border-radius:8px}
.checklist{list-style:none;padding:0;display:grid;gap:6px}
.checklist li{background:#fff;border-radius:6px;padding:8px 10px}
.mark{display:inline-block;min-width:44px;text-align:center;border-radius:4px;font-size:12px;font-weight:700;color:#fff;padding:0 6px}
.met .mark{background:#1e7d32}
.unmet .mark{background:#b45309}
.value{color:#444;font-size:13px;overflow-wrap:anywhere}
.badge{font-size:12px;background:#fde68a;border-radius:10px;padding:1px 8px;font-weight:600}
.scroll{overflow-x:auto}
table{border-collapse:collapse;background:#fff;min-width:100%}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top;font-size:14px}
.timeline{list-style:none;padding:0;display:grid;gap:6px}
.timeline li{background:#fff;border-radius:6px;padding:8px 10px;border-left:4px solid #9ca3af;overflow-wrap:anywhere}
.timeline li.refused{border-left-color:#c62828}
.reasons{margin:4px 0 0;padding-left:18px;color:#8a1c14}
.tiles{display:flex;flex-wrap:wrap;gap:12px}
.tile{background:#fff;border-radius:8px;padding:12px 16px;min-width:180px}
.tile p{margin:0}
.tile-label{color:#444}
.tile-value{font-size:28px;font-weight:700}
.chart{margin:0;background:#fff;border-radius:8px;padding:12px;max-width:760px}
.chart svg{display:block;height:auto}
.chart .label,.chart .note{font-size:13px;fill:#111}
.chart .bar{fill:#1d4ed8}
.chart .bar2{fill:#93c5fd}
figcaption{color:#555;font-size:13px;margin-top:4px}
`;

function layout(title: string, pipeline: PipelineRef | null, current: string, body: string[]): string {
  const q = pipeline ? `?${new URLSearchParams({ pipeline: pipeline.id })}` : '';
  const link = (href: string, label: string, page: string) =>
    `<a href="${escapeHtml(href + q)}"${page === current ? ' aria-current="page"' : ''}>${label}</a>`;
  return htmlDocument(title, STYLE, [
    '<header><span class="brand">Stageflow</span><nav aria-label="Board pages">',
    `${link('/board', 'Board', 'board')} · ${link('/board/insights', 'Insights', 'insights')}`,
    '</nav></header>',
    '<main>',
    `<h1>${escapeHtml(title)}</h1>`,
    ...body.filter((part) => part !== ''),
    '</main>',
  ]);
}
