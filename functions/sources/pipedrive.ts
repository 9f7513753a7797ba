import * as z from 'zod/mini';
import { type Fields, MAX_ID_LENGTH, type StageEvent } from '../core/deal.ts';
import { UnauthorizedError } from '../core/errors.ts';
import type { PipelineConfig } from '../core/pipeline-config.ts';
import { jsonError } from '../http/responses.ts';
import { invalidEvent, MAX_EPOCH_MS, parseJsonBody, pipelineFromQuery, validateBody } from './body.ts';
import { configuredSecret, safeEqual } from './credentials.ts';
import { mapStage, renameField } from './crm-maps.ts';
import { acceptedEvent } from './json-answers.ts';
import type { ParsedEvent, ParsedMerge, SourceAdapter, WebhookRequest } from './types.ts';

/** Webhooks v2 actions, and the v1 names some senders still use for them. */
const ACTIONS = {
  create: 'create',
  change: 'change',
  delete: 'delete',
  added: 'create',
  updated: 'change',
  deleted: 'delete',
} as const;
const actionNames = Object.keys(ACTIONS) as (keyof typeof ACTIONS)[];

/** Epoch values below this are seconds (the year 5138 in seconds is 1973 in ms); Pipedrive has sent both. */
const SECONDS_BELOW = 1e11;

const pipedriveId = z.union([
  z.number().check(z.int(), z.nonnegative()),
  z.string().check(z.minLength(1), z.maxLength(MAX_ID_LENGTH)),
]);
const anyRecord = z.record(z.string(), z.unknown());
/** A pipeline or stage id: an integer, or its text. */
const numberedId = z.union([z.number().check(z.int()), z.string().check(z.minLength(1))]);

const MetaSchema = z.looseObject({
  action: z.enum(actionNames),
  entity: z.string().check(z.minLength(1), z.describe('the object type; only `deal` is taken')),
  entity_id: pipedriveId.check(z.describe('the deal id')),
  id: pipedriveId.check(z.describe('the event id: a redelivery carries the same one')),
  timestamp: z
    .union([z.number().check(z.nonnegative(), z.maximum(MAX_EPOCH_MS)), z.iso.datetime({ offset: true })])
    .check(z.describe('when the change happened: epoch seconds or ms, or an ISO date-time')),
  attempt: z.optional(z.number().check(z.int())),
});

/** The deal fields this source reads itself; every other field of `data` is stored as a deal field. */
const DealDataSchema = z.looseObject({
  pipeline_id: z.nullish(numberedId).check(z.describe('the CRM pipeline of the deal')),
  merged_to_id: z.nullish(pipedriveId).check(z.describe('on a delete: the deal this one was merged into')),
  stage_id: z.nullish(numberedId),
  status: z.nullish(z.string()),
  title: z.nullish(z.string()),
  custom_fields: z.nullish(anyRecord),
});
const NOT_FIELDS: ReadonlySet<string> = new Set(['id', ...Object.keys(DealDataSchema.shape)]);

const DealBodySchema = z.looseObject({
  meta: MetaSchema,
  data: z.nullish(DealDataSchema),
  previous: z.nullish(anyRecord).check(z.describe('the values before a change (only the changed ones in webhooks v2)')),
});
type DealData = z.output<typeof DealDataSchema>;

const BASIC_HINT = "set the Pipedrive webhook's HTTP auth user and password to those of PIPEDRIVE_BASIC_AUTH";

function authenticate(req: WebhookRequest, expected: string): void {
  const credentials = /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(req.headers.authorization ?? '')?.[1];
  if (credentials === undefined) {
    throw new UnauthorizedError(`HTTP Basic credentials are required — ${BASIC_HINT}`);
  }
  if (!safeEqual(Buffer.from(credentials, 'base64').toString('utf8'), expected)) {
    throw new UnauthorizedError(`the HTTP Basic credentials are wrong — ${BASIC_HINT}`);
  }
}

function toIso(timestamp: number | string): string {
  if (typeof timestamp === 'string') return new Date(timestamp).toISOString();
  return new Date(timestamp < SECONDS_BELOW ? timestamp * 1000 : timestamp).toISOString();
}

type PipedriveCrm = PipelineConfig['crm']['pipedrive'];

/** Option ids in `set` custom fields: webhooks v2 send `{type: 'set', values: [{id}, …]}`. */
const OptionList = z.array(z.looseObject({ id: z.union([z.number(), z.string()]) }));

/** An enum or set option id as the pipeline's `crm.pipedrive.options` names it; an unmapped id stays the id. */
function optionValue(key: string, id: unknown, crm: PipedriveCrm): unknown {
  const options = crm?.options && Object.hasOwn(crm.options, key) ? crm.options[key] : undefined;
  return options && Object.hasOwn(options, String(id)) ? options[String(id)] : id;
}

/**
 * One custom field as stored fields. Webhooks v2 wrap each as `{type, …}`: an `enum` carries its option `id`, a `set`
 * its `values` ids (both read through the option map), others a `value`. Sub-values beside it (a monetary field's
 * `currency`, a range's `until`) are kept as `<name>_<sub-value>`, as Pipedrive's API v1 named them.
 */
function customFieldValues(key: string, raw: unknown, crm: PipedriveCrm): Fields {
  const name = renameField(key, crm?.fields);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { [name]: raw };
  const { type, id, values, value, ...subValues } = raw as Record<string, unknown>;
  let main: unknown;
  if (type === 'enum' && id !== undefined) main = optionValue(key, id, crm);
  else if (type === 'set' && OptionList.safeParse(values).success) {
    main = OptionList.parse(values).map((option) => optionValue(key, option.id, crm));
  } else if ('value' in raw) main = value;
  else return { [name]: raw };
  return {
    [name]: main,
    ...Object.fromEntries(Object.entries(subValues).map(([sub, subValue]) => [`${name}_${sub}`, subValue])),
  };
}

/** The deal's stored fields from `data`, renamed through the pipeline's map, custom fields flattened. */
function fieldsOf(data: Record<string, unknown>, crm: PipedriveCrm): Fields {
  const custom = anyRecord.safeParse(data.custom_fields).data ?? {};
  return {
    ...Object.fromEntries(
      Object.entries(data)
        .filter(([name]) => !NOT_FIELDS.has(name))
        .map(([name, value]) => [renameField(name, crm?.fields), value]),
    ),
    ...Object.assign({}, ...Object.entries(custom).map(([key, raw]) => customFieldValues(key, raw, crm))),
  };
}

/** The stage key the deal is in per `data`: a mapped closed status first, else its mapped `stage_id`. */
function stageOf(data: DealData, crm: PipedriveCrm): string | undefined {
  const closed = data.status === 'won' || data.status === 'lost' ? crm?.status[data.status] : undefined;
  if (closed) return closed;
  if (data.stage_id === null || data.stage_id === undefined) return undefined;
  return mapStage('pipedrive', crm?.stages, String(data.stage_id));
}

/**
 * What a create or change says about the deal: `data` is the deal's whole state at `meta.timestamp`,
 * so its stage and every field count, whether or not `previous` names them. Pipedrive drops webhooks while an
 * account is rate-limited, and the next snapshot repairs what they carried; the core's per-field newest-wins rule
 * keeps an older snapshot from overwriting a newer value, and an older stage is `stale`.
 */
function describeDeal(data: DealData, config: PipelineConfig): Pick<StageEvent, 'stage' | 'dealName' | 'fields'> {
  const crm = config.crm.pipedrive;
  const described: Pick<StageEvent, 'stage' | 'dealName' | 'fields'> = {
    fields: fieldsOf(data, crm),
  };
  const stage = stageOf(data, crm);
  if (stage) described.stage = stage;
  if (data.title) described.dealName = data.title;
  return described;
}

/** `POST /webhooks/pipedrive[?pipeline=<id>]`: one Pipedrive webhooks v2 deal event. */
export const pipedriveAdapter: SourceAdapter = {
  source: 'pipedrive',
  contentTypes: ['application/json'],

  authenticate(req, ctx) {
    authenticate(req, configuredSecret(ctx.secrets.pipedriveBasicAuth, 'PIPEDRIVE_BASIC_AUTH'));
  },

  parse(req, ctx) {
    pipelineFromQuery(req, ctx);
    const json = parseJsonBody(req.rawBody, 'a Pipedrive webhooks v2 event');
    const { meta } = validateBody(z.looseObject({ meta: MetaSchema }), json, 'a Pipedrive webhooks v2 event');
    // Persons, organizations, activities…: answered 2xx with nothing recorded, or Pipedrive retries them.
    if (meta.entity !== 'deal') return [];
    const body = validateBody(DealBodySchema, json, 'a Pipedrive webhooks v2 deal event');
    const action = ACTIONS[meta.action];
    const dealId = String(meta.entity_id);
    const occurredAt = toIso(meta.timestamp);
    const event: StageEvent = {
      source: 'pipedrive',
      eventId: String(meta.id),
      pipeline: '',
      dealId,
      occurredAt,
      fields: {},
    };
    const origin = pipedriveOrigin(meta);
    if (origin) event.origin = origin;
    const host = companyDomain(meta.host);
    if (host) event.crm = { host };
    // A delete carries the deal as it was in `previous` (webhooks v2) or in `data` (v1).
    const deal = body.data ?? (action === 'delete' ? DealDataSchema.safeParse(body.previous).data : undefined);
    const crmPipeline =
      deal?.pipeline_id === null || deal?.pipeline_id === undefined ? {} : { crmPipeline: String(deal.pipeline_id) };
    if (action === 'delete') {
      const into = deal?.merged_to_id;
      if (into !== null && into !== undefined) return [pipedriveMerge(event, String(into))];
      return [parsedEvent(event, crmPipeline, () => ({ lifecycle: 'deleted' }))];
    }
    if (!body.data) {
      throw invalidEvent(`a '${meta.action}' event must carry the deal in 'data' — send the full webhooks v2 body`, [
        { path: 'data', message: 'expected the deal object' },
      ]);
    }
    const data = body.data;
    return [parsedEvent(event, crmPipeline, (config) => describeDeal(data, config))];
  },

  respond: acceptedEvent,

  respondError(error) {
    const response = jsonError(error);
    if (error.status !== 401) return response;
    return { ...response, headers: { ...response.headers, 'www-authenticate': 'Basic realm="stageflow"' } };
  },
};

/** A deal event, routed by the deal's `pipeline_id`; `describe` reads it under the config of its pipeline. */
function parsedEvent(
  event: StageEvent,
  route: ParsedEvent['route'],
  describe: (config: PipelineConfig) => Partial<StageEvent>,
): ParsedEvent {
  return {
    kind: 'event',
    eventId: event.eventId,
    dealId: event.dealId,
    occurredAt: event.occurredAt,
    route,
    toStageEvent: (pipeline, config) => ({ ...event, ...describe(config), pipeline }),
  };
}

/** Pipedrive sends a merge as the delete of the merged deal, naming the deal it was merged into (which goes on). */
function pipedriveMerge(event: StageEvent, into: string): ParsedMerge {
  return {
    kind: 'merge',
    source: 'pipedrive',
    eventId: event.eventId,
    occurredAt: event.occurredAt,
    primary: into,
    merged: [event.dealId],
    survivor: into,
  };
}

/** The company's Pipedrive domain a webhook names in `meta.host` (`acme.pipedrive.com`); anything else is ignored. */
function companyDomain(host: unknown): string | undefined {
  if (typeof host !== 'string') return undefined;
  const domain = host.toLowerCase();
  return /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.pipedrive\.com$/.test(domain) ? domain : undefined;
}

/** Pipedrive's marker of who made the change: `meta.change_source` (`app` or `api`) and the acting `meta.user_id`. */
function pipedriveOrigin(meta: Record<string, unknown>): string | undefined {
  const changeSource = typeof meta.change_source === 'string' ? meta.change_source.slice(0, 32) : undefined;
  const userId = typeof meta.user_id === 'number' || typeof meta.user_id === 'string' ? String(meta.user_id) : '';
  if (!changeSource) return undefined;
  return userId ? `${changeSource}:${userId.slice(0, 64)}` : changeSource;
}
