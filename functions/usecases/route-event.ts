import { isEnded, type Source } from '../core/deal.ts';
import type { PipelineConfig } from '../core/pipeline-config.ts';
import type { StoredDeal } from '../core/stored-deal.ts';
import { DEFAULT_PIPELINE } from '../sources/body.ts';
import type { ParsedEvent } from '../sources/types.ts';
import type { Services } from './services.ts';

/** The deployed pipelines' configs, by pipeline id, as one delivery sees them. */
type PipelineConfigs = ReadonlyMap<string, PipelineConfig>;

/** Where one event goes. */
export interface Routing {
  /** The Stageflow pipeline that manages the event's deal; null when none does (the event is ignored). */
  pipeline: string | null;
  /** The deal's CRM pipeline, when the delivery or the stored deal names it. */
  crmPipeline: string | null;
  /** The deal as other Stageflow pipelines hold it, still open there: it has left them. */
  leaving: StoredDeal[];
  /** The CRM pipeline the deal comes from, when it arrives from a pipeline another Stageflow pipeline managed. */
  arrivedFrom?: string;
  /**
   * The deal as each pipeline held it when routed (read consistently; null where it holds none), so that recording
   * the event need not read it again; absent when the delivery named the pipeline and nothing was read.
   */
  read?: ReadonlyMap<string, StoredDeal | null>;
}

/** The Stageflow pipelines claiming a CRM pipeline (config checks keep it to one). */
function managerOf(configs: PipelineConfigs, source: Source, crmPipeline: string): string | undefined {
  for (const [id, { crm }] of configs) {
    const claimed =
      source === 'hubspot'
        ? crm.hubspot?.pipelines
        : source === 'pipedrive'
          ? crm.pipedrive?.pipelines
          : source === 'salesforce'
            ? crm.salesforce?.recordTypes
            : undefined;
    if (claimed?.includes(crmPipeline)) return id;
  }
  return undefined;
}

/** HubSpot: the pipeline whose stage map has this `dealstage` value (stage ids are unique within an account). */
function mapperOf(configs: PipelineConfigs, stageValue: string): string | undefined {
  for (const [id, { crm }] of configs) {
    if (crm.hubspot && Object.hasOwn(crm.hubspot.stages, stageValue)) return id;
  }
  return undefined;
}

/**
 * The pipeline an event goes to when the delivery does not tell its CRM pipeline: `?pipeline=`, else `default`.
 * A Salesforce record type no pipeline claims goes there only when that pipeline claims no record types itself.
 */
function fallback(configs: PipelineConfigs, source: Source, constraint: string | undefined, crmPipeline?: string) {
  const id = constraint ?? DEFAULT_PIPELINE;
  const config = configs.get(id);
  if (!config) return undefined;
  const recordTypes = config.crm.salesforce?.recordTypes ?? [];
  if (source === 'salesforce' && crmPipeline !== undefined && recordTypes.length > 0) return undefined;
  return id;
}

/**
 * Routes one CRM event to the Stageflow pipeline that manages its deal's CRM pipeline: by the CRM pipeline the
 * delivery names (HubSpot `pipeline`, Pipedrive `pipeline_id`, Salesforce `RecordTypeId`), else the one kept on the
 * deal from an earlier event, else (HubSpot) by the `dealstage` value, else where Stageflow already holds the deal,
 * else `?pipeline=` or `default`. A merged-away or deleted deal stays where it is held (its events are ignored
 * there, a restore reopens it). `?pipeline=`, when given, is a constraint: an event another pipeline manages is
 * ignored. A deal still open in another pipeline than the one its event goes to has left that one.
 */
export async function routeEvent(
  parsed: ParsedEvent,
  source: Source,
  constraint: string | undefined,
  services: Services,
): Promise<Routing> {
  if (parsed.route.pipeline !== undefined) return { pipeline: parsed.route.pipeline, crmPipeline: null, leaving: [] };
  // Each pipeline's deal is read with that pipeline's config while it is not cached: one call per pipeline.
  const read = new Map(
    await Promise.all(
      services.pipelines
        .pipelineIds()
        .map(async (pipeline) => [pipeline, await services.pipelines.getDeal(pipeline, parsed.dealId)] as const),
    ),
  );
  const configs = await services.pipelines.currentConfigs();
  const held = [...read.values()].filter(
    (stored): stored is StoredDeal => stored !== null && stored.crm?.source === source,
  );
  const gone = held.find((stored) => stored.deal.status === 'merged' || stored.deal.status === 'deleted');
  if (gone) return { pipeline: gone.deal.pipeline, crmPipeline: gone.crm?.pipeline ?? null, leaving: [] };
  const open = held.filter((stored) => !isEnded(stored.deal.status));
  const newest = held.toSorted((a, b) => b.deal.updatedAt.localeCompare(a.deal.updatedAt))[0];
  const crmPipeline = parsed.route.crmPipeline ?? (source === 'hubspot' ? newest?.crm?.pipeline : undefined);

  let pipeline: string | undefined;
  let decided = true;
  if (crmPipeline !== undefined) {
    pipeline = managerOf(configs, source, crmPipeline) ?? fallbackFor(source, configs, constraint, crmPipeline);
  } else if (parsed.route.stageValue !== undefined) {
    pipeline = mapperOf(configs, parsed.route.stageValue) ?? open[0]?.deal.pipeline;
  } else {
    decided = false;
    pipeline = open[0]?.deal.pipeline ?? newest?.deal.pipeline ?? fallback(configs, source, constraint);
  }
  if (constraint !== undefined && pipeline !== constraint) pipeline = undefined;
  const leaving = decided ? open.filter((stored) => stored.deal.pipeline !== pipeline) : [];
  const routing: Routing = { pipeline: pipeline ?? null, crmPipeline: crmPipeline ?? null, leaving, read };
  const origin = leaving[0] ?? held.find((stored) => stored.deal.status === 'left');
  const from = origin?.crm?.pipeline;
  if (pipeline !== undefined && from !== undefined && from !== crmPipeline) routing.arrivedFrom = from;
  return routing;
}

/** Only Salesforce falls back for a CRM pipeline no Stageflow pipeline claims: record types are optional. */
function fallbackFor(source: Source, configs: PipelineConfigs, constraint: string | undefined, crmPipeline: string) {
  return source === 'salesforce' ? fallback(configs, source, constraint, crmPipeline) : undefined;
}
