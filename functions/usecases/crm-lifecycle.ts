import { DuplicateEventError, type EventRecord } from '../adapters/deals/events.ts';
import type { Decision, EventResult, Source } from '../core/deal.ts';
import { continueMerged, type Ending, endDeal } from '../core/decide/lifecycle.ts';
import { unmanagedPipeline } from '../core/decide/reasons.ts';
import type { CrmState, StoredDeal } from '../core/stored-deal.ts';
import type { ParsedMerge } from '../sources/types.ts';
import { retryOnConflict } from './retry-on-conflict.ts';
import { decisionContext, type Services } from './services.ts';

/**
 * What the CRM does to a deal's record rather than its stage, recorded on the deal items: a deal leaving for a CRM
 * pipeline its Stageflow pipeline does not manage, and merges. Each is a decision of its own (the outbox cancels
 * approvals, tells approver and owner, stops the workflow); none is ever refused or written back to the CRM.
 */

type Cause = { eventId: string; source: Exclude<Source, 'generic'> };

/** Commits a lifecycle decision on a stored deal (null: a new deal), with its CRM state. */
async function commitLifecycle(
  services: Services,
  before: StoredDeal | null,
  decision: Decision,
  cause: Cause,
  crm: CrmState,
  event?: EventRecord,
): Promise<void> {
  await services.deals.commit({
    ...(event ? { event } : {}),
    before,
    decision,
    workflow: before ? undefined : { generation: 1 },
    crm,
    lastDecision: {
      kind: 'event',
      outcome: 'applied',
      reasons: [],
      eventId: cause.eventId,
      source: cause.source,
      at: services.clock().toISOString(),
    },
  });
}

/** Ends a deal as read now (unless it already ended): `left`, `merged` or `deleted`, with its history entry. */
async function endStoredDeal(
  services: Services,
  pipeline: string,
  dealId: string,
  status: 'left' | 'merged',
  ending: Ending,
  cause: Cause,
  approvalsGoTo?: string,
): Promise<void> {
  await retryOnConflict(async () => {
    const stored = await services.deals.getDeal(pipeline, dealId);
    if (!stored || stored.deal.status === status || stored.deal.status === 'merged') return;
    const { config } = await services.pipelines.version(pipeline, stored.deal.configVersion);
    const ctx = decisionContext(services, config);
    const decision = endDeal(config, stored.deal, status, ending, cause, ctx, approvalsGoTo);
    const crm = stored.crm ?? { source: cause.source, writes: [] };
    const to = status === 'left' && ending.to !== null ? { pipeline: ending.to } : {};
    await commitLifecycle(services, stored, decision, cause, { ...crm, ...to });
  });
}

/**
 * The CRM moved the deal to a CRM pipeline its Stageflow pipeline does not manage: it leaves, with
 * `{"type": "left", "to": <CRM pipeline>}` in its history, and is never written back to from there again.
 */
export async function leavePipeline(
  services: Services,
  stored: StoredDeal,
  crmPipeline: string | null,
  cause: Cause,
): Promise<void> {
  const ending: Ending = { type: 'left', to: crmPipeline };
  await endStoredDeal(services, stored.deal.pipeline, stored.deal.dealId, 'left', ending, cause);
}

/**
 * A merge of CRM deals. The survivor continues the primary deal where Stageflow holds it (same pipeline, stage,
 * fields, approvals and history, and an entry naming the merged deals); every other deal of the merge that
 * Stageflow holds ends `merged` into the survivor, its pending approvals cancelled. When Stageflow holds none of
 * them, the merge is about deals it does not manage: `ignored`.
 */
export async function recordMerge(merge: ParsedMerge, services: Services): Promise<EventResult> {
  const cause: Cause = { eventId: merge.eventId, source: merge.source };
  const ids = [...new Set([merge.primary, merge.survivor, ...merge.merged])];
  const held = (
    await Promise.all(
      ids.flatMap((dealId) =>
        services.pipelines.pipelineIds().map((pipeline) => services.deals.getDeal(pipeline, dealId)),
      ),
    )
  ).filter((stored): stored is StoredDeal => stored !== null && stored.crm?.source === merge.source);
  const primary = held.find((stored) => stored.deal.dealId === merge.primary && stored.deal.status !== 'merged');
  if (held.length === 0) {
    return { outcome: 'ignored', dealId: merge.survivor, stage: null, reasons: [unmanagedPipeline(null)] };
  }
  let stage: string | null = null;
  if (primary) stage = await continuePrimary(services, primary, merge, cause);
  for (const stored of held.filter((deal) => merge.merged.includes(deal.deal.dealId))) {
    // The primary's pending approvals go on with the survivor; other merged deals' are cancelled.
    const approvalsGoTo = stored === primary ? merge.survivor : undefined;
    const ending: Ending = { type: 'merged_into', to: merge.survivor };
    await endStoredDeal(services, stored.deal.pipeline, stored.deal.dealId, 'merged', ending, cause, approvalsGoTo);
  }
  return { outcome: 'applied', dealId: merge.survivor, stage, reasons: [] };
}

/**
 * The survivor takes over the primary's state (and its history, when it is another deal), once: a redelivered merge
 * finds its event record. Returns the survivor's stage.
 */
async function continuePrimary(
  services: Services,
  primary: StoredDeal,
  merge: ParsedMerge,
  cause: Cause,
): Promise<string> {
  const { pipeline, dealId } = primary.deal;
  const { config } = await services.pipelines.version(pipeline, primary.deal.configVersion);
  const others = merge.merged.filter((id) => id !== merge.survivor);
  return retryOnConflict(async () => {
    const current = await services.deals.getDeal(pipeline, dealId);
    const survivor = merge.survivor === dealId ? current : await services.deals.getDeal(pipeline, merge.survivor);
    if (!current || current.deal.status === 'merged') return survivor?.deal.stage ?? primary.deal.stage;
    const ctx = decisionContext(services, config);
    const decision = continueMerged(config, current.deal, merge.survivor, others, cause, ctx);
    if (merge.survivor !== dealId) {
      await services.deals.copyHistory(pipeline, dealId, merge.survivor);
      const pending = current.deal.approvals.filter((approval) => approval.status === 'pending');
      await services.deals.moveApprovals(pending, merge.survivor);
    }
    const result: EventResult = { outcome: 'applied', dealId: merge.survivor, stage: current.deal.stage, reasons: [] };
    const event: EventRecord = { ...cause, pipeline, dealId: merge.survivor, result, recordedAt: ctx.now };
    try {
      await commitLifecycle(
        services,
        survivor,
        decision,
        cause,
        current.crm ?? { source: merge.source, writes: [] },
        event,
      );
    } catch (error) {
      if (!(error instanceof DuplicateEventError)) throw error;
    }
    return current.deal.stage;
  });
}
