import escapeHtml from 'escape-html';
import type { ColumnTotal, PipelineOwner } from '../core/board.ts';
import type { StageConfig } from '../core/pipeline-config.ts';
import { type BoardCard, CRITERIA_NAMED_ON_CARD, columnTotal, columnTotalText } from './board-cards.ts';
import { boardLayout, type PagePlace, type PipelineRef, pipelineQuery } from './board-layout.ts';
import type { ErrorPages } from './page.ts';

/**
 * The board page: server-rendered HTML with every value escaped, no script. It is served with the strict headers
 * every page carries (`PAGE_HEADERS`), so it loads nothing from anywhere. Columns stack on a narrow screen and sit
 * side by side on a wide one.
 */

/** How many cards a column shows; the count and the total always cover all of its deals. */
export const MAX_CARDS_PER_COLUMN = 50;

export interface BoardColumn {
  stage: StageConfig;
  /** The deals of the column that the filters select, longest in the stage first (all of them, or the first ones). */
  cards: BoardCard[];
  /** The column's count and total when `cards` holds only the first deals (from the read model); else from `cards`. */
  totals?: ColumnTotal;
  /** For a closed stage: the column holds the deals closed in this many last days. */
  recentDays?: number;
}

/** The board's filters as the request gave them. */
export interface BoardFilters {
  /** The owner typed or picked (an address or a name), as given. */
  owner: string | null;
  /** Text a deal's name or id contains. */
  q: string | null;
  stale: boolean;
}

export interface BoardView {
  place: PagePlace;
  columns: BoardColumn[];
  filters: BoardFilters;
  /** The pipeline's owners of open deals, to pick from. */
  owners: PipelineOwner[];
}

/** The query parameters of the board's filters, for links that keep them (the CSV export). */
export function filterParameters(filters: BoardFilters): Record<string, string> {
  const parameters: Record<string, string> = {};
  if (filters.owner) parameters.owner = filters.owner;
  if (filters.q) parameters.q = filters.q;
  if (filters.stale) parameters.stale = '1';
  return parameters;
}

/** `GET /board`: one column per stage in order, a card per deal, each column's count and totals per currency. */
export function boardPage(view: BoardView): string {
  const { columns, filters } = view;
  const pipeline = view.place.pipeline;
  const filtering = filters.owner !== null || filters.q !== null || filters.stale;
  const open = columns.filter((column) => !column.stage.closed);
  const openCount = open.reduce((sum, column) => sum + (column.totals ?? columnTotal(column.cards)).count, 0);
  const staleShown = open.flatMap((column) => column.cards).filter((card) => card.stale).length;
  const complete = open.every((column) => column.totals === undefined);
  const summary =
    `${openCount} open ${openCount === 1 ? 'deal' : 'deals'}` +
    (complete ? `, ${staleShown} stale` : `, ${staleShown} stale among those shown`) +
    (filters.owner ? ` · owner ${filters.owner}` : '') +
    (filters.q ? ` · matching “${filters.q}”` : '') +
    (filters.stale ? ' · stale only' : '');
  const exportHref = `/board/export.csv${pipelineQuery(pipeline.id, filterParameters(filters))}`;
  const form = [
    '<form class="filters" method="get" action="/board">',
    `<input type="hidden" name="pipeline" value="${escapeHtml(pipeline.id)}">`,
    '<label for="owner">Owner</label>',
    ownerPicker(view.owners, filters.owner),
    '<label for="q">Search</label>',
    `<input id="q" name="q" type="search" value="${escapeHtml(filters.q ?? '')}" placeholder="Deal name or id">`,
    `<label class="check"><input type="checkbox" name="stale" value="1"${filters.stale ? ' checked' : ''}> Stale only</label>`,
    '<button type="submit">Filter</button>',
    filtering ? `<a href="/board${escapeHtml(pipelineQuery(pipeline.id))}">Clear filters</a>` : '',
    `<a href="${escapeHtml(exportHref)}" download>Export CSV</a>`,
    '</form>',
  ].join('\n');
  const board = columns.map((column) => boardColumn(column, pipeline)).join('\n');
  return boardLayout(`${pipeline.name}: board`, view.place, [
    `<p class="summary">${escapeHtml(summary)}</p>`,
    form,
    `<div class="board" role="region" aria-label="Stages" tabindex="0">${board}</div>`,
  ]);
}

/** A pick list of the pipeline's owners by name (address when nameless); an owner typed into the URL stays chosen. */
function ownerPicker(owners: PipelineOwner[], chosen: string | null): string {
  const wanted = chosen?.toLocaleLowerCase('en') ?? null;
  const options = owners.map((owner) => {
    const value = owner.email ?? owner.name ?? '';
    const label = owner.name && owner.email ? `${owner.name} (${owner.email})` : value;
    const selected =
      wanted !== null &&
      (owner.email?.toLocaleLowerCase('en') === wanted || owner.name?.toLocaleLowerCase('en') === wanted);
    return { value, label, selected };
  });
  if (chosen && !options.some((option) => option.selected))
    options.push({ value: chosen, label: chosen, selected: true });
  return [
    '<select id="owner" name="owner">',
    `<option value="">Everyone</option>`,
    ...options.map(
      (option) =>
        `<option value="${escapeHtml(option.value)}"${option.selected ? ' selected' : ''}>${escapeHtml(option.label)}</option>`,
    ),
    '</select>',
  ].join('');
}

function boardColumn(column: BoardColumn, pipeline: PipelineRef): string {
  const { stage, cards } = column;
  const total = column.totals ?? columnTotal(cards);
  const label = column.recentDays === undefined ? '' : ` · last ${column.recentDays} days`;
  const shown = cards.slice(0, MAX_CARDS_PER_COLUMN);
  const more =
    total.count > shown.length
      ? `<p class="more">${total.count - shown.length} more, not shown — filter by owner, search or stale to narrow.</p>`
      : '';
  const list =
    shown.length === 0 ? '' : `<ol class="cards">${shown.map((card) => cardHtml(card, pipeline)).join('')}</ol>`;
  return [
    `<section class="column${stage.closed ? ` closed ${stage.closed}` : ''}" aria-labelledby="col-${escapeHtml(stage.key)}">`,
    `<h2 id="col-${escapeHtml(stage.key)}">${escapeHtml(stage.name)}</h2>`,
    `<p class="totals">${escapeHtml(columnTotalText(total) + label)}</p>`,
    list,
    more,
    '</section>',
  ].join('\n');
}

/** The open criteria a card names ("Missing: A, B and 1 more"). */
function missingLine(open: string[]): string {
  const named = open.slice(0, CRITERIA_NAMED_ON_CARD);
  const rest = open.length - named.length;
  return `Missing: ${named.join('; ')}${rest > 0 ? ` and ${rest} more` : ''}`;
}

function cardHtml(card: BoardCard, pipeline: PipelineRef): string {
  const href = `/board/deals/${encodeURIComponent(card.dealId)}${pipelineQuery(pipeline.id)}`;
  const facts = [
    card.owner ? `<span class="owner">${escapeHtml(card.owner)}</span>` : '',
    card.amount ? `<span class="amount">${escapeHtml(card.amount)}</span>` : '',
    `<span class="days">${card.daysInStage} ${card.daysInStage === 1 ? 'day' : 'days'} in stage</span>`,
    card.openCriteria.length > 0 ? `<span class="missing">${escapeHtml(missingLine(card.openCriteria))}</span>` : '',
    card.pendingApprovals > 0
      ? `<span class="pending">${card.pendingApprovals} pending ${card.pendingApprovals === 1 ? 'approval' : 'approvals'}</span>`
      : '',
  ].filter((part) => part !== '');
  const flags = [
    card.stale ? '<strong class="stale">stale</strong>' : '',
    card.refused ? '<strong class="flag refused">move refused</strong>' : '',
    card.rejectedApproval ? '<strong class="flag rejected">approval rejected</strong>' : '',
  ].filter((flag) => flag !== '');
  return [
    `<li class="card${card.stale ? ' is-stale' : ''}">`,
    `<a href="${escapeHtml(href)}">${escapeHtml(card.name)}</a>`,
    flags.length > 0 ? ` ${flags.join(' ')}` : '',
    `<p>${facts.join('<br>')}</p>`,
    '</li>',
  ].join('');
}

/** A refusal or an unknown deal or pipeline: a title and a sentence that says what to do. */
export function boardProblemPage(title: string, message: string): string {
  return boardLayout(title, null, [`<p>${escapeHtml(message)}</p>`, '<p><a href="/board">Open the board</a></p>']);
}

/** What the board answers when a request fails; a refusal keeps its status and says what is wrong. */
export const boardErrorPages: ErrorPages = {
  notFound: (error) => boardProblemPage('Not found', error.message),
  problem: boardProblemPage,
  failureAdvice: 'The page could not be shown. Reload it in a minute.',
  failureLog: 'board request failed',
};
