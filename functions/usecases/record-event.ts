import { DuplicateEventError, type EventRecord } from '../adapters/deals/events.ts';
import type { Decision, EventResult, StageEvent } from '../core/deal.ts';
import { decideEvent } from '../core/decide/entry-points.ts';
import type { CrmState, StoredDeal } from '../core/stored-deal.ts';
import { isOwnEcho } from './echoes.ts';
import { retryOnConflict } from './retry-on-conflict.ts';
import { decisionContext, type Services } from './services.ts';

/**
 * Records one event exactly once: reads the deal, decides under the deal's config version, writes the decision with
 * the event record in one transaction, and answers. Nothing else happens here: the workflow, the emails and the CRM
 * write-back follow from the committed deal item through the table's stream (the outbox, `side-effects.ts`), so a
 * crash after the commit loses no effect. Concurrent events for one deal retry on the optimistic lock; a redelivered
 * event answers `duplicate`. `read`, when given, is the deal as just read consistently (by routing): the first attempt
 * decides on it instead of reading it again; a stale one only loses the lock, and the retry reads afresh.
 */
export async function recordEvent(
  event: StageEvent,
  services: Services,
  read?: StoredDeal | null,
): Promise<EventResult> {
  let known = read;
  try {
    const result = await retryOnConflict(() => {
      const before = known;
      known = undefined;
      return decideAndRecord(event, services, before);
    });
    services.telemetry.eventRecorded(event, result);
    return result;
  } catch (error) {
    if (!(error instanceof DuplicateEventError)) throw error;
    const current = await services.deals.getDeal(event.pipeline, event.dealId);
    const duplicate: EventResult = {
      outcome: 'duplicate',
      dealId: event.dealId,
      stage: current?.deal.stage ?? null,
      reasons: [],
    };
    services.telemetry.eventRecorded(event, duplicate);
    return duplicate;
  }
}

/** One attempt: read the deal (unless `known`), decide, write it all in one transaction. */
async function decideAndRecord(
  event: StageEvent,
  services: Services,
  known: StoredDeal | null | undefined,
): Promise<EventResult> {
  const before = known !== undefined ? known : await services.pipelines.getDeal(event.pipeline, event.dealId);
  // A deal that comes back after it left arrives as a new deal would: under the current version.
  const pipeline =
    before && before.deal.status !== 'left'
      ? await services.pipelines.version(event.pipeline, before.deal.configVersion)
      : await services.pipelines.current(event.pipeline);
  const context = decisionContext(services, pipeline.config);
  // Stageflow's own write-back coming back from the CRM moves nothing: it is judged as the field update it also is.
  const echo = isOwnEcho(event, before, services.clock());
  const decision = decideEvent(pipeline, before?.deal ?? null, echo ? { ...event, stage: undefined } : event, context);
  if (echo) markEcho(decision, event);
  const reconcile = echo && decision.deal !== null && decision.deal.stage !== event.stage;
  const result: EventResult = {
    outcome: decision.outcome,
    dealId: event.dealId,
    stage: decision.deal?.stage ?? null,
    reasons: decision.reasons,
  };
  const record: EventRecord = {
    source: event.source,
    eventId: event.eventId,
    pipeline: event.pipeline,
    dealId: event.dealId,
    result,
    recordedAt: context.now,
  };
  await services.deals.commit({
    before,
    decision,
    event: record,
    workflow: before ? undefined : { generation: 1 },
    crm: crmStateAfter(before?.crm, event),
    lastDecision: {
      kind: 'event',
      outcome: decision.outcome,
      reasons: decision.reasons,
      eventId: event.eventId,
      source: event.source,
      ...(event.origin ? { origin: event.origin } : {}),
      at: context.now,
      occurredAt: event.occurredAt,
      ...(event.stage !== undefined ? { target: event.stage } : {}),
      ...(echo ? { echo } : {}),
      ...(reconcile ? { reconcile } : {}),
    },
  });
  return result;
}

/**
 * The deal's CRM state after an event: where the deal lives in its CRM (its pipeline, portal or instance) as the
 * event tells, over what was known. Unchanged (undefined) when the event tells nothing new.
 */
function crmStateAfter(before: CrmState | undefined, event: StageEvent): CrmState | undefined {
  if (event.source === 'generic') return undefined;
  const facts = Object.fromEntries(Object.entries(event.crm ?? {}).filter(([, value]) => value !== undefined));
  const base = before ?? { source: event.source, writes: [] };
  const after = { ...base, ...facts };
  return before && Object.entries(facts).every(([key, value]) => before[key as keyof CrmState] === value)
    ? undefined
    : after;
}

/** The history of an echo says so, with the stage it named and the CRM's origin marker. */
function markEcho(decision: Decision, event: StageEvent): void {
  decision.history = decision.history.map((entry) =>
    entry.type === 'fields'
      ? { ...entry, type: 'echo', to: event.stage ?? null, ...(event.origin ? { origin: event.origin } : {}) }
      : entry,
  );
}
