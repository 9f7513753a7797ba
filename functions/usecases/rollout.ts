import type { DealRepository } from '../adapters/deal-repository.ts';
import { planRollout, type RolloutPlan } from '../core/config/plan.ts';
import type { Decision } from '../core/deal.ts';
import { migrateDeal, needsMigration, stageUnder, UnmappedRetiredStageError } from '../core/migrate.ts';
import type { VersionedPipeline } from '../core/pipeline-config.ts';
import type { StoredDeal } from '../core/stored-deal.ts';
import { retryOnConflict } from './retry-on-conflict.ts';
import { decisionContext, type Services } from './services.ts';

/**
 * A new version of a pipeline goes live: its open deals move to it, one optimistic-lock commit
 * each, found through the `byStage` index page by page (never a scan). A deal already on the version is skipped, so
 * a second run, or a run after a crash halfway, moves every open deal exactly once. The rollout writes only the table:
 * the outbox sees each commit on the stream (`lastDecision.kind = 'config'`, a new `configVersion`), replaces the
 * deal's execution with one on the new state machine version, releases and announces the cancelled approvals.
 */

/** What a rollout did. */
export interface RolloutReport {
  pipeline: string;
  /** The version live before, null for the first. */
  from: string | null;
  to: string;
  /** Open deals moved to the new version by this run. */
  moved: number;
  cancelledApprovals: number;
}

export interface RolloutOptions {
  /** Deals read per `byStage` page (default 100). */
  pageSize?: number;
  /** Called after each committed migration: the tests crash a run halfway with it. */
  migrated?: (dealId: string) => void | Promise<void>;
}

const PAGE_SIZE = 100;

/**
 * Moves the open deals of `next`'s pipeline to it (unless its `rollout` is `new-deals-only`), then records it as the
 * live version. Per deal: read, `migrateDeal`, commit with `lastDecision.kind = 'config'`.
 * @throws UnmappedRetiredStageError before moving anything, when open deals sit in a stage `next` removes unmapped.
 */
export async function rolloutPipeline(
  next: VersionedPipeline,
  services: Services,
  options: RolloutOptions = {},
): Promise<RolloutReport> {
  const pipelineId = next.config.pipeline;
  const { deals } = services;
  const report: RolloutReport = {
    pipeline: pipelineId,
    from: await deals.getLiveVersion(pipelineId),
    to: next.version,
    moved: 0,
    cancelledApprovals: 0,
  };
  if (next.config.rollout === 'open-deals') {
    const stages = await stagesOfEveryVersion(deals, next);
    await refuseUnmappedStages(deals, next, stages);
    for (const stage of stages) {
      for await (const listed of openDealsIn(deals, pipelineId, stage, options.pageSize)) {
        if (!needsMigration(listed.deal, next)) continue;
        const migrated = await retryOnConflict(() => migrateOne(listed.deal.dealId, next, services));
        if (!migrated) continue;
        report.moved++;
        report.cancelledApprovals += migrated.ended.length;
        await options.migrated?.(listed.deal.dealId);
      }
    }
  }
  await deals.putLiveVersion(pipelineId, next.version, services.clock().toISOString());
  return report;
}

/** One deal, read afresh under its lock: null when it closed or moved meanwhile (another run, another event). */
async function migrateOne(dealId: string, next: VersionedPipeline, services: Services) {
  const before = await services.deals.getDeal(next.config.pipeline, dealId);
  if (!before || !needsMigration(before.deal, next)) return null;
  const current = await services.pipelines.version(next.config.pipeline, before.deal.configVersion);
  const decision: Decision = migrateDeal(current, next, before.deal, decisionContext(services, next.config));
  const entry = decision.history[0];
  const after = await services.deals.commit({
    before,
    decision,
    lastDecision: {
      kind: 'config',
      outcome: decision.outcome,
      reasons: decision.reasons,
      eventId: null,
      source: 'config',
      at: entry?.at ?? services.clock().toISOString(),
    },
  });
  return after ? decision : null;
}

/**
 * The plan of rolling `next` out now: the diff against the live version and the impact on the open deals.
 * Reads only; `config:plan` runs it against the local data folder or the deployed table.
 */
export async function readRolloutPlan(
  deals: DealRepository,
  next: VersionedPipeline,
  now = new Date().toISOString(),
): Promise<RolloutPlan> {
  const pipelineId = next.config.pipeline;
  const liveVersion = await deals.getLiveVersion(pipelineId);
  const stored = await deals.listPipelineVersions(pipelineId);
  const versions = new Map(stored.map((v) => [v.version, v]));
  const live = liveVersion === null ? null : (versions.get(liveVersion) ?? null);
  const open: StoredDeal['deal'][] = [];
  for (const stage of await stagesOfEveryVersion(deals, next)) {
    for await (const listed of openDealsIn(deals, pipelineId, stage)) open.push(listed.deal);
  }
  return planRollout(live, next, open, versions, now);
}

/** Every stage key any stored version of the pipeline (or `next`) has: where open deals can sit. */
async function stagesOfEveryVersion(deals: DealRepository, next: VersionedPipeline): Promise<string[]> {
  const versions = [next, ...(await deals.listPipelineVersions(next.config.pipeline))];
  return [...new Set(versions.flatMap((v) => v.config.stages.filter((s) => !s.closed).map((s) => s.key)))];
}

async function refuseUnmappedStages(deals: DealRepository, next: VersionedPipeline, stages: string[]): Promise<void> {
  const unmapped: { stage: string; dealIds: string[] }[] = [];
  for (const stage of stages.filter((key) => stageUnder(next.config, key) === undefined)) {
    const dealIds: string[] = [];
    for await (const listed of openDealsIn(deals, next.config.pipeline, stage)) {
      if (needsMigration(listed.deal, next)) dealIds.push(listed.deal.dealId);
    }
    if (dealIds.length > 0) unmapped.push({ stage, dealIds });
  }
  if (unmapped.length > 0) throw new UnmappedRetiredStageError(next.config.pipeline, unmapped);
}

/** The open deals of one stage, page by page through the `byStage` index. */
async function* openDealsIn(
  deals: DealRepository,
  pipeline: string,
  stage: string,
  limit = PAGE_SIZE,
): AsyncGenerator<StoredDeal> {
  let nextToken: string | undefined;
  do {
    const page = await deals.listDeals(pipeline, stage, { limit, nextToken });
    for (const stored of page.deals) if (stored.deal.status === 'open') yield stored;
    nextToken = page.nextToken ?? undefined;
  } while (nextToken);
}
