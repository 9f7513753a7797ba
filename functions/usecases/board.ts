import * as z from 'zod';
import type { InsightsStore } from '../adapters/insights-store.ts';
import { cardFields, columnTotalFrom, exitChecklist, insightsFrom, isStale, staleCutoff } from '../core/board.ts';
import { BadRequestError, NotFoundError } from '../core/errors.ts';
import type { PipelineConfig, StageConfig, VersionedPipeline } from '../core/pipeline-config.ts';
import type { HttpResult } from '../http/responses.ts';
import { boardCard } from '../views/board-cards.ts';
import {
  type BoardColumn,
  boardPage,
  dealPage,
  insightsPage,
  MAX_CARDS_PER_COLUMN,
  type PipelineRef,
} from '../views/board-pages.ts';
import { htmlResponse } from '../views/page.ts';
import type { Services } from './services.ts';

/** What the board's use cases need: the common services and the insights read model. */
export type BoardServices = Pick<Services, 'deals' | 'pipelines' | 'clock'> & { insights: InsightsStore };

/** Query parameters as API Gateway passes them. */
export type Query = Record<string, string | undefined>;

/** How far back a closed column reaches: closed deals pile up forever, the recent ones are what a board shows. */
export const RECENT_CLOSED_DAYS = 30;
/** The default insights period, in days up to today. */
export const DEFAULT_PERIOD_DAYS = 90;
/** The longest insights period one request may sum. */
export const MAX_PERIOD_DAYS = 731;
const DAY_MS = 86_400_000;

const CARD_ATTRIBUTES = [['dealName'], ['owner'], ['stageEventAt'], ['configVersion'], ['approvals'], ['pendingMove']];

/** `GET /board?pipeline=…[&owner=…][&stale=1]`: a column per stage, a card per open deal, counts and totals. */
export async function showBoard(query: Query, services: BoardServices): Promise<HttpResult> {
  const current = await pipelineOf(query, services);
  const owner = ownerFilter(query.owner);
  const staleOnly = staleFilter(query.stale);
  const now = services.clock();
  const versions = await versionsOf(current, services);
  // Unfiltered, a column shows its longest-waiting deals and takes its count and total from the read model, so the
  // board reads a few hundred deals however many are open; a filter reads the deals it selects.
  const filtered = owner !== null || staleOnly;
  const totals = filtered ? null : await services.insights.totals(current.config.pipeline);
  const columns = await Promise.all(
    current.config.stages.map(async (stage): Promise<BoardColumn> => {
      const recentDays = stage.closed ? RECENT_CLOSED_DAYS : undefined;
      const cutoff = staleCutoff(stage, now);
      if (staleOnly && cutoff === null) return { stage, cards: [], recentDays };
      const deals = await services.deals.queryStage(current.config.pipeline, stage.key, {
        attributes: [...CARD_ATTRIBUTES, ...cardFields(stage.key, [...versions.values()]).map((f) => ['fields', f])],
        ownerEmail: owner ?? undefined,
        enteredBefore: staleOnly ? (cutoff ?? undefined) : undefined,
        enteredSince: stage.closed ? new Date(now.getTime() - RECENT_CLOSED_DAYS * DAY_MS).toISOString() : undefined,
        oldest: totals && !stage.closed ? MAX_CARDS_PER_COLUMN : undefined,
      });
      const cards = await Promise.all(
        deals.map(async (deal) => {
          const pinned = await stageUnder(deal.configVersion, stage, versions, current, services);
          return { ...boardCard(deal, pinned, now), stale: isStale(stage, deal.stageEventAt, now) };
        }),
      );
      cards.sort((a, b) => b.daysInStage - a.daysInStage || a.name.localeCompare(b.name));
      const columnTotals = totals && !stage.closed ? columnTotalFrom(stage.key, totals) : undefined;
      return { stage, cards, recentDays, totals: columnTotals };
    }),
  );
  return htmlResponse(
    200,
    boardPage({ pipeline: refOf(current.config), columns, filters: { owner, stale: staleOnly } }),
  );
}

/** `GET /board/deals/{dealId}?pipeline=…`: one deal's stage guidance, exit-criteria checklist, approvals, timeline. */
export async function showDeal(dealId: string, query: Query, services: BoardServices): Promise<HttpResult> {
  const current = await pipelineOf(query, services);
  const pipeline = current.config.pipeline;
  const [stored, history] = await Promise.all([
    services.deals.getDeal(pipeline, dealId),
    services.deals.getHistory(pipeline, dealId),
  ]);
  if (!stored) throw new NotFoundError(`There is no deal '${dealId}' in pipeline '${pipeline}'.`);
  const { deal } = stored;
  const { config } = await services.pipelines.version(pipeline, deal.configVersion);
  const stage = config.stages.find((s) => s.key === deal.stage);
  if (!stage) throw new Error(`deal ${dealId} is in stage '${deal.stage}', which its config version lacks`);
  const currentStage = current.config.stages.find((s) => s.key === deal.stage) ?? stage;
  const now = services.clock();
  return htmlResponse(
    200,
    dealPage({
      pipeline: refOf(current.config),
      deal,
      stage,
      config,
      checklist: exitChecklist(stage, deal.fields),
      history,
      stale: deal.status === 'open' && isStale(currentStage, deal.stageEventAt, now),
      now,
    }),
  );
}

/** `GET /board/insights?pipeline=…[&from=YYYY-MM-DD&to=YYYY-MM-DD]`: the period's figures from the read model. */
export async function showInsights(query: Query, services: BoardServices): Promise<HttpResult> {
  const current = await pipelineOf(query, services);
  const today = services.clock().toISOString().slice(0, 10);
  const to = dateParam('to', query.to) ?? today;
  const from = dateParam('from', query.from) ?? addDays(to, 1 - DEFAULT_PERIOD_DAYS);
  if (from > to) {
    throw new BadRequestError('INVALID_PERIOD', `'from' (${from}) is after 'to' (${to}) — swap them`, [
      { path: 'from', message: 'after to' },
    ]);
  }
  if ((Date.parse(to) - Date.parse(from)) / DAY_MS >= MAX_PERIOD_DAYS) {
    throw new BadRequestError('INVALID_PERIOD', `the period may span at most ${MAX_PERIOD_DAYS} days — shorten it`, [
      { path: 'from', message: 'period too long' },
    ]);
  }
  const counters = await services.insights.sum(current.config.pipeline, from, to);
  return htmlResponse(
    200,
    insightsPage({ pipeline: refOf(current.config), from, to, insights: insightsFrom(current.config, counters) }),
  );
}

async function pipelineOf(query: Query, services: BoardServices): Promise<VersionedPipeline> {
  const pipeline = query.pipeline ?? 'default';
  if (!services.pipelines.pipelineIds().includes(pipeline)) {
    throw new NotFoundError(
      `There is no pipeline '${pipeline}'. Use one of: ${services.pipelines.pipelineIds().join(', ')}.`,
    );
  }
  return services.pipelines.current(pipeline);
}

const email = z.email();
const isoDate = z.iso.date();

function ownerFilter(raw: string | undefined): string | null {
  if (raw === undefined || raw.trim() === '') return null;
  const owner = raw.trim();
  if (!email.safeParse(owner).success) {
    throw new BadRequestError(
      'INVALID_OWNER',
      `owner must be an email address such as rep@example.com, not '${owner}'`,
      [{ path: 'owner', message: 'not an email address' }],
    );
  }
  return owner;
}

function staleFilter(raw: string | undefined): boolean {
  if (raw === undefined || raw === '' || raw === '0') return false;
  if (raw === '1') return true;
  throw new BadRequestError('INVALID_STALE', `stale must be 1 (stale deals only) or left out, not '${raw}'`, [
    { path: 'stale', message: 'not 1' },
  ]);
}

function dateParam(name: string, raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!isoDate.safeParse(raw).success) {
    throw new BadRequestError('INVALID_DATE', `${name} must be a date written YYYY-MM-DD, not '${raw}'`, [
      { path: name, message: 'not a date' },
    ]);
  }
  return raw;
}

function addDays(day: string, days: number): string {
  return new Date(Date.parse(day) + days * DAY_MS).toISOString().slice(0, 10);
}

function refOf(config: PipelineConfig): PipelineRef {
  return { id: config.pipeline, name: config.name };
}

/** Every stored version of the pipeline, once per process: versions never change, new ones come with a restart. */
const versionCache = new Map<string, Promise<Map<string, PipelineConfig>>>();

async function versionsOf(current: VersionedPipeline, services: BoardServices): Promise<Map<string, PipelineConfig>> {
  const key = `${current.config.pipeline}@${current.version}`;
  let versions = versionCache.get(key);
  if (!versions) {
    versions = services.deals
      .listPipelineVersions(current.config.pipeline)
      .then((all) => new Map([...all.map((v) => [v.version, v.config] as const), [current.version, current.config]]));
    versionCache.set(key, versions);
    versions.catch(() => versionCache.delete(key));
  }
  return versions;
}

/** The stage as the deal's own config version defines it (its exit criteria judge the card). */
async function stageUnder(
  version: string | undefined,
  stage: StageConfig,
  versions: Map<string, PipelineConfig>,
  current: VersionedPipeline,
  services: BoardServices,
): Promise<StageConfig> {
  if (version === undefined || version === current.version) return stage;
  const config = versions.get(version) ?? (await services.pipelines.version(current.config.pipeline, version)).config;
  return config.stages.find((s) => s.key === stage.key) ?? stage;
}
