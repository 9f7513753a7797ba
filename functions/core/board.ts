import { AMOUNT_FIELDS, amountOf, CURRENCY_FIELDS } from './amount.ts';
import { criterionHolds } from './criteria.ts';
import type { Deal, Fields, Owner } from './deal.ts';
import type { Criterion, PipelineConfig, StageConfig } from './pipeline-config.ts';

/**
 * The board's read model, as plain data computed from deals and their stage config: staleness, the fields a card
 * reads, column totals kept as counters, the exit-criteria checklist, and the insight figures computed from the read
 * model's counters. No I/O, no wording; `functions/views/` turns these into pages.
 */

const DAY_MS = 86_400_000;

/** The deal fields a CRM keeps the reason of a lost deal in: generic/Stageflow, Pipedrive, HubSpot, Salesforce. */
export const LOST_REASON_FIELDS = ['lostReason', 'lost_reason', 'closed_lost_reason', 'Loss_Reason__c'] as const;

/** Whole days from `since` to `now`, never negative (a CRM clock slightly ahead of ours). */
export function daysBetween(since: string, now: Date): number {
  const elapsed = now.getTime() - Date.parse(since);
  return Number.isFinite(elapsed) ? Math.max(0, Math.floor(elapsed / DAY_MS)) : 0;
}

/** The time before which a deal must have entered `stage` to be stale now; null when the stage never goes stale. */
export function staleCutoff(stage: StageConfig, now: Date): string | null {
  if (stage.staleAfterDays === undefined || stage.closed) return null;
  return new Date(now.getTime() - stage.staleAfterDays * DAY_MS).toISOString();
}

/** Whether a deal that entered `stage` at `enteredAt` has been there longer than the stage's `staleAfterDays`. */
export function isStale(stage: StageConfig, enteredAt: string | undefined, now: Date): boolean {
  const cutoff = staleCutoff(stage, now);
  return cutoff !== null && enteredAt !== undefined && enteredAt < cutoff;
}

/**
 * The deal attributes a card of `stage` is drawn from (the board, the digest), each a path under the deal: the
 * deal's own facts and the fields its criteria need under every given config version.
 */
export function cardAttributes(stageKey: string, configs: readonly PipelineConfig[]): string[][] {
  return [
    ['dealName'],
    ['owner'],
    ['stageEventAt'],
    ['configVersion'],
    ['approvals'],
    ['pendingMove'],
    ['visit'],
    ...cardFields(stageKey, configs).map((field) => ['fields', field]),
  ];
}

/** The deal fields the board needs for the cards of `stage`, under every given config version. */
export function cardFields(stageKey: string, configs: readonly PipelineConfig[]): string[] {
  const criteria = configs.flatMap(
    (config) => config.stages.find((stage) => stage.key === stageKey)?.exitCriteria ?? [],
  );
  return [...new Set([...AMOUNT_FIELDS, ...CURRENCY_FIELDS, ...criteria.map((criterion) => criterion.field)])];
}

/** One currency's sum of a column; `currency` is null for the amounts sent without one. */
export interface CurrencySum {
  currency: string | null;
  total: number;
}

/**
 * A column's deal count and its amounts, one sum per currency (different currencies are never added up), largest
 * first; `unsummed` counts the deals whose amount is in no sum because it is not a number that adds up exactly.
 */
export interface ColumnTotal {
  count: number;
  sums: CurrencySum[];
  unsummed: number;
}

/** A deal's amount as the totals take it: a number that adds up exactly, an amount left out, or no amount at all. */
export type Summable =
  | { kind: 'summed'; value: number; currency: string | null }
  | { kind: 'unsummed' }
  | { kind: 'none' };

/**
 * How a deal's amount counts in a total: beyond ±2^53 a number no longer adds up exactly, and text that is no number
 * (`about 10k`) adds up to nothing, so both are left out and counted as such.
 */
export function summableAmount(fields: Fields): Summable {
  const { value, text, currency } = amountOf(fields);
  if (value !== null && Math.abs(value) <= Number.MAX_SAFE_INTEGER) return { kind: 'summed', value, currency };
  return value !== null || text !== null ? { kind: 'unsummed' } : { kind: 'none' };
}

/** An owner of open deals, as the totals read model keeps them: the address and name the CRM sent. */
export interface PipelineOwner {
  email: string | null;
  name: string | null;
  openDeals: number;
}

const OWNER_PREFIX = 'owner#';

/** The totals counter of an owner: both parts URI-encoded, so a `#` in a name cannot split it. */
function ownerCounter(owner: Owner): string {
  return `${OWNER_PREFIX}${encodeURIComponent(owner.email ?? '')}#${encodeURIComponent(owner.name ?? '')}`;
}

/**
 * What an open deal adds to the pipeline's totals in the read model: `count#<stage>`; per currency
 * `amount#<stage>#<currency>` (`-` when unknown) with `priced#<stage>#<currency>`, the deals that amount is summed
 * over; `unsummed#<stage>` for an amount left out; and `owner#<email>#<name>`, the owners offered as a filter.
 */
export function totalsContribution(deal: Pick<Deal, 'stage' | 'status' | 'fields' | 'owner'> | null): Counters {
  if (deal === null || deal.status !== 'open') return {};
  const counters: Counters = { [`count#${deal.stage}`]: 1 };
  const amount = summableAmount(deal.fields);
  if (amount.kind === 'summed') {
    counters[`amount#${deal.stage}#${amount.currency ?? '-'}`] = amount.value;
    counters[`priced#${deal.stage}#${amount.currency ?? '-'}`] = 1;
  } else if (amount.kind === 'unsummed') {
    counters[`unsummed#${deal.stage}`] = 1;
  }
  if (deal.owner?.email || deal.owner?.name) counters[ownerCounter(deal.owner)] = 1;
  return counters;
}

/** One sum per currency, largest first (the deals without a currency last). */
export function sortedSums(sums: Iterable<CurrencySum>): CurrencySum[] {
  return [...sums].sort((a, b) => Number(a.currency === null) - Number(b.currency === null) || b.total - a.total);
}

/** A column's totals from the read model's summed counters. */
export function columnTotalFrom(stage: string, totals: Counters): ColumnTotal {
  const prefix = `priced#${stage}#`;
  const sums = Object.entries(totals)
    .filter(([name, n]) => name.startsWith(prefix) && n > 0)
    .map(([name]): CurrencySum => {
      const code = name.slice(prefix.length);
      return { currency: code === '-' ? null : code, total: totals[`amount#${stage}#${code}`] ?? 0 };
    });
  return {
    count: totals[`count#${stage}`] ?? 0,
    sums: sortedSums(sums),
    unsummed: Math.max(0, totals[`unsummed#${stage}`] ?? 0),
  };
}

/** The pipeline's owners of open deals from the read model's summed counters, by name (else address). */
export function ownersFrom(totals: Counters): PipelineOwner[] {
  return Object.entries(totals)
    .filter(([name, n]) => name.startsWith(OWNER_PREFIX) && n > 0)
    .map(([name, openDeals]): PipelineOwner => {
      const [email = '', ownerName = ''] = name.slice(OWNER_PREFIX.length).split('#');
      return { email: decodeURIComponent(email) || null, name: decodeURIComponent(ownerName) || null, openDeals };
    })
    .sort((a, b) => (a.name ?? a.email ?? '').localeCompare(b.name ?? b.email ?? ''));
}

/**
 * The owners a typed owner filter means: those whose address or name equals it, case-insensitively. An owner the
 * read model does not list yet is still found by the text as typed.
 */
export function ownersMatching(text: string, owners: readonly PipelineOwner[]): Owner[] {
  const wanted = text.trim().toLocaleLowerCase('en');
  const matched = owners.filter(
    (owner) => owner.email?.toLocaleLowerCase('en') === wanted || owner.name?.toLocaleLowerCase('en') === wanted,
  );
  // The text as typed may be an address or a name: each on its own.
  const typed: Owner[] = [{ email: text.trim() }, { name: text.trim() }];
  return [...matched.map((owner) => ({ email: owner.email ?? undefined, name: owner.name ?? undefined })), ...typed];
}

/**
 * Whether the owner index finds every deal a typed owner filter means. The index lists a deal under its owner's name
 * (else address), so a name is always found; an address is found under the names the read model knows it by, so an
 * address no listed owner has (a new owner moments after their first deal, or a mistyped one) may not be.
 */
export function ownerIndexFinds(text: string, owners: readonly PipelineOwner[]): boolean {
  const wanted = text.trim().toLocaleLowerCase('en');
  return !wanted.includes('@') || owners.some((owner) => owner.email?.toLocaleLowerCase('en') === wanted);
}

/** One exit criterion of the deal's stage: met or open, with the field's value as the deal holds it. */
export interface ChecklistItem {
  criterion: Criterion;
  met: boolean;
  value: unknown;
}

export function exitChecklist(stage: StageConfig, fields: Fields): ChecklistItem[] {
  return stage.exitCriteria.map((criterion) => ({
    criterion,
    met: criterionHolds(criterion, fields),
    value: Object.hasOwn(fields, criterion.field) ? fields[criterion.field] : undefined,
  }));
}

// Insights: the read model keeps counters per day (see functions/usecases/effects/insights-projection.ts); these
// turn their sums over a period into the figures the page shows.

/** Counter names of the insights read model. `#` separates the parts; stage keys never contain it. */
export const COUNTER = {
  entered: (stage: string) => `entered#${stage}`,
  won: 'won',
  lost: 'lost',
  dwell: (stage: string, days: number) => `dwell#${stage}#${days}`,
  cycle: (days: number) => `cycle#${days}`,
  lostReason: (reason: string) => `lostReason#${reason}`,
} as const;

/** Summed counters of a period, by counter name. */
export type Counters = Record<string, number>;

export interface FunnelStep {
  stage: StageConfig;
  entered: number;
  /** Share of the deals entering this stage that entered the next one (the won stage after the last open one). */
  conversion: number | null;
}

export interface StageDwell {
  stage: StageConfig;
  /** How many deals left the stage in the period. */
  exits: number;
  medianDays: number | null;
  p90Days: number | null;
}

export interface Insights {
  funnel: FunnelStep[];
  won: number;
  lost: number;
  winRate: number | null;
  dwell: StageDwell[];
  medianCycleDays: number | null;
  /** Closed-won deals the cycle time is measured over. */
  cycles: number;
  lostReasons: { reason: string; count: number }[];
}

/** The value below which `share` of the counted values lie (nearest rank), from a histogram of whole days. */
export function percentile(histogram: ReadonlyMap<number, number>, share: number): number | null {
  const total = [...histogram.values()].reduce((sum, count) => sum + count, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(share * total));
  let seen = 0;
  for (const days of [...histogram.keys()].sort((a, b) => a - b)) {
    seen += histogram.get(days) ?? 0;
    if (seen >= rank) return days;
  }
  return null;
}

function histogram(counters: Counters, prefix: string): Map<number, number> {
  const result = new Map<number, number>();
  for (const [name, count] of Object.entries(counters)) {
    if (!name.startsWith(prefix)) continue;
    const days = Number(name.slice(prefix.length));
    if (Number.isInteger(days) && count > 0) result.set(days, (result.get(days) ?? 0) + count);
  }
  return result;
}

/** The insight figures of a period from its summed counters. */
export function insightsFrom(config: PipelineConfig, counters: Counters): Insights {
  const count = (name: string) => counters[name] ?? 0;
  const open = config.stages.filter((stage) => !stage.closed);
  const wonStage = config.stages.find((stage) => stage.closed === 'won');
  const steps = wonStage ? [...open, wonStage] : open;
  const funnel = steps.map((stage, index): FunnelStep => {
    const entered = count(COUNTER.entered(stage.key));
    const next = steps[index + 1];
    const conversion = next && entered > 0 ? count(COUNTER.entered(next.key)) / entered : null;
    return { stage, entered, conversion: conversion === null ? null : Math.min(1, conversion) };
  });
  const won = count(COUNTER.won);
  const lost = count(COUNTER.lost);
  const dwell = open.map((stage): StageDwell => {
    const days = histogram(counters, `dwell#${stage.key}#`);
    return {
      stage,
      exits: [...days.values()].reduce((sum, n) => sum + n, 0),
      medianDays: percentile(days, 0.5),
      p90Days: percentile(days, 0.9),
    };
  });
  const cycleDays = histogram(counters, 'cycle#');
  const lostReasons = Object.entries(counters)
    .filter(([name, n]) => name.startsWith('lostReason#') && n > 0)
    .map(([name, n]) => ({ reason: name.slice('lostReason#'.length), count: n }))
    .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
  return {
    funnel,
    won,
    lost,
    winRate: won + lost > 0 ? won / (won + lost) : null,
    dwell,
    medianCycleDays: percentile(cycleDays, 0.5),
    cycles: [...cycleDays.values()].reduce((sum, n) => sum + n, 0),
    lostReasons,
  };
}
