import type { Logger } from '@aws-lambda-powertools/logger';
import { withCallDeadline } from '../../adapters/crm/http.ts';
import type { CrmClients } from '../../adapters/crm/index.ts';
import type { CrmCallResult, CrmClient } from '../../adapters/crm/types.ts';
import type { DealRepository } from '../../adapters/deal-repository.ts';
import { AlongsideWriteFailedError } from '../../adapters/deals/deals.ts';
import { type Lease, LeaseLostError } from '../../adapters/deals/leases.ts';
import type { WriteBack } from '../../adapters/deals/write-backs.ts';
import type { Telemetry } from '../../adapters/telemetry.ts';
import { type Decision, type HistoryEntry, isEnded } from '../../core/deal.ts';
import type { StoredDeal } from '../../core/stored-deal.ts';
import { retryOnConflict } from '../retry-on-conflict.ts';
import { DEFAULT_RETRY_SCHEDULE, nextTryAt, type RetrySchedule } from './schedule.ts';

/** How many of Stageflow's recent stage writes a deal keeps (for recognising their echoes). */
const KEPT_WRITES = 5;
/** How many deals one sweep works on at once. */
const DEALS_PER_SWEEP = 25;
/** A try is not begun with less run time left than this: it would only be cut off. */
const MIN_TRY_MS = 5_000;
/** Time kept between the end of a run's CRM calls and the end of its lease, for its last table writes. */
const LEASE_MARGIN_MS = 5_000;

/** What the write-back runs need: the table, the CRM clients, the clock and what operators see. */
export interface WriteBackServices {
  deals: DealRepository;
  crm: () => Promise<CrmClients>;
  telemetry: Telemetry;
  logger: Logger;
  clock: () => Date;
}

/** How long one sweep may run, and what may end it early (the local stack stopping). */
export interface SweepOptions {
  /** The run's time, from now: its leases last this long and its CRM calls end {@link LEASE_MARGIN_MS} before. */
  runMs: number;
  stop?: AbortSignal;
  schedule?: RetrySchedule;
}

/** What a sweep did, for its log line. */
export interface SweepReport {
  deals: number;
  synced: number;
  failed: number;
  rescheduled: number;
}

/**
 * Works through the write-backs that are due: each deal's queue under a lease of its own (so two sweeps never work
 * on one deal, and a sweep that outlived its lease is fenced out), in decision order, deals side by side. A deal
 * whose CRM is slow or down holds back that deal's later write-backs only.
 */
export async function sweepWriteBacks(services: WriteBackServices, options: SweepOptions): Promise<SweepReport> {
  const report: SweepReport = { deals: 0, synced: 0, failed: 0, rescheduled: 0 };
  const now = services.clock();
  const due = await services.deals.writeBacks.dueDeals(now.toISOString(), DEALS_PER_SWEEP);
  const clients = await services.crm();
  await Promise.all(
    due.map(async (deal) => {
      const done = await runDealWriteBacks(services, clients, deal, options).catch((error: unknown) => {
        if (error instanceof LeaseLostError) return null;
        services.logger.error('a write-back run failed; the next sweep tries again', { ...deal, error });
        return null;
      });
      if (!done) return;
      report.deals += 1;
      report.synced += done.synced;
      report.failed += done.failed;
      report.rescheduled += done.rescheduled;
    }),
  );
  return report;
}

/** One deal's due write-backs, in order, under the deal's lease; null when another run holds the deal. */
async function runDealWriteBacks(
  services: WriteBackServices,
  clients: CrmClients,
  deal: { pipeline: string; dealId: string },
  options: SweepOptions,
): Promise<Omit<SweepReport, 'deals'> | null> {
  const queue = services.deals.writeBacks;
  const lease = await queue.claim(deal.pipeline, deal.dealId, services.clock().getTime(), options.runMs);
  if (!lease) return null;
  const callsEnd = AbortSignal.timeout(Math.max(0, options.runMs - LEASE_MARGIN_MS));
  const deadline = options.stop ? AbortSignal.any([callsEnd, options.stop]) : callsEnd;
  const counts = { synced: 0, failed: 0, rescheduled: 0 };
  try {
    const pending = await queue.pending(deal.pipeline, deal.dealId);
    for (const [index, item] of pending.entries()) {
      const now = services.clock();
      if (item.dueAt > now.toISOString()) {
        await deferBehind(services, lease, pending.slice(index + 1), item.dueAt);
        break;
      }
      if (deadline.aborted || lease.until - now.getTime() < MIN_TRY_MS + LEASE_MARGIN_MS) break;
      const client = clients[item.source];
      // A CRM without credentials is not written back to: its write-backs complete without a word.
      const outcome = client
        ? await withCallDeadline(deadline, () => tryWriteBack(services, lease, item, client, options.schedule))
        : await complete(services, lease, item);
      counts[outcome.kind] += 1;
      if (outcome.kind === 'rescheduled') {
        await deferBehind(services, lease, pending.slice(index + 1), outcome.dueAt);
        break;
      }
    }
  } finally {
    await queue.release(lease);
  }
  return counts;
}

type TryOutcome = { kind: 'synced' | 'failed' } | { kind: 'rescheduled'; dueAt: string };

/**
 * One try of a write-back: the stage write (skipped when a newer decision moved the deal since, or when an earlier
 * try landed it), then the note (marked begun first, so a later try looks for it before writing it again). The
 * outcome is recorded once: synced, failed for good, or the next try scheduled.
 */
async function tryWriteBack(
  services: WriteBackServices,
  lease: Lease,
  item: WriteBack,
  client: CrmClient,
  schedule = DEFAULT_RETRY_SCHEDULE,
): Promise<TryOutcome> {
  const queue = services.deals.writeBacks;
  const current = await services.deals.getDeal(item.pipeline, item.dealId);
  // A deal that left its pipeline, was merged away or deleted is no longer written back.
  if (!current || isEnded(current.deal.status)) return complete(services, lease, item);
  const superseded = current.deal.stage !== item.stage || current.deal.visit !== item.visit;
  let progress = item;
  const results: CrmCallResult[] = [];
  if (item.setStage && !superseded && !item.stageWritten) {
    const result = await client.setStage(item.dealId, item.setStage.value, item.setStage.shown);
    results.push(result);
    if (result.ok) progress = { ...progress, stageWritten: true };
  }
  if (item.note && results.every((result) => result.ok)) {
    if (!progress.noteBegun) progress = await queue.update(lease, progress, { noteBegun: true });
    results.push(await client.addNote(item.dealId, { ...item.note, inDoubt: item.noteBegun === true }));
  }
  const failed = results.find((result) => !result.ok);
  const wrote = progress.stageWritten === true && !superseded;
  // A stage write a newer decision superseded, with no note: nothing was written, so nothing is recorded.
  if (results.length === 0 && !wrote) return complete(services, lease, progress);
  if (!failed) return finish(services, lease, progress, { ok: true, status: results[0]?.status ?? 200, wrote });
  const nowMs = services.clock().getTime();
  const firstFailedAtMs = progress.firstFailedAt ? Date.parse(progress.firstFailedAt) : nowMs;
  const tries = progress.tries + 1;
  const next = failed.retryable ? nextTryAt(schedule, { tries, firstFailedAtMs, ...pickWait(failed) }, nowMs) : null;
  if (next === null) {
    return finish(services, lease, progress, { ok: false, status: failed.status, wrote }, failed.message);
  }
  const dueAt = new Date(next).toISOString();
  await queue.update(lease, progress, {
    dueAt,
    tries,
    firstFailedAt: new Date(firstFailedAtMs).toISOString(),
    lastStatus: failed.status,
    ...(failed.message ? { lastMessage: failed.message } : {}),
  });
  services.telemetry.crmRetried(item.source, failed.status, tries);
  services.logger.info('CRM write-back scheduled again', {
    pipeline: item.pipeline,
    dealId: item.dealId,
    crm: item.source,
    status: failed.status,
    dueAt,
    reason: failed.message,
  });
  return { kind: 'rescheduled', dueAt };
}

function pickWait(result: CrmCallResult): { retryAfterMs?: number } {
  return result.retryAfterMs === undefined ? {} : { retryAfterMs: result.retryAfterMs };
}

/** Later write-backs of the deal wait for the one ahead of them: they are listed as due no earlier than it. */
async function deferBehind(services: WriteBackServices, lease: Lease, later: WriteBack[], dueAt: string) {
  for (const item of later) {
    if (item.dueAt < dueAt) await services.deals.writeBacks.update(lease, item, { dueAt });
  }
}

/**
 * Records a write-back's outcome in the deal's history (`crm_sync`) and completes its queue item, in one transaction
 * fenced by the lease: the outcome of a decision is recorded once, however many runs tried it.
 */
async function finish(
  services: WriteBackServices,
  lease: Lease,
  item: WriteBack,
  result: { ok: boolean; status: number; wrote: boolean },
  message?: string,
): Promise<TryOutcome> {
  const queue = services.deals.writeBacks;
  try {
    await retryOnConflict(async () => {
      const current = await services.deals.getDeal(item.pipeline, item.dealId);
      const at = services.clock().toISOString();
      if (!current) {
        await complete(services, lease, item);
        return;
      }
      const entry: HistoryEntry = {
        at,
        type: 'crm_sync',
        from: null,
        to: current.deal.stage,
        outcome: result.ok ? 'synced' : 'failed',
        eventId: item.eventId,
        source: null,
        reasons: [],
        status: result.status,
        crm: item.source,
      };
      const writes = result.wrote
        ? [...(current.crm?.writes ?? []), { stage: item.stage, at }].slice(-KEPT_WRITES)
        : (current.crm?.writes ?? []);
      await services.deals.commit({
        before: current,
        decision: unchanged(current, entry),
        crm: { ...current.crm, source: item.source, writes },
        lastDecision: { kind: 'crm_sync', outcome: 'applied', reasons: [], eventId: null, source: item.source, at },
        alongside: queue.completion(lease, item, at),
      });
    });
  } catch (error) {
    if (error instanceof AlongsideWriteFailedError) throw new LeaseLostError(lease.key);
    throw error;
  }
  services.telemetry.crmSynced(item, item.source, result.ok, result.status, message);
  return { kind: result.ok ? 'synced' : 'failed' };
}

function unchanged(current: StoredDeal, entry: HistoryEntry): Decision {
  return {
    outcome: 'applied',
    reasons: [],
    deal: current.deal,
    history: [entry],
    requested: [],
    ended: [],
    moved: false,
  };
}

/** Completes a write-back that wrote nothing (its deal is gone, or a newer move superseded its stage write). */
async function complete(services: WriteBackServices, lease: Lease, item: WriteBack): Promise<TryOutcome> {
  const alongside = services.deals.writeBacks.completion(lease, item, services.clock().toISOString());
  const nothing: Decision = {
    outcome: 'applied',
    reasons: [],
    deal: null,
    history: [],
    requested: [],
    ended: [],
    moved: false,
  };
  try {
    await services.deals.commit({ before: null, decision: nothing, alongside });
  } catch (error) {
    if (error instanceof AlongsideWriteFailedError) throw new LeaseLostError(lease.key);
    throw error;
  }
  return { kind: 'synced' };
}
