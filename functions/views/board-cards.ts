import { amountOf } from '../core/amount.ts';
import { type ColumnTotal, daysBetween, isStale } from '../core/board.ts';
import { unmetCriteria } from '../core/criteria.ts';
import type { Deal, Fields } from '../core/deal.ts';
import type { StageConfig } from '../core/pipeline-config.ts';
import { dealAmount, ownerName, shortName } from './wording.ts';

/** The part of a deal a card needs (what the board reads from the stage index). */
export type CardDeal = Pick<Deal, 'dealId'> & Partial<Deal>;

/** One deal on the board, as its card shows it. */
export interface BoardCard {
  dealId: string;
  name: string;
  owner: string | null;
  ownerEmail: string | null;
  /** The amount as people read it. */
  amount: string | null;
  /** The amount as a number, for the column total; null when the deal has none or it is not a number. */
  amountValue: number | null;
  currency: string | null;
  /** Whole days since the deal entered its stage (the CRM's time of the move). */
  daysInStage: number;
  openCriteria: number;
  pendingApprovals: number;
  /** The stage a move waits to go to, once its approvals are granted. */
  waitingFor: string | null;
  stale: boolean;
}

/** A deal as a card, judged under its own config version's stage (`stage`). */
export function boardCard(deal: CardDeal, stage: StageConfig, now: Date): BoardCard {
  const fields: Fields = deal.fields ?? {};
  const { value: amountValue, currency } = amountOf(fields);
  return {
    dealId: deal.dealId,
    name: shortName(deal),
    owner: ownerName(deal),
    ownerEmail: deal.owner?.email ?? null,
    amount: dealAmount({ fields }),
    amountValue,
    currency,
    daysInStage: deal.stageEventAt ? daysBetween(deal.stageEventAt, now) : 0,
    openCriteria: stage.closed ? 0 : unmetCriteria(stage.exitCriteria, fields).length,
    pendingApprovals: (deal.approvals ?? []).filter((approval) => approval.status === 'pending').length,
    waitingFor: deal.pendingMove?.to ?? null,
    stale: isStale(stage, deal.stageEventAt, now),
  };
}

/** The count and amount total of cards: in their one currency when every amount shares it, else a plain sum. */
export function columnTotal(cards: readonly BoardCard[]): ColumnTotal {
  const amounts = cards.filter((card) => card.amountValue !== null);
  const currencies = new Set(amounts.map((card) => card.currency));
  const [only] = currencies;
  return {
    count: cards.length,
    total: amounts.reduce((sum, card) => sum + (card.amountValue ?? 0), 0),
    currency: currencies.size === 1 && only ? only : null,
  };
}
