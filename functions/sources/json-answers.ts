import type { EventResult } from '../core/deal.ts';
import { json } from '../http/responses.ts';
import type { WebhookResponse } from './types.ts';

/** One event's result exactly as the webhook answer shows it, whatever else the caller's result carries. */
function resultBody({ outcome, dealId, stage, reasons }: EventResult): EventResult {
  return { outcome, dealId, stage, reasons };
}

/**
 * `202` with the single result of a one-event delivery; a delivery about another CRM object than a deal, which
 * records nothing, is answered `202` with no results.
 */
export function acceptedEvent(results: EventResult[]): WebhookResponse {
  const [result] = results;
  if (results.length === 0) return json(202, { results: [] });
  if (results.length !== 1 || !result) {
    throw new Error(`a single-event source got ${results.length} results to answer`);
  }
  return json(202, resultBody(result));
}

/** `202` with `{"results": [...]}`, one per recorded event of a batch, in the order they were recorded. */
export function acceptedBatch(results: EventResult[]): WebhookResponse {
  return json(202, { results: results.map(resultBody) });
}
