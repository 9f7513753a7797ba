import {
  type ColumnTotal,
  type CurrencySum,
  daysBetween,
  isStale,
  type Summable,
  sortedSums,
  summableAmount,
} from '../core/board.ts';
import { unmetCriteria } from '../core/criteria.ts';
import type { Deal, Fields } from '../core/deal.ts';
import { criterionInWords } from '../core/decide/reasons.ts';
import type { StageConfig } from '../core/pipeline-config.ts';
import type { LastDecision } from '../core/stored-deal.ts';
import { dealAmount, formatTotal, ownerName, shortName } from './wording.ts';

/** The part of a deal a card needs (what the board reads from the stage index), with its last decision if read. */
export type CardDeal = Pick<Deal, 'dealId'> &
  Partial<Deal> & { lastDecision?: Pick<LastDecision, 'kind' | 'outcome' | 'target'> };

/** How many open exit criteria a card names; the rest are counted. */
export const CRITERIA_NAMED_ON_CARD = 2;

/** One deal on the board, as its card shows it. */
export interface BoardCard {
  dealId: string;
  name: string;
  owner: string | null;
  ownerEmail: string | null;
  /** The amount as people read it. */
  amount: string | null;
  /** How the amount counts in the column's totals. */
  summable: Summable;
  /** Whole days since the deal entered its stage (the CRM's time of the move). */
  daysInStage: number;
  /** The open exit criteria of the stage, by their descriptions. */
  openCriteria: string[];
  pendingApprovals: number;
  /** The stage a move waits to go to, once its approvals are granted. */
  waitingFor: string | null;
  /** The deal's last move was refused (it stayed in its stage). */
  refused: boolean;
  /** An approval asked in this stage visit was rejected. */
  rejectedApproval: boolean;
  stale: boolean;
}

/** A deal as a card, judged under its own config version's stage (`stage`). */
export function boardCard(deal: CardDeal, stage: StageConfig, now: Date): BoardCard {
  const fields: Fields = deal.fields ?? {};
  const approvals = deal.approvals ?? [];
  const decided = deal.lastDecision;
  return {
    dealId: deal.dealId,
    name: shortName(deal),
    owner: ownerName(deal),
    ownerEmail: deal.owner?.email ?? null,
    amount: dealAmount({ fields }),
    summable: summableAmount(fields),
    daysInStage: deal.stageEventAt ? daysBetween(deal.stageEventAt, now) : 0,
    openCriteria: stage.closed ? [] : unmetCriteria(stage.exitCriteria, fields).map(criterionInWords),
    pendingApprovals: approvals.filter((approval) => approval.status === 'pending').length,
    waitingFor: deal.pendingMove?.to ?? null,
    refused:
      decided?.kind === 'event' &&
      decided.outcome === 'rejected' &&
      decided.target !== undefined &&
      decided.target !== deal.stage,
    rejectedApproval: approvals.some((approval) => approval.status === 'rejected' && approval.visit === deal.visit),
    stale: isStale(stage, deal.stageEventAt, now),
  };
}

/** The count and the per-currency sums of cards (a column that shows all of its deals). */
export function columnTotal(cards: readonly BoardCard[]): ColumnTotal {
  const sums = new Map<string | null, CurrencySum>();
  let unsummed = 0;
  for (const { summable } of cards) {
    if (summable.kind === 'unsummed') unsummed += 1;
    if (summable.kind !== 'summed') continue;
    const sum = sums.get(summable.currency) ?? { currency: summable.currency, total: 0 };
    sum.total += summable.value;
    sums.set(summable.currency, sum);
  }
  return { count: cards.length, sums: sortedSums(sums.values()), unsummed };
}

/** A column's totals in words: `3 deals · $1,234,000 · €67,000`, or `No deals`; amounts left out are said so. */
export function columnTotalText(total: ColumnTotal): string {
  if (total.count === 0) return 'No deals';
  const parts = [`${total.count} ${total.count === 1 ? 'deal' : 'deals'}`];
  parts.push(...total.sums.map((sum) => formatTotal(sum.total, sum.currency)));
  if (total.unsummed > 0) {
    parts.push(`${total.unsummed} ${total.unsummed === 1 ? 'amount' : 'amounts'} not added (not an exact number)`);
  }
  return parts.join(' · ');
}
