import { stageShard } from '../../adapters/deals/keys.ts';
import { INSIGHTS_SHARDS, type InsightsStore, type ProjectionMarker } from '../../adapters/insights-store.ts';
import { COUNTER, type Counters, daysBetween, LOST_REASON_FIELDS, totalsContribution } from '../../core/board.ts';
import type { Deal } from '../../core/deal.ts';
import type { DealChange } from '../deal-change.ts';

/** The longest lost reason kept as its own counter; longer texts are cut, so free text cannot grow an item unbounded. */
const MAX_REASON_LENGTH = 80;

/** What one change did to the read model. */
export type ProjectionResult = 'projected' | 'unchanged' | 'duplicate';

/**
 * Projects one committed deal change into the insights read model: a change that moves the deal adds to the
 * counters of the day of the move (the CRM's `occurredAt`): the stage entered (once per deal and stage), the days
 * spent in the stage left, and on closing, won or lost with the cycle time or the lost reason. Field updates change
 * nothing. Idempotent: the deal's marker records the last version projected, and the counters and the marker are
 * written in one transaction conditioned on it, so a retried or redelivered change never counts twice. A creation
 * writes without reading the marker first: its retry finds the marker written and counts nothing.
 */
export async function projectInsights(
  change: DealChange,
  deps: { insights: InsightsStore },
): Promise<ProjectionResult> {
  const after = change.after.deal;
  const before = change.before?.deal ?? null;
  const totals = totalsDelta(before, after);
  const moved = before === null || before.stage !== after.stage;
  if (!moved && Object.keys(totals).length === 0) return 'unchanged';
  // A creation needs nothing from a marker (deal items are never deleted, so none exists but a retry's own, which the
  // write's condition turns away): only later changes read it.
  const marker = before === null ? null : await deps.insights.getMarker(after.pipeline, after.dealId);
  if (marker !== null && marker.version >= change.after.version) return 'duplicate';

  const counters: Counters = {};
  if (moved) Object.assign(counters, stageCounters(before, after, marker));
  const lost = moved && after.status === 'lost' && before?.status !== 'lost' ? lostReason(after.fields) : null;
  const written = await deps.insights.add({
    pipeline: after.pipeline,
    dealId: after.dealId,
    shard: stageShard(after.dealId) % INSIGHTS_SHARDS,
    version: change.after.version,
    day: after.stageEventAt.slice(0, 10),
    counters,
    reason: lost === null ? null : { name: COUNTER.lostReason(lost), reason: lost },
    totals,
    startedAt: before === null ? after.stageEventAt : null,
    entered: moved ? after.stage : null,
  });
  return written ? 'projected' : 'duplicate';
}

/** How the change moves the open-deal totals: what the deal adds now minus what it added before. */
function totalsDelta(before: Deal | null, after: Deal): Counters {
  const delta: Counters = { ...totalsContribution(after) };
  for (const [name, value] of Object.entries(totalsContribution(before))) delta[name] = (delta[name] ?? 0) - value;
  return Object.fromEntries(Object.entries(delta).filter(([, value]) => value !== 0));
}

/**
 * The day counters of a move (or of the creation): entered, days in the stage left, won or lost. The lost reason is
 * counted in an item of its own (see InsightsStore), so free text never grows the day's item.
 */
function stageCounters(before: Deal | null, after: Deal, marker: ProjectionMarker | null): Counters {
  const counters: Counters = {};
  const movedAt = new Date(after.stageEventAt);
  if (!marker?.visited.includes(after.stage)) counters[COUNTER.entered(after.stage)] = 1;
  if (before !== null) counters[COUNTER.dwell(before.stage, daysBetween(before.stageEventAt, movedAt))] = 1;
  const startedAt = before === null ? after.stageEventAt : (marker?.startedAt ?? null);
  if (after.status === 'won' && before?.status !== 'won') {
    counters[COUNTER.won] = 1;
    if (startedAt !== null) counters[COUNTER.cycle(daysBetween(startedAt, movedAt))] = 1;
  }
  if (after.status === 'lost' && before?.status !== 'lost') {
    counters[COUNTER.lost] = 1;
  }
  return counters;
}

function lostReason(fields: Record<string, unknown>): string {
  const raw = LOST_REASON_FIELDS.map((field) => fields[field]).find(
    (value) => (typeof value === 'string' && value.trim() !== '') || typeof value === 'number',
  );
  const text = raw === undefined ? 'not given' : String(raw).trim().replace(/\s+/g, ' ');
  return text.length > MAX_REASON_LENGTH ? `${text.slice(0, MAX_REASON_LENGTH - 1)}…` : text;
}
