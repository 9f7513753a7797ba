import type { Deal, Decision, DecisionContext, EndedStatus, HistoryEntry, StageEvent } from '../deal.ts';
import type { PipelineConfig } from '../pipeline-config.ts';
import { requireStage, statusOf } from '../stages.ts';
import { endApproval } from './approvals.ts';
import { decision, historyEntry, startDraft } from './draft.ts';
import { mergeEvent } from './fields.ts';
import type { Reason } from './reasons.ts';

/**
 * What happens to a deal's record in its CRM rather than to its stage: it leaves for a CRM pipeline another
 * Stageflow pipeline (or none) manages, it is merged into another deal, deleted, or restored. None of these is ever
 * refused, and none is written back to the CRM.
 */

/** How an ending is recorded in the deal's history. */
export interface Ending {
  type: Extract<HistoryEntry['type'], 'left' | 'merged_into' | 'deleted'>;
  /** `left`: the CRM pipeline the deal went to; `merged_into`: the surviving deal. */
  to: string | null;
}

/** The answer to an event about a deal Stageflow does not manage: nothing is decided, nothing stored. */
export function ignore(reasons: Reason[]): Decision {
  return { outcome: 'ignored', reasons, deal: null, history: [], requested: [], ended: [], moved: false };
}

/**
 * Ends a deal (`left`, `merged` or `deleted`): its pending approvals are cancelled (approver and owner are told), a
 * pending or held move is dropped, and the history says why. With `approvalsGoTo`, the pending approvals are not
 * cancelled but leave with the deal's state for the deal that continues it (a merge into a new CRM deal).
 */
export function endDeal(
  config: PipelineConfig,
  deal: Deal,
  status: EndedStatus,
  ending: Ending,
  cause: Pick<StageEvent, 'eventId' | 'source'>,
  ctx: DecisionContext,
  approvalsGoTo?: string,
): Decision {
  const draft = startDraft(config, deal, ctx);
  if (approvalsGoTo === undefined) {
    for (const approval of draft.deal.approvals) {
      if (approval.status === 'pending') endApproval(draft, approval, 'cancelled');
    }
  } else {
    draft.deal.approvals = draft.deal.approvals.filter((approval) => approval.status !== 'pending');
  }
  draft.deal.status = status;
  draft.deal.pendingMove = null;
  draft.deal.heldMove = null;
  if (status === 'merged' && ending.to !== null) draft.deal.mergedInto = ending.to;
  const entry = historyEntry(ctx, ending.type, null, ending.to, 'applied', cause, []);
  return decision(draft, deal, 'applied', [], [entry]);
}

/** A deleted deal restored in the CRM: it reopens at the stage it was in, with what the event brought. */
export function restoreDeal(config: PipelineConfig, deal: Deal, event: StageEvent, ctx: DecisionContext): Decision {
  const draft = startDraft(config, deal, ctx);
  mergeEvent(draft.deal, event);
  draft.deal.status = statusOf(requireStage(config, deal.stage));
  const entry = historyEntry(ctx, 'restored', null, deal.stage, 'applied', event, []);
  return decision(draft, deal, 'applied', [], [entry]);
}

/**
 * The deal that survives a CRM merge, continuing `primary`: its pipeline, stage, fields, approvals and history go on
 * under `survivorId` (the primary itself, or the new deal the merge made), with an entry naming the merged deals.
 * `current` is the survivor as stored, when Stageflow already holds it.
 */
export function continueMerged(
  config: PipelineConfig,
  primary: Deal,
  survivorId: string,
  mergedIds: string[],
  cause: Pick<StageEvent, 'eventId' | 'source'>,
  ctx: DecisionContext,
): Decision {
  const draft = startDraft(config, { ...primary, dealId: survivorId }, ctx);
  const entry = { ...historyEntry(ctx, 'merged', null, null, 'applied', cause, []), from: mergedIds };
  return decision(draft, survivorId === primary.dealId ? primary : null, 'applied', [], [entry]);
}
