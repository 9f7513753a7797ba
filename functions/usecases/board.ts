import * as z from 'zod';
import type { InsightsStore } from '../adapters/insights-store.ts';
import {
  cardAttributes,
  columnTotalFrom,
  exitChecklist,
  insightsFrom,
  isStale,
  ownerIndexFinds,
  ownersFrom,
  ownersMatching,
  staleCutoff,
} from '../core/board.ts';
import { BadRequestError, NotFoundError } from '../core/errors.ts';
import type { PipelineConfig, StageConfig, VersionedPipeline } from '../core/pipeline-config.ts';
import type { HttpResult } from '../http/responses.ts';
import { boardCard } from '../views/board-cards.ts';
import { boardCsv } from '../views/board-csv.ts';
import type { PagePlace, PipelineRef } from '../views/board-layout.ts';
import { type BoardColumn, type BoardView, boardPage, MAX_CARDS_PER_COLUMN } from '../views/board-pages.ts';
import { type CrmWebBases, crmLink } from '../views/crm-links.ts';
import { dealPage } from '../views/deal-page.ts';
import { insightsPage } from '../views/insights-page.ts';
import { htmlResponse, PAGE_HEADERS } from '../views/page.ts';
import type { Services } from './services.ts';

/** What the board's use cases need: the common services and the insights read model. */
export type BoardServices = Pick<Services, 'deals' | 'pipelines' | 'clock'> & {
  insights: InsightsStore;
  /** Where the CRMs' web apps live that a deal's CRM state does not say (Pipedrive's company domain). */
  crmWebBases?: CrmWebBases;
};

/** Query parameters as API Gateway passes them. */
export type Query = Record<string, string | undefined>;

/** How far back a closed column reaches: closed deals pile up forever, the recent ones are what a board shows. */
export const RECENT_CLOSED_DAYS = 30;
/** The default insights period, in days up to today. */
export const DEFAULT_PERIOD_DAYS = 90;
/** The longest insights period one request may sum. */
export const MAX_PERIOD_DAYS = 731;
const DAY_MS = 86_400_000;

/** The longest owner or search text taken; longer is no name, address or deal id. */
const MAX_FILTER_LENGTH = 200;

/** `GET /board?pipeline=…[&owner=…][&q=…][&stale=1]`: a column per stage, a card per deal, counts and totals. */
export async function showBoard(query: Query, services: BoardServices): Promise<HttpResult> {
  const board = await readBoard(query, services);
  return htmlResponse(200, boardPage(board));
}

/** `GET /board/export.csv?…`: the deals the same filters show on the board, as CSV for a spreadsheet. */
export async function exportBoard(query: Query, services: BoardServices): Promise<HttpResult> {
  const board = await readBoard(query, services);
  const day = services.clock().toISOString().slice(0, 10);
  return {
    statusCode: 200,
    headers: {
      ...PAGE_HEADERS,
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': `attachment; filename="${board.place.pipeline.id}-deals-${day}.csv"`,
    },
    body: boardCsv(board.columns),
  };
}

/**
 * The board's columns under the request's filters. Unfiltered, a column shows its longest-waiting deals and takes its
 * count and totals from the read model, so the board reads a few hundred deals however many are open; a filter reads
 * the deals it selects (an owner through the owner index; a search only the open stages). An open stage the read
 * model counts no deal in is not read at all, so the queries follow the deals, not the number of stages.
 */
async function readBoard(query: Query, services: BoardServices): Promise<BoardView> {
  const current = await pipelineOf(query, services);
  const pipeline = current.config.pipeline;
  const owner = textFilter('owner', query.owner);
  const search = textFilter('q', query.q);
  const staleOnly = staleFilter(query.stale);
  const now = services.clock();
  const [versions, totals, ownerIndexReady] = await Promise.all([
    versionsOf(current, services),
    services.insights.totals(pipeline),
    owner === null ? false : services.deals.ownerIndexReady(),
  ]);
  const owners = ownersFrom(totals);
  const filtered = owner !== null || search !== null || staleOnly;
  const wanted = search?.toLocaleLowerCase('en') ?? null;
  const closedSince = new Date(now.getTime() - RECENT_CLOSED_DAYS * DAY_MS).toISOString();
  const ownersDeals =
    owner !== null && ownerIndexReady && ownerIndexFinds(owner, owners)
      ? Map.groupBy(
          await services.deals.queryOwners(pipeline, {
            owners: ownersMatching(owner, owners),
            attributes: current.config.stages.flatMap((stage) => cardAttributes(stage.key, [...versions.values()])),
            lastDecision: true,
            select: (stageKey, enteredAt) => {
              const stage = current.config.stages.find((s) => s.key === stageKey);
              if (stage === undefined || (search !== null && stage.closed)) return false;
              if (stage.closed) return enteredAt >= closedSince;
              const cutoff = staleCutoff(stage, now);
              return !staleOnly || (cutoff !== null && enteredAt < cutoff);
            },
          }),
          (deal) => deal.stage,
        )
      : null;
  // Without the owner index's answer a filter by a new owner reads every stage: the read model may not count it yet.
  const counted = owner === null;
  const columns = await Promise.all(
    current.config.stages.map(async (stage): Promise<BoardColumn> => {
      const recentDays = stage.closed ? RECENT_CLOSED_DAYS : undefined;
      const cutoff = staleCutoff(stage, now);
      const empty = !stage.closed && counted && (totals[`count#${stage.key}`] ?? 0) <= 0;
      if (empty || (staleOnly && cutoff === null) || (search !== null && stage.closed)) {
        return { stage, cards: [], recentDays };
      }
      const enteredBefore = staleOnly ? (cutoff ?? undefined) : undefined;
      const enteredSince = stage.closed ? closedSince : undefined;
      const deals =
        ownersDeals !== null
          ? (ownersDeals.get(stage.key) ?? [])
          : await services.deals.queryStage(pipeline, stage.key, {
              attributes: cardAttributes(stage.key, [...versions.values()]),
              owners: owner === null ? undefined : ownersMatching(owner, owners),
              lastDecision: true,
              enteredBefore,
              enteredSince,
              oldest: !filtered && !stage.closed ? MAX_CARDS_PER_COLUMN : undefined,
            });
      const selected =
        wanted === null
          ? deals
          : deals.filter((deal) =>
              [deal.dealId, deal.dealName ?? ''].some((text) => text.toLocaleLowerCase('en').includes(wanted)),
            );
      const cards = await Promise.all(
        selected.map(async (deal) => {
          const pinned = await stageUnder(deal.configVersion, stage, versions, current, services);
          return { ...boardCard(deal, pinned, now), stale: isStale(stage, deal.stageEventAt, now) };
        }),
      );
      cards.sort((a, b) => b.daysInStage - a.daysInStage || a.name.localeCompare(b.name));
      const columnTotals = !filtered && !stage.closed ? columnTotalFrom(stage.key, totals) : undefined;
      return { stage, cards, recentDays, totals: columnTotals };
    }),
  );
  return {
    place: await placeOf(current, 'board', services),
    columns,
    owners,
    filters: { owner, q: search, stale: staleOnly },
  };
}

/** `GET /board/deals/{dealId}?pipeline=…`: one deal's stage guidance, exit-criteria checklist, approvals, timeline. */
export async function showDeal(dealId: string, query: Query, services: BoardServices): Promise<HttpResult> {
  const current = await pipelineOf(query, services);
  const pipeline = current.config.pipeline;
  const found = await services.deals.getDealWithHistory(pipeline, dealId);
  if (!found) throw new NotFoundError(`There is no deal '${dealId}' in pipeline '${pipeline}'.`);
  const { stored, history } = found;
  const { deal } = stored;
  const { config } = await services.pipelines.version(pipeline, deal.configVersion);
  const stage = config.stages.find((s) => s.key === deal.stage);
  if (!stage) throw new Error(`deal ${dealId} is in stage '${deal.stage}', which its config version lacks`);
  const currentStage = current.config.stages.find((s) => s.key === deal.stage) ?? stage;
  const now = services.clock();
  return htmlResponse(
    200,
    dealPage({
      place: await placeOf(current, 'deal', services),
      deal,
      stage,
      config,
      checklist: exitChecklist(stage, deal.fields),
      history,
      stale: deal.status === 'open' && isStale(currentStage, deal.stageEventAt, now),
      now,
      crm: crmLink(deal.dealId, stored.crm, services.crmWebBases ?? {}),
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
    insightsPage({
      place: await placeOf(current, 'insights', services),
      from,
      to,
      insights: insightsFrom(current.config, counters),
    }),
  );
}

async function pipelineOf(query: Query, services: BoardServices): Promise<VersionedPipeline> {
  const pipeline = query.pipeline ?? 'default';
  if (!services.pipelines.isDeployed(pipeline)) {
    throw new NotFoundError(
      `There is no pipeline '${pipeline}'. Use one of: ${services.pipelines.pipelineIds().join(', ')}.`,
    );
  }
  return services.pipelines.current(pipeline);
}

const isoDate = z.iso.date();

/** A text filter (an owner, a search), trimmed; null when absent or blank. */
function textFilter(name: string, raw: string | undefined): string | null {
  const text = raw?.trim() ?? '';
  if (text === '') return null;
  if (text.length > MAX_FILTER_LENGTH) {
    throw new BadRequestError('INVALID_FILTER', `${name} may be at most ${MAX_FILTER_LENGTH} characters long`, [
      { path: name, message: 'too long' },
    ]);
  }
  return text;
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

/** The page's pipeline and every pipeline by name, for the switcher (current versions are cached per process). */
async function placeOf(
  current: VersionedPipeline,
  page: PagePlace['page'],
  services: BoardServices,
): Promise<PagePlace> {
  const pipelines = await Promise.all(
    services.pipelines.pipelineIds().map(async (id): Promise<PipelineRef> => {
      const { config } = id === current.config.pipeline ? current : await services.pipelines.current(id);
      return { id, name: config.name };
    }),
  );
  return { pipeline: { id: current.config.pipeline, name: current.config.name }, pipelines, page };
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
