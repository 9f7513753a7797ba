import type { EventResult, Source } from '../../core/deal.ts';
import { eventKey, KEPT_DAYS, TABLE_KEYS, ttlAfter } from './keys.ts';

/** The record of one CRM event applied: written with the decision it caused, so an event applies exactly once. */
export interface EventRecord {
  source: Source;
  eventId: string;
  pipeline: string;
  dealId: string;
  result: EventResult;
  recordedAt: string;
}

/** Thrown when the event was recorded before: the transaction's not-seen condition failed. */
export class DuplicateEventError extends Error {
  constructor(source: Source, eventId: string) {
    super(`event ${source}:${eventId} was already recorded`);
    this.name = 'DuplicateEventError';
  }
}

/** The event record item, with the condition that it was never written before. */
export function eventRecordPut(tableName: string, event: EventRecord) {
  return {
    TableName: tableName,
    Item: {
      ...eventKey(event.source, event.eventId),
      record: event,
      [TABLE_KEYS.ttl]: ttlAfter(event.recordedAt, KEPT_DAYS.eventRecord),
    },
    ConditionExpression: 'attribute_not_exists(pk)',
  };
}
