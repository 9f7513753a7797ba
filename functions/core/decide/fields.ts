import type { Deal, StageEvent } from '../deal.ts';

/** Timestamps are compared as instants: '…T10:00:00Z' and '…T10:00:00.000Z' are the same time. */
export function isBefore(a: string, b: string): boolean {
  return Date.parse(a) < Date.parse(b);
}

/**
 * Merges an event into the deal: each field is taken unless the deal holds a value set by a newer event
 * (`null` removes the field but still records its time); name and owner only from the newest event.
 * Returns how many fields were taken.
 */
export function mergeEvent(deal: Deal, event: StageEvent): number {
  // Maps and fromEntries keep a CRM field named `__proto__` an ordinary field.
  const fields = new Map(Object.entries(deal.fields));
  const times = new Map(Object.entries(deal.fieldTimes));
  let taken = 0;
  for (const [name, value] of Object.entries(event.fields)) {
    const since = times.get(name);
    if (value === undefined || (since !== undefined && isBefore(event.occurredAt, since))) continue;
    if (value === null) fields.delete(name);
    else fields.set(name, value);
    times.set(name, event.occurredAt);
    taken += 1;
  }
  deal.fields = Object.fromEntries(fields);
  deal.fieldTimes = Object.fromEntries(times);
  if (!isBefore(event.occurredAt, deal.lastEventAt)) {
    deal.dealName = event.dealName ?? deal.dealName;
    deal.owner = event.owner ?? deal.owner;
    deal.lastEventAt = event.occurredAt;
  }
  return taken;
}

/**
 * A field update is stale when it took no field and is older than the deal's newest event: every field it
 * carried was already set by a newer one. `taken` is what {@link mergeEvent} returned for it.
 */
export function isStaleUpdate(deal: Deal, event: StageEvent, taken: number): boolean {
  return taken === 0 && isBefore(event.occurredAt, deal.lastEventAt);
}
