import type { ApiClient, GenericEvent } from '../infra/local/api-client.ts';
import { EXIT_FIELDS, nextStage, OPEN_STAGES, STORY_DEAL } from '../infra/local/default-story.ts';

/**
 * The benchmark's CRM: signed generic webhooks, timed, and the story of one deal through the default pipeline. Kept
 * free of the local stack's modules so the load senders' worker thread loads little.
 */

export interface Delivery {
  status: number;
  /** The `outcome` of a 202 answer, or the status when there is none. */
  outcome: string;
  /** From just before the request until the answer's body was read. */
  ms: number;
}

/** Posts one event to `POST /webhooks/generic` and times it. */
export async function timedDelivery(client: ApiClient, event: GenericEvent): Promise<Delivery> {
  const { status, body, ms } = await client.postGeneric(event);
  const outcome = status === 202 ? (body as { outcome?: string } | undefined)?.outcome : undefined;
  return { status, outcome: outcome ?? `HTTP ${status}`, ms };
}

/**
 * The 11 events of a deal won without detours: created at `identify`, then per open stage a field update that brings
 * the first half of its exit fields and a move to the next stage that brings the rest. The first 10 bring it to
 * `deliver` (where Finance and Legal are asked) with the fields to close; the last asks to close it won, which waits
 * for their approvals.
 */
export function dealStory(dealId: string, eventPrefix: string): GenericEvent[] {
  const { owner, fields } = STORY_DEAL;
  const events: GenericEvent[] = [
    { eventId: `${eventPrefix}-0`, dealId, stage: 'identify', dealName: `Bench deal ${dealId}`, owner, fields },
  ];
  for (const stage of OPEN_STAGES) {
    const exitFields = Object.entries(EXIT_FIELDS[stage] ?? {});
    const half = Math.ceil(exitFields.length / 2);
    const update = Object.fromEntries(exitFields.slice(0, half));
    const rest = Object.fromEntries(exitFields.slice(half));
    events.push({ eventId: `${eventPrefix}-${events.length}`, dealId, fields: update });
    events.push({ eventId: `${eventPrefix}-${events.length}`, dealId, stage: nextStage(stage), fields: rest });
  }
  return events;
}
