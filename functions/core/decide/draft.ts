import { isDeepStrictEqual } from 'node:util';
import type { Approval, Deal, Decision, DecisionContext, HistoryEntry, Outcome } from '../deal.ts';
import type { PipelineConfig } from '../pipeline-config.ts';
import type { Reason } from './reasons.ts';

/** The deal being decided on (a copy of the input) and what the decision has produced so far. */
export interface Draft {
  config: PipelineConfig;
  ctx: DecisionContext;
  deal: Deal;
  requested: Approval[];
  ended: Approval[];
}

/** A draft of a decision on a copy of `deal`: the input is never changed. */
export function startDraft(config: PipelineConfig, deal: Deal, ctx: DecisionContext): Draft {
  return { config, ctx, deal: structuredClone(deal), requested: [], ended: [] };
}

/** The decision the draft amounts to; the deal's `updatedAt` moves only when the deal differs from `original`. */
export function decision(
  draft: Draft,
  original: Deal | null,
  outcome: Outcome,
  reasons: Reason[],
  history: HistoryEntry[],
  moved = false,
): Decision {
  if (original !== null && !isDeepStrictEqual(original, draft.deal)) draft.deal.updatedAt = draft.ctx.now;
  return { outcome, reasons, deal: draft.deal, history, requested: draft.requested, ended: draft.ended, moved };
}

/** A history entry; without an event behind it (`cause` null or without a source), an approver or an expiry caused it. */
export function historyEntry(
  ctx: DecisionContext,
  type: HistoryEntry['type'],
  from: string | null,
  to: string | null,
  outcome: Outcome,
  cause: { eventId: string | null; source?: HistoryEntry['source']; occurredAt?: string } | null,
  reasons: Reason[],
): HistoryEntry {
  return {
    at: ctx.now,
    ...(cause?.source && cause.occurredAt ? { occurredAt: cause.occurredAt } : {}),
    type,
    from,
    to,
    outcome,
    eventId: cause?.eventId ?? null,
    source: cause?.source ?? 'approval',
    reasons,
  };
}
