import { DuplicateEventError, type EventRecord, storedAfter } from '../adapters/deal-repository.ts';
import type { EventResult, StageEvent } from '../core/deal.ts';
import { decideEvent } from '../core/decide.ts';
import { retryOnConflict } from './retry-on-conflict.ts';
import { decisionContext, type Services } from './services.ts';
import { pendingHandOff, syncWorkflow } from './sync-workflow.ts';

/**
 * Records one event exactly once: decides it under the deal's config version, writes the decision with the event
 * record in one transaction, then hands off to the workflow. Concurrent events for one deal retry on the optimistic
 * lock; a redelivered event answers `duplicate` and repeats the hand-off if its first delivery did not finish it.
 */
export async function recordEvent(event: StageEvent, services: Services): Promise<EventResult> {
  try {
    const result = await retryOnConflict(() => decideAndRecord(event, services));
    services.telemetry.eventRecorded(event, result);
    return result;
  } catch (error) {
    if (!(error instanceof DuplicateEventError)) throw error;
    const duplicate = await answerDuplicate(event, services);
    services.telemetry.eventRecorded(event, duplicate);
    return duplicate;
  }
}

/** One attempt: read the deal, decide, write it all in one transaction, hand off. */
async function decideAndRecord(event: StageEvent, services: Services): Promise<EventResult> {
  const before = await services.deals.getDeal(event.pipeline, event.dealId);
  const pipeline = before
    ? await services.pipelines.version(event.pipeline, before.deal.configVersion)
    : await services.pipelines.current(event.pipeline);
  const context = decisionContext(services, pipeline.config);
  const decision = decideEvent(pipeline, before?.deal ?? null, event, context);
  const result: EventResult = {
    outcome: decision.outcome,
    dealId: event.dealId,
    stage: decision.deal?.stage ?? null,
    reasons: decision.reasons,
  };
  const workflow = before ? undefined : { generation: 1 };
  const after = storedAfter({ before, decision, workflow });
  // Most events (field updates) give the workflow nothing to do: their record is written as handed off already,
  // which saves a write per event.
  const handOffNeeded = after !== null && pendingHandOff(after, decision.ended).needed;
  const record: EventRecord = {
    source: event.source,
    eventId: event.eventId,
    pipeline: event.pipeline,
    dealId: event.dealId,
    result,
    recordedAt: context.now,
    handedOff: !handOffNeeded,
  };
  await services.deals.commit({ before, decision, event: record, workflow });
  if (after && handOffNeeded) {
    await syncWorkflow(after, decision.ended, services);
    await services.deals.markHandedOff(event.source, event.eventId);
  }
  return result;
}

async function answerDuplicate(event: StageEvent, services: Services): Promise<EventResult> {
  const [recorded, current] = await Promise.all([
    services.deals.getEvent(event.source, event.eventId),
    services.deals.getDeal(event.pipeline, event.dealId),
  ]);
  if (recorded && !recorded.handedOff) {
    if (current) {
      const ended = current.deal.approvals.filter((a) => a.status !== 'pending' && a.visit >= current.deal.visit - 1);
      await syncWorkflow(current, ended, services);
    }
    await services.deals.markHandedOff(event.source, event.eventId);
  }
  return { outcome: 'duplicate', dealId: event.dealId, stage: current?.deal.stage ?? null, reasons: [] };
}
