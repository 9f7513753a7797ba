import escapeHtml from 'escape-html';
import { askLabel } from '../core/approver-routing.ts';
import { type ChecklistItem, daysBetween } from '../core/board.ts';
import type { Approval, Deal, HistoryEntry } from '../core/deal.ts';
import { approverName, criterionInWords } from '../core/decide/reasons.ts';
import type { PipelineConfig, StageConfig } from '../core/pipeline-config.ts';
import { boardLayout, type PagePlace, stackingTable, type TableColumn } from './board-layout.ts';
import type { CrmLink } from './crm-links.ts';
import { bulletList, factList } from './page.ts';
import { approvedValues, dealAmount, formatTime, personLabel, shortName } from './wording.ts';

/** What the deal page shows. */
export interface DealPageView {
  place: PagePlace;
  deal: Deal;
  /** The deal's stage under its own config version. */
  stage: StageConfig;
  config: PipelineConfig;
  checklist: ChecklistItem[];
  history: HistoryEntry[];
  stale: boolean;
  now: Date;
  /** The deal in its CRM, when Stageflow knows where it lives. */
  crm: CrmLink | null;
}

/** How far the CRM's time and the received time of an entry may differ before the page shows both. */
const CLOCK_GAP_MS = 60_000;

const STATUS_WORDS: Record<Approval['status'], string> = {
  pending: 'Pending',
  approved: 'Approved',
  rejected: 'Rejected',
  expired: 'Expired',
  cancelled: 'Cancelled',
};

/**
 * The columns of the deal page's approvals table, in order; a new column is one more entry. Stage and role by their
 * names in the deal's config version.
 */
export function approvalColumns(config: PipelineConfig): TableColumn<Approval>[] {
  return [
    { heading: 'Approver', cell: (a) => approverName(config, a.role) },
    { heading: 'For', cell: (a) => a.reason },
    { heading: 'Values', cell: (a) => approvedValues(a) ?? '' },
    { heading: 'Stage', cell: (a) => stageNameIn(config, a.stage) },
    { heading: 'Status', cell: (a) => STATUS_WORDS[a.status] },
    { heading: 'Requested', cell: (a) => formatTime(a.requestedAt) },
    { heading: 'Asked', cell: askedCell },
    {
      heading: 'Decided by',
      cell: (a) => (a.decidedBy ? `${a.decidedBy}${a.onBehalfOf ? ` on behalf of ${a.onBehalfOf}` : ''}` : ''),
    },
    { heading: 'Decided', cell: (a) => (a.decidedAt ? formatTime(a.decidedAt) : '') },
    { heading: 'Comment', cell: (a) => a.comment ?? '' },
  ];
}

/** Who an approval asked, each with their request's status when it differs from the approval's own. */
function askedCell(approval: Approval): string {
  const asks = approval.asks ?? [];
  const rule = approval.decide === 'all' ? 'all must approve: ' : approval.decide === 'any' ? 'any one decides: ' : '';
  const people = asks.map((ask) => `${askLabel(ask)}${ask.status === approval.status ? '' : ` (${ask.status})`}`);
  return people.length === 0 ? '' : `${rule}${people.join('; ')}`;
}

function stageNameIn(config: PipelineConfig, key: string | null): string {
  return key ? (config.stages.find((s) => s.key === key)?.name ?? key) : '';
}

/** `GET /board/deals/{dealId}`: the deal's stage guidance, exit-criteria checklist, approvals and timeline. */
export function dealPage(view: DealPageView): string {
  const { deal, stage, config, checklist, history, stale, now } = view;
  const stageName = (key: string | null) => stageNameIn(config, key);
  const days = daysBetween(deal.stageEventAt, now);
  const waiting = deal.approvals.filter((a) => a.status === 'pending' || (a.status === 'approved' && deal.pendingMove));
  const facts = factList([
    ['Deal id', deal.dealId],
    ['Owner', personLabel(deal.owner)],
    ['Amount', dealAmount(deal)],
    ['Stage', `${stage.name}${stale ? ' (stale)' : ''}`],
    ['In stage since', `${formatTime(deal.stageEventAt)} — ${days} ${days === 1 ? 'day' : 'days'}`],
    ['Status', deal.status === 'open' ? 'Open' : deal.status === 'won' ? 'Won' : 'Lost'],
    ['Waiting to move to', deal.pendingMove ? stageName(deal.pendingMove.to) : null],
    ...waiting
      .filter((a) => approvedValues(a) !== null)
      .map((a): [string, string] => [`${approverName(config, a.role)} approves`, `${a.reason}: ${approvedValues(a)}`]),
  ]);
  const open = checklist.filter((item) => !item.met).length;
  const checklistHtml =
    checklist.length === 0
      ? '<p class="empty">This stage has no exit criteria.</p>'
      : `<ul class="checklist">${checklist.map(checklistItem).join('')}</ul>`;
  const approvals =
    deal.approvals.length === 0
      ? '<p class="empty">No approvals were requested.</p>'
      : stackingTable('Approvals', approvalColumns(config), deal.approvals);
  const shown = new Set<string>();
  const timeline =
    history.length === 0
      ? '<p class="empty">No history yet.</p>'
      : `<ol class="timeline">${history
          .map((entry) => timelineEntry(entry, config, stageName, shown))
          .toReversed()
          .join('')}</ol>`;
  return boardLayout(shortName(deal), view.place, [
    stale ? `<p class="problem">Stale: longer than ${stage.staleAfterDays} days in ${escapeHtml(stage.name)}.</p>` : '',
    facts,
    view.crm
      ? `<p class="crm-link"><a href="${escapeHtml(view.crm.href)}" rel="noreferrer" target="_blank">Open in ${escapeHtml(view.crm.crm)}</a></p>`
      : '',
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
  return (
    `<li class="${item.met ? 'met' : 'unmet'}"><span class="mark">${item.met ? 'Met' : 'Open'}</span> ` +
    `${escapeHtml(criterionInWords(item.criterion))} <span class="value">now: ${escapeHtml(value)}</span></li>`
  );
}

function displayValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** When an entry happened: the CRM's time, and the received time too where the two differ by more than a minute. */
function entryTime(entry: HistoryEntry): string {
  const happened = entry.occurredAt ?? entry.at;
  const gap = Math.abs(Date.parse(entry.at) - Date.parse(happened));
  const received =
    gap > CLOCK_GAP_MS ? ` <span class="hint">(received ${escapeHtml(formatTime(entry.at))})</span>` : '';
  return `<time datetime="${escapeHtml(happened)}">${escapeHtml(formatTime(happened))}</time>${received}`;
}

/**
 * One history entry as a line of the timeline, oldest first (`shown` collects the reasons already shown, so a reason
 * two entries share, such as a rejected approval and the move it cancels, is shown once). Entry kinds this page does
 * not know yet still show their outcome.
 */
function timelineEntry(
  entry: HistoryEntry,
  config: PipelineConfig,
  stageName: (key: string | null) => string,
  shown: Set<string>,
): string {
  const merged = Array.isArray(entry.from) ? entry.from.join(', ') : '';
  const from = Array.isArray(entry.from) ? null : entry.from;
  const route = from || entry.to ? `${stageName(from) || '—'} → ${stageName(entry.to) || '—'}` : '';
  const title: Record<string, string> = {
    created: `Created in ${stageName(entry.to)}${from ? ` (arrived from CRM pipeline ${from})` : ''}`,
    move: `Move ${route}`,
    fields: 'Fields updated',
    approval: entry.approval
      ? `${approverName(config, entry.approval.role)}: approval ${STATUS_WORDS[entry.approval.status].toLowerCase()}`
      : 'Approval',
    echo: `The CRM confirmed ${stageName(entry.to)}`,
    crm_sync: `CRM write-back${entry.to ? ` (${stageName(entry.to)})` : ''}`,
    config: 'Pipeline config changed',
    effect_failed: 'A side effect was given up',
    left: `Left for CRM pipeline ${entry.to ?? '—'}`,
    merged: `Deals ${merged} merged into this one`,
    merged_into: `Merged into deal ${entry.to ?? '—'}`,
    deleted: 'Deleted in the CRM',
    restored: 'Restored in the CRM',
  };
  const outcomes: Record<string, string> = {
    applied: 'applied',
    pending_approval: 'waiting for approval',
    rejected: 'refused',
    stale: 'older than the deal’s stage, ignored',
    duplicate: 'already recorded',
    synced: 'written to the CRM',
    failed: 'failed',
  };
  const details = [
    entry.type === 'config' ? `version ${from ?? '—'} → ${entry.to ?? '—'}` : '',
    entry.type === 'approval' || entry.type === 'config' ? '' : (outcomes[entry.outcome] ?? entry.outcome),
    entry.source && entry.source !== 'approval' ? `from ${entry.source}` : '',
    entry.status !== undefined ? `HTTP ${entry.status}` : '',
    entry.approval?.decidedBy ? `by ${entry.approval.decidedBy}` : '',
    entry.approval?.onBehalfOf ? `on behalf of ${entry.approval.onBehalfOf}` : '',
  ].filter((part) => part !== '');
  const fresh = entry.reasons.filter((reason) => !shown.has(reason.message));
  for (const reason of fresh) shown.add(reason.message);
  const reasons = fresh.length
    ? `<ul class="reasons">${fresh.map((r) => `<li>${escapeHtml(r.message)}</li>`).join('')}</ul>`
    : '';
  const refused =
    entry.type !== 'config' &&
    (entry.outcome === 'rejected' || entry.outcome === 'failed' || entry.approval?.status === 'rejected');
  const kind = refused ? 'refused' : entry.outcome === 'pending_approval' ? 'waiting' : '';
  return (
    `<li${kind ? ` class="${kind}"` : ''}>${entryTime(entry)} ` +
    `<strong>${escapeHtml(title[entry.type] ?? entry.type)}</strong> <span class="hint">${escapeHtml(details.join(' · '))}</span>${reasons}</li>`
  );
}
